"""Optimistic concurrency: a writer names the versions of a resource it is willing to change.

Every change of a directory record or a group raises its ``version``. A writer
that read one (SCIM's If-Match, RFC 7644 §3.14) passes what it read as
``expected``; the domain compares it under the account lock, after which no
other writer can raise the version, so two writers that read the same version
cannot both win.
"""

from __future__ import annotations

from .errors import PreconditionFailedError

Expected = frozenset[int] | None
"""The versions the writer accepts; None: any (no precondition). An empty set matches nothing."""

CHANGED = "The resource changed since you read it (If-Match does not match its ETag): read it again."


def require(current: int, expected: Expected) -> None:
    """Refuse with PreconditionFailedError when the resource's ``current`` version is not one ``expected``."""
    if expected is not None and current not in expected:
        raise PreconditionFailedError(CHANGED)
