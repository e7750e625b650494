"""A PATCH that only sets ``active`` skips the PatchOp model and changes exactly what scim2-models would."""

from __future__ import annotations

from typing import Any

import pytest

from models import directory
from scim_server import patch
from scim_server.mapping import from_user_model, to_scim_user
from scim_server.storage import _set_active

from .scim_support import USER_SCHEMA, tenant
from .test_user_documents import SHAPES

PATCH_OP = patch.PATCH_OP


@pytest.fixture
def scim(client, database, account, admin):
    return tenant(client, account)


@pytest.mark.parametrize(("body", "expected"), [
    ({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": False}]}, False),
    ({"schemas": [PATCH_OP], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]}, False),
    ({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": False}}]}, False),
    ({"schemas": [PATCH_OP], "Operations": [{"op": "REPLACE", "path": "Active", "value": "true"}]}, True),
    ({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": False},
                                            {"op": "replace", "path": "active", "value": True}]}, True),
])
def test_the_shapes_okta_and_entra_deactivate_with_take_the_short_way(body, expected):
    assert patch.only_active(body) is expected


@pytest.mark.parametrize("body", [
    {"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "active", "value": False}]},
    {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": "no"}]},
    {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": 0}]},
    {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": None}]},
    {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"active": False, "title": "x"}}]},
    {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": False},
                                           {"op": "replace", "path": "title", "value": "x"}]},
    {"schemas": [PATCH_OP], "Operations": []},
    {"schemas": ["urn:other"], "Operations": [{"op": "replace", "path": "active", "value": False}]},
    {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": False}], "extra": 1},
    {"Operations": [{"op": "replace", "path": "active", "value": False}]},
    {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": False, "x": 1}]},
    [],
])
def test_anything_else_goes_through_patch_op(body):
    assert patch.only_active(body) is None


def _slow(record: Any, membership: Any, active: bool) -> Any:
    body = {"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": active}]}
    user = to_scim_user(record, membership, "http://roster.test/scim/v2/Users/" + record.id)
    return from_user_model(user) if patch.apply(patch.parse(body), user) else None


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: str(s["userName"]))
@pytest.mark.parametrize("active", [False, True])
def test_the_short_way_changes_what_patch_op_changes(scim, shape, active):
    created = scim.post("/Users", {"schemas": [USER_SCHEMA], **shape}).get_json()
    for _ in range(2):  # as created, then after a first change
        record = directory.load_record(created["id"])
        membership = directory.membership_of(record)
        fast, slow = _set_active(active)(record, membership), _slow(record, membership, active)
        if slow is None:
            assert fast is None
        else:
            assert fast is not None
            assert directory._clean(fast[0], fast[1]) == directory._clean(slow[0], slow[1])
            assert (fast[2], fast[3]) == (slow[2], slow[3])
        response = scim.client.patch(f"/scim/v2/Users/{created['id']}", headers=scim.headers, json={
            "schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": not active}]})
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["active"] is (not active)
