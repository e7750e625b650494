"""The one ScimPolicy every SCIM payload is validated and applied under (DESIGN.md §3).

What Okta and Entra ID send: a ``remove`` with a value removes that value,
unknown attributes are ignored, and a path filter that matches nothing
(``emails[type eq "work"].value``) creates the item it describes.
"""

from __future__ import annotations

from scim2_models import ScimPolicy

TOLERANT = ScimPolicy(remove_value_as_filter=ScimPolicy.RemoveValue.apply, unknown=ScimPolicy.Unknown.ignore,
                      unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create)
