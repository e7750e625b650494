"""A Microsoft Entra ID provisioning cycle for users, request by request, as Microsoft documents it.

From "Develop and plan provisioning for a SCIM endpoint" (user operations)
and "Known issues … SCIM 2.0 protocol compliance" (the shapes sent with and
without the ``aadOptscim062020`` flag): lookup by userName, creation with the
enterprise schema, ``meta`` and ``roles: []``, PATCH with ``Replace``/``Add``,
``"False"`` strings, ``emails[type eq "work"].value`` (also as a key of a
path-less value), the enterprise ``manager`` as a bare id, disable, delete.
"""

from __future__ import annotations

from typing import Any

import pytest
from peewee import fn

from models import Invitation, Membership, OutboxMessage, User, members

from .scim_support import USER_SCHEMA, tenant

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@pytest.fixture
def entra(client, database, account, admin):
    return tenant(client, account)


def send(scim: Any, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
    # Entra sends application/scim+json
    return scim.client.open("/scim/v2" + path, method=method, json=body, query_string=query or {},
                            headers={**scim.headers, "Content-Type": "application/scim+json"})


def patch(scim: Any, record_id: str, *operations: dict[str, Any]) -> Any:
    response = send(scim, "PATCH", f"/Users/{record_id}", {"schemas": [PATCH_OP], "Operations": list(operations)})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def lookup(scim: Any, filter_: str) -> dict[str, Any]:
    response = send(scim, "GET", "/Users", query={"filter": filter_})
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


def entra_user(user_name: str, email: str, external_id: str, given: str, family: str) -> dict[str, Any]:
    return {
        "schemas": [USER_SCHEMA, ENTERPRISE],
        "externalId": external_id,
        "userName": user_name,
        "active": True,
        "emails": [{"primary": True, "type": "work", "value": email}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": f"{given} {family}", "familyName": family, "givenName": given},
        "roles": [],
    }


def create(scim: Any, body: dict[str, Any]) -> dict[str, Any]:
    assert lookup(scim, f'userName eq "{body["userName"]}"')["totalResults"] == 0
    response = send(scim, "POST", "/Users", body)
    assert response.status_code == 201, response.get_json()
    created: dict[str, Any] = response.get_json()
    return created


def test_entra_cycle(entra):
    user_name = "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1"
    email = "Test_User_fd0ea19b-0777-472c-9f96-4f70d2226f2e@testuser.com"

    # 1–2. Lookup (0 results, not 404), then create: userName is not an email, so the work email links
    miss = lookup(entra, f'userName eq "{user_name}"')
    assert miss == {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"], "totalResults": 0,
                    "startIndex": 1, "itemsPerPage": 0, "Resources": []}
    created = create(entra, entra_user(user_name, email, "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef", "givenName",
                                       "familyName"))
    record_id = created["id"]
    assert created["userName"] == user_name and created["active"] is True
    assert created["name"]["formatted"] == "givenName familyName"
    person = User.get(User.email_key == email.lower())
    membership = Membership.get((Membership.user == person.id) & (Membership.account == entra.account.id))
    assert membership.status == "invited" and Invitation.get(Invitation.membership == membership.id).status == "pending"
    assert OutboxMessage.select().where(fn.LOWER(OutboxMessage.recipient) == email.lower()).count() == 1

    # 3. Read back, by id and by the filter Entra uses
    assert send(entra, "GET", f"/Users/{record_id}").get_json() == created
    assert [r["id"] for r in lookup(entra, f'userName eq "{user_name}"')["Resources"]] == [record_id]

    # 4. Update multi-valued and single-valued attributes (documented request bodies)
    body = patch(entra, record_id,
                 {"op": "Replace", "path": 'emails[type eq "work"].value', "value": "updatedEmail@testuser.com"},
                 {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"})
    assert body["emails"] == [{"primary": True, "type": "work", "value": "updatedEmail@testuser.com"}]
    assert body["name"]["familyName"] == "updatedFamilyName"
    body = patch(entra, record_id, {"op": "Replace", "path": "userName",
                                    "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"})
    assert body["userName"] == "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"
    # R4: the person keeps their login email, no new person, no new invitation
    assert User.get_by_id(person.id).email_key == email.lower()
    assert not User.select().where(User.email_key.contains("updatedemail")).exists()
    assert Invitation.select().count() == 1

    # 5. Enterprise attributes, and the manager as a bare id of another provisioned user
    manager = create(entra, entra_user("Manager_1", "manager.one@testuser.com", "mgr-ext", "Manny", "Ager"))
    body = patch(entra, record_id,
                 {"op": "Add", "path": f"{ENTERPRISE}:department", "value": "Sales"},
                 {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": manager["id"]})
    assert body[ENTERPRISE] == {"department": "Sales", "manager": {"value": manager["id"]}}
    assert patch(entra, record_id, {"op": "Remove", "path": f"{ENTERPRISE}:manager"})[ENTERPRISE] == {
        "department": "Sales"}

    # 6. With aadOptscim062020 the same changes arrive as one path-less replace
    body = patch(entra, record_id, {"op": "replace", "value": {
        "displayName": "Pvlo", 'emails[type eq "work"].value': "TestBcwqnm@testuser.com", "name.givenName": "Gtfd",
        "name.familyName": "Pkqf", "externalId": "Eqpj", f"{ENTERPRISE}:employeeNumber": "Eqpj"}})
    assert body["displayName"] == "Pvlo" and body["externalId"] == "Eqpj"
    assert body["emails"][0]["value"] == "TestBcwqnm@testuser.com" and len(body["emails"]) == 1
    assert body["name"]["givenName"] == "Gtfd" and body[ENTERPRISE]["employeeNumber"] == "Eqpj"

    # 7. Disable: "False" as a string (without the flag), and as a boolean (with it)
    assert patch(entra, record_id, {"op": "Replace", "path": "active", "value": "False"})["active"] is False
    assert Membership.get_by_id(membership.id).status == "deactivated"
    assert lookup(entra, f'userName eq "{body["userName"]}"')["Resources"][0]["active"] is False
    assert patch(entra, record_id, {"op": "Replace", "path": "active", "value": "True"})["active"] is True
    assert Membership.get_by_id(membership.id).status == "invited"
    assert patch(entra, record_id, {"op": "replace", "path": "active", "value": False})["active"] is False

    # 8. Delete (soft-deleted in Entra, then hard-deleted after 30 days): the membership goes (R6)
    assert send(entra, "DELETE", f"/Users/{record_id}").status_code == 204
    assert send(entra, "GET", f"/Users/{record_id}").status_code == 404
    assert Membership.get_or_none(Membership.id == membership.id) is None
    assert send(entra, "DELETE", f"/Users/{record_id}").status_code == 404


def test_entra_manager_under_the_bare_path_with_an_array(entra):
    report = create(entra, entra_user("report@testuser.com", "report@testuser.com", "r1", "Rep", "Ort"))
    body = patch(entra, report["id"], {"op": "Add", "path": "manager", "value": [{"value": "mgr-42"}]})
    assert body[ENTERPRISE]["manager"] == {"value": "mgr-42"}


def test_entra_validator_disable_then_filter_shows_active_false(entra):
    # the Entra SCIM validator's "Patch User - Disable User" reads the user back through a filter
    created = create(entra, entra_user("dale.mohr@testuser.com", "dale.mohr@testuser.com",
                                       "9950b140-90a0-4201-9d65-b5f209fb4cd0", "Sandy", "Nia"))
    patch(entra, created["id"], {"op": "Replace", "path": "active", "value": False})
    found = lookup(entra, 'userName eq "dale.mohr@testuser.com"')
    assert found["totalResults"] == 1 and found["Resources"][0]["active"] is False
    assert members.get_membership(entra.account, "dale.mohr@testuser.com").status == "deactivated"
