"""The users and the group conformance/bench_scim.py creates, the same on every server (no server imported here)."""

from __future__ import annotations

import uuid
from typing import Any

NAMESPACE = uuid.UUID("6f1c1d2e-4b1a-4c55-9a43-0c3f1d3b9e01")
GROUP_ID = uuid.uuid5(NAMESPACE, "bench-group").hex


def user_name(index: int) -> str:
    return f"user{index:06d}@bench.example"


def user_id(index: int) -> str:
    """The id every worker gives the seeded user ``index``."""
    return uuid.uuid5(NAMESPACE, user_name(index)).hex


def user_document(index: int) -> dict[str, Any]:
    """The User the benchmark POSTs and seeds; the padded index is in every value that varies."""
    name = user_name(index)
    return {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": name,
        "externalId": f"ext-{index:06d}",
        "name": {"givenName": f"Given{index:06d}", "familyName": f"Family{index:06d}"},
        "displayName": f"Given{index:06d} Family{index:06d}",
        "emails": [{"value": name, "type": "work", "primary": True}],
        "active": True,
    }
