"""An Okta provisioning cycle for one user, request by request, as Okta's SCIM 2.0 reference documents it.

Okta looks the user up by userName (startIndex/count on every list), creates
it with ``password`` and ``groups: []``, reads it back, sends profile updates
as a PUT of the whole user (``id``, ``groups`` and ``meta`` included), and
deactivates/reactivates with a path-less PATCH ``{"active": false}``. Okta
itself never deletes users; the cycle ends with the DELETE an admin-side
cleanup sends, so the whole lifecycle is covered. Okta's examples use
``@okta.local``, a reserved name no email validator accepts: ``@example.com`` here.
"""

from __future__ import annotations

from typing import Any

import pytest

from models import AuditEvent, Invitation, Membership, OutboxMessage, User, accounts, members

from .scim_support import USER_SCHEMA, tenant

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


@pytest.fixture
def okta(client, database, account, admin):
    return tenant(client, account)


def okta_headers(scim: Any) -> dict[str, str]:
    # Okta sends application/scim+json with a charset and asks for the same
    return {**scim.headers, "Accept": "application/scim+json",
            "Content-Type": "application/scim+json; charset=utf-8"}


def send(scim: Any, method: str, path: str, body: Any = None, query: dict[str, Any] | None = None) -> Any:
    return scim.client.open("/scim/v2" + path, method=method, json=body, query_string=query or {},
                            headers=okta_headers(scim))


def lookup(scim: Any, user_name: str) -> dict[str, Any]:
    response = send(scim, "GET", "/Users", query={"filter": f'userName eq "{user_name}"', "startIndex": 1,
                                                  "count": 100})
    assert response.status_code == 200 and response.mimetype == "application/scim+json"
    body: dict[str, Any] = response.get_json()
    assert body["schemas"] == [LIST]
    return body


def okta_user(user_name: str, given: str, family: str, **extra: Any) -> dict[str, Any]:
    return {"schemas": [USER_SCHEMA], "userName": user_name, "name": {"givenName": given, "familyName": family},
            "emails": [{"primary": True, "value": user_name, "type": "work"}], "displayName": f"{given} {family}",
            "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7", "groups": [], "active": True, **extra}


def test_okta_cycle_for_a_new_person(okta):
    # 1. Is the user already there?  Okta expects an empty list, not a 404.
    miss = lookup(okta, "test.user@example.com")
    assert miss["totalResults"] == 0 and miss["Resources"] == []

    # 2. Create, with Okta's generated password and an empty groups array
    created = send(okta, "POST", "/Users", okta_user("test.user@example.com", "Test", "User", password="1mz050nq-Okta"))
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    record_id = body["id"]
    assert body["userName"] == "test.user@example.com" and body["active"] is True
    assert body["externalId"] == "00ujl29u0le5T6Aj10h7" and "password" not in body and "groups" not in body
    assert created.headers["Location"].endswith(f"/Users/{record_id}")
    person = User.get(User.email_key == "test.user@example.com")
    membership = Membership.get((Membership.user == person.id) & (Membership.account == okta.account.id))
    assert person.status == "pending" and membership.status == "invited" and membership.created_via == "scim"
    assert Invitation.get(Invitation.membership == membership.id).status == "pending"
    assert OutboxMessage.select().where(OutboxMessage.recipient == "test.user@example.com").count() == 1
    assert person.password_hash is not None  # the initial password, for a person without one

    # 3. The next lookup finds it; GET by id returns the same resource
    assert [r["id"] for r in lookup(okta, "test.user@example.com")["Resources"]] == [record_id]
    fetched = send(okta, "GET", f"/Users/{record_id}")
    assert fetched.status_code == 200 and fetched.get_json() == body

    # 4. Profile update: a PUT of the whole user, echoing id, groups and meta
    update = okta_user("test.user@example.com", "Another", "User", id=record_id,
                       meta={"resourceType": "User"})
    replaced = send(okta, "PUT", f"/Users/{record_id}", update)
    assert replaced.status_code == 200, replaced.get_json()
    assert replaced.get_json()["name"] == {"givenName": "Another", "familyName": "User"}
    assert replaced.get_json()["displayName"] == "Another User" and replaced.get_json()["meta"]["version"] == 'W/"2"'

    # 5. Password sync: a path-less replace; only ever an initial password
    own = User.get_by_id(person.id).password_hash
    synced = send(okta, "PATCH", f"/Users/{record_id}", {"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "value": {"password": "t1meMa$heen-Okta"}}]})
    assert synced.status_code == 200 and "password" not in synced.get_json()
    assert User.get_by_id(person.id).password_hash == own

    # 6. Unassigning the app deactivates (R6, R11)
    deactivated = send(okta, "PATCH", f"/Users/{record_id}", {"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "value": {"active": False}}]})
    assert deactivated.status_code == 200 and deactivated.get_json()["active"] is False
    assert Membership.get_by_id(membership.id).status == "deactivated"
    assert AuditEvent.select().where((AuditEvent.action == "membership.deactivated")
                                     & (AuditEvent.actor_type == "scim_token")).count() == 1
    assert lookup(okta, "test.user@example.com")["Resources"][0]["active"] is False

    # 7. Reassigning reactivates; a person who never registered is invited again
    reactivated = send(okta, "PATCH", f"/Users/{record_id}", {"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "value": {"active": True}}]})
    assert reactivated.status_code == 200 and reactivated.get_json()["active"] is True
    assert Membership.get_by_id(membership.id).status == "invited"

    # 8. Delete removes the membership (R6)
    assert send(okta, "DELETE", f"/Users/{record_id}").status_code == 204
    assert send(okta, "GET", f"/Users/{record_id}").status_code == 404
    assert Membership.get_or_none(Membership.id == membership.id) is None
    assert lookup(okta, "test.user@example.com")["totalResults"] == 0


def test_okta_cycle_for_someone_roster_already_knows(okta, cli_actor, database, deployment):
    elsewhere = accounts.create_account("Partner Co", "distributor", by=cli_actor)
    members.add_user(elsewhere, "known@example.com", password="correct horse battery staple", by=cli_actor,
                     deployment=deployment)
    own = User.get(User.email_key == "known@example.com").password_hash

    assert lookup(okta, "known@example.com")["totalResults"] == 0
    created = send(okta, "POST", "/Users", okta_user("known@example.com", "Known", "Person", password="okta-pw-123456"))
    assert created.status_code == 201
    # R2: the membership is active at once, with no invitation and no new password
    membership = members.get_membership(okta.account, "known@example.com")
    assert membership.status == "active"
    assert not Invitation.select().where(Invitation.email_key == "known@example.com").exists()
    assert User.get(User.email_key == "known@example.com").password_hash == own

    record_id = created.get_json()["id"]
    deactivated = send(okta, "PATCH", f"/Users/{record_id}", {"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "value": {"active": False}}]})
    assert deactivated.get_json()["active"] is False
    assert members.get_membership(okta.account, "known@example.com").status == "deactivated"
    assert members.get_membership(elsewhere, "known@example.com").status == "active"  # R6: other accounts untouched


def test_okta_deactivating_the_last_admin_is_refused(okta):
    created = send(okta, "POST", "/Users", okta_user("admin@acme.example", "Ada", "Admin"))
    assert created.status_code == 201
    refused = send(okta, "PATCH", f"/Users/{created.get_json()['id']}", {"schemas": [PATCH_OP], "Operations": [
        {"op": "replace", "value": {"active": False}}]})
    assert refused.status_code == 409 and "admin" in refused.get_json()["detail"]
    assert members.get_membership(okta.account, "admin@acme.example").status == "active"
