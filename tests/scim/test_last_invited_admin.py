"""R1 through SCIM for an account as `roster init` leaves it: its only admin is invited, and stays.

The directory may list that admin (the record links to the invited
membership); PATCH, PUT, DELETE and /Bulk must not deactivate or remove them.
"""

from __future__ import annotations

from typing import Any

import pytest

from models import Actor, Invitation, Membership, invitations, members

from .scim_support import tenant, user

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
BULK_REQUEST = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
ADMIN = "boss@acme.example"


@pytest.fixture
def scim(client, database, account, deployment):
    invitations.invite(account, ADMIN, role="admin", by=Actor.cli("tests"), via="cli", deployment=deployment)
    return tenant(client, account)


@pytest.fixture
def record(scim) -> dict[str, Any]:
    created = scim.create(ADMIN, name={"givenName": "Bo", "familyName": "Ss"})
    assert created["active"] is True
    assert _admin().status == "invited"  # linked to the invited membership, not a new one
    return created


def _admin() -> Membership:
    return Membership.get(Membership.role == "admin")


def _unchanged(scim, record) -> None:
    membership = _admin()
    assert (membership.status, membership.role) == ("invited", "admin")
    assert Invitation.get(Invitation.membership == membership.id).status == "pending"
    again = scim.get(f"/Users/{record['id']}").get_json()
    assert again["active"] is True and again["meta"]["version"] == record["meta"]["version"]


def _refused(response) -> None:
    assert response.status_code == 409, response.get_json()
    body = response.get_json()
    assert body["status"] == "409" and "active or invited admin" in body["detail"]
    assert response.mimetype == "application/scim+json"


@pytest.mark.parametrize("body", [
    {"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "active", "value": False}]},
    {"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "value": {"active": False}}]},
    {"schemas": [PATCH_SCHEMA], "Operations": [{"op": "replace", "path": "active", "value": "False"}]},
])
def test_patch_active_false_is_refused(scim, record, body):
    _refused(scim.client.patch(f"/scim/v2/Users/{record['id']}", json=body, headers=scim.headers))
    _unchanged(scim, record)


def test_put_active_false_is_refused(scim, record):
    _refused(scim.put(f"/Users/{record['id']}", user(ADMIN, active=False)))
    _unchanged(scim, record)


def test_delete_is_refused(scim, record):
    _refused(scim.delete(f"/Users/{record['id']}"))
    _unchanged(scim, record)


def test_bulk_refuses_each_operation_and_applies_the_rest(scim, record):
    path = f"/Users/{record['id']}"
    operations = [
        {"method": "PATCH", "path": path, "data": {"schemas": [PATCH_SCHEMA], "Operations": [
            {"op": "replace", "path": "active", "value": False}]}},
        {"method": "PUT", "path": path, "data": user(ADMIN, active=False)},
        {"method": "DELETE", "path": path},
        {"method": "POST", "path": "/Users", "bulkId": "n", "data": user("new.person@acme.example")},
    ]
    response = scim.client.post("/scim/v2/Bulk", headers=scim.headers,
                                json={"schemas": [BULK_REQUEST], "Operations": operations})
    assert response.status_code == 200, response.get_json()
    ops = response.get_json()["Operations"]
    assert [o["status"] for o in ops] == ["409", "409", "409", "201"]
    assert all("active or invited admin" in o["response"]["detail"] for o in ops[:3])
    _unchanged(scim, record)


def test_once_another_admin_is_invited_the_directory_may_remove_the_first(scim, record, deployment):
    invitations.invite(scim.account, "deputy@acme.example", role="admin", by=Actor.cli("tests"),
                       deployment=deployment)
    assert scim.delete(f"/Users/{record['id']}").status_code == 204
    with pytest.raises(Exception, match="not a member"):
        members.get_membership(scim.account, ADMIN)
