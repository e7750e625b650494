"""The SCIM schema URNs (RFC 7643 §3, §8.7; RFC 7644 §3.5.2), spelled in this one place.

A directory record's attributes are stored as a SCIM client sent them, so the
domain knows the extension URNs they are keyed by (models.directory_index
indexes the Enterprise User's); the SCIM service names the same ones.
"""

from __future__ import annotations

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
CORE_GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
ROSTER_USER = "urn:roster:params:scim:schemas:extension:roster:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
