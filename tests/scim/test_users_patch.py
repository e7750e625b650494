"""PATCH /Users/<id> (RFC 7644 §3.5.2) through the real app on SQLite and PostgreSQL: dialects, R1, R4, R6, errors."""

from __future__ import annotations

from typing import Any

import pytest

from models import AuditEvent, Invitation, Membership, User, accounts, members
from models.tenancy import DirectoryRecord

from .scim_support import USER_SCHEMA, other_tenant, tenant

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@pytest.fixture
def scim(client, database, account, admin):
    return tenant(client, account)


def patch(scim: Any, record_id: str, *operations: dict[str, Any], query: dict[str, str] | None = None,
          headers: dict[str, str] | None = None) -> Any:
    body = {"schemas": [PATCH_OP], "Operations": list(operations)}
    return scim.client.patch(f"/scim/v2/Users/{record_id}", json=body, query_string=query or {},
                             headers={**scim.headers, **(headers or {})})


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/scim+json"
    body: dict[str, Any] = response.get_json()
    if "meta" in body:
        assert response.headers["ETag"] == body["meta"]["version"]
    return body


def refused(response: Any, status: int, scim_type: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/scim+json"
    body: dict[str, Any] = response.get_json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"] and body["status"] == str(status)
    assert body.get("scimType") == scim_type and body["detail"]
    return body


def test_replace_with_a_path_answers_200_with_the_resource_and_a_new_version(scim):
    created = scim.create("bjensen@example.com", name={"givenName": "Barbara", "familyName": "Jensen"})
    body = ok(patch(scim, created["id"], {"op": "replace", "path": "name.givenName", "value": "Babs"},
                    {"op": "add", "path": "title", "value": "Tour Guide"}))
    assert body["name"] == {"givenName": "Babs", "familyName": "Jensen"} and body["title"] == "Tour Guide"
    assert body["meta"]["version"] == 'W/"2"' and body["id"] == created["id"]
    assert scim.get(f"/Users/{created['id']}").get_json() == body
    assert AuditEvent.get(AuditEvent.action == "directory_record.patched").actor_type == "scim_token"


def test_capitalised_ops_string_booleans_and_pathless_values(scim):
    created = scim.create("p@example.com")
    body = ok(patch(scim, created["id"], {"op": "Replace", "path": "active", "value": "False"}))
    assert body["active"] is False
    body = ok(patch(scim, created["id"], {"op": "Replace", "value": {"active": "True", "name.familyName": "Q",
                                                                    f"{ENTERPRISE}:department": "Sales"}}))
    assert body["active"] is True and body["name"] == {"familyName": "Q"}
    assert body[ENTERPRISE] == {"department": "Sales"}
    body = ok(patch(scim, created["id"], {"op": "Add", "value": {"nickName": "Pee", "displayName": "P. Q."}}))
    assert body["nickName"] == "Pee" and body["displayName"] == "P. Q."
    body = ok(patch(scim, created["id"], {"op": "Remove", "path": "nickName"}))
    assert "nickName" not in body


def test_active_false_deactivates_and_true_reactivates_r6(scim, cli_actor, database, deployment):
    other = accounts.create_account("Keeps", "provider", by=cli_actor)
    members.add_user(other, "d@example.com", password="correct horse battery staple", by=cli_actor,
                     deployment=deployment)
    created = scim.create("d@example.com")
    assert ok(patch(scim, created["id"], {"op": "replace", "value": {"active": False}}))["active"] is False
    assert members.get_membership(scim.account, "d@example.com").status == "deactivated"
    assert members.get_membership(other, "d@example.com").status == "active"
    assert AuditEvent.select().where(AuditEvent.action == "membership.deactivated").count() == 1
    assert ok(patch(scim, created["id"], {"op": "replace", "path": "active", "value": True}))["active"] is True
    assert members.get_membership(scim.account, "d@example.com").status == "active"


def test_a_never_registered_person_goes_back_to_invited(scim):
    created = scim.create("invitee@example.com")
    ok(patch(scim, created["id"], {"op": "replace", "path": "active", "value": False}))
    ok(patch(scim, created["id"], {"op": "replace", "path": "active", "value": True}))
    assert members.get_membership(scim.account, "invitee@example.com").status == "invited"


def test_deactivating_the_last_admin_is_refused_409_and_nothing_changes_r1(scim):
    record = scim.create("admin@acme.example", title="Boss")
    response = patch(scim, record["id"], {"op": "replace", "path": "title", "value": "Ex-boss"},
                     {"op": "replace", "path": "active", "value": False})
    assert "admin" in refused(response, 409)["detail"]
    after = scim.get(f"/Users/{record['id']}").get_json()
    assert after == record and after["meta"]["version"] == 'W/"1"'
    assert members.get_membership(scim.account, "admin@acme.example").status == "active"


def test_user_name_and_email_changes_never_change_the_login_email_r4(scim):
    created = scim.create("person@example.com", emails=[{"value": "person@example.com", "type": "work"}])
    body = ok(patch(scim, created["id"], {"op": "replace", "path": "userName", "value": "renamed@example.com"},
                    {"op": "replace", "path": 'emails[type eq "work"].value', "value": "renamed@example.com"}))
    assert body["userName"] == "renamed@example.com"
    assert body["emails"] == [{"value": "renamed@example.com", "type": "work"}]
    assert User.select().where(User.email_key == "person@example.com").exists()
    assert not User.select().where(User.email_key == "renamed@example.com").exists()
    assert members.get_membership(scim.account, "person@example.com").status == "invited"


def test_work_email_is_created_when_missing(scim):
    created = scim.create("emp9", emails=[{"value": "home@example.com", "type": "home"}])
    body = ok(patch(scim, created["id"], {"op": "Add", "path": 'emails[type eq "work"].value',
                                          "value": "work@example.com"}))
    assert {"value": "work@example.com", "type": "work"} in body["emails"] and len(body["emails"]) == 2


def test_a_filtered_key_in_a_pathless_value_is_applied_not_dropped(scim):
    created = scim.create("emp10")
    body = ok(patch(scim, created["id"], {"op": "replace", "value": {
        "displayName": "Pvlo", 'emails[type eq "work"].value': "pvlo@example.com", "name.givenName": "Gtfd",
        "externalId": "Eqpj", f"{ENTERPRISE}:employeeNumber": "Eqpj"}}))
    assert body["displayName"] == "Pvlo" and body["emails"] == [{"value": "pvlo@example.com", "type": "work"}]
    assert body["externalId"] == "Eqpj" and body[ENTERPRISE] == {"employeeNumber": "Eqpj"}


@pytest.mark.parametrize("operation", [
    {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": "mgr-1"},
    {"op": "Replace", "path": f"{ENTERPRISE}:manager", "value": {"value": "mgr-1"}},
    {"op": "Add", "path": "manager", "value": [{"value": "mgr-1"}]},
    {"op": "Replace", "value": {f"{ENTERPRISE}:manager": "mgr-1"}},
    {"op": "replace", "value": {ENTERPRISE: {"manager": "mgr-1"}}},
])
def test_manager_as_a_string_an_object_or_an_array(scim, operation):
    created = scim.create("report")
    body = ok(patch(scim, created["id"], operation))
    assert body[ENTERPRISE]["manager"]["value"] == "mgr-1"
    body = ok(patch(scim, created["id"], {"op": "Remove", "path": f"{ENTERPRISE}:manager"}))
    assert "manager" not in body.get(ENTERPRISE, {})


def test_echoed_id_and_read_only_attributes_are_ignored(scim):
    created = scim.create("okta@example.com")
    body = ok(patch(scim, created["id"], {"op": "replace", "value": {
        "id": created["id"], "groups": [], "meta": {"resourceType": "User"}, "title": "T",
        "schemas": [USER_SCHEMA]}}))
    assert body["title"] == "T" and body["id"] == created["id"] and "groups" not in body


def test_a_patch_that_changes_nothing_keeps_the_version(scim):
    created = scim.create("same@example.com", title="T")
    body = ok(patch(scim, created["id"], {"op": "replace", "path": "title", "value": "T"}))
    assert body["meta"]["version"] == created["meta"]["version"]


def test_unknown_attributes_are_ignored_as_entra_and_okta_expect(scim):
    created = scim.create("u@example.com")
    body = ok(patch(scim, created["id"], {"op": "replace", "path": "bogus", "value": "x"},
                    {"op": "replace", "value": {"alsoBogus": 1, "title": "kept"}}))
    assert body["title"] == "kept" and "bogus" not in body and "alsoBogus" not in body


def test_password_is_only_an_initial_password(scim, cli_actor, database):
    created = scim.create("fresh@example.com")
    ok(patch(scim, created["id"], {"op": "replace", "path": "password", "value": "Tr0ub4dor&3-horse-staple"}))
    user_row = User.get(User.email_key == "fresh@example.com")
    assert user_row.password_hash is not None
    own = user_row.password_hash
    body = ok(patch(scim, created["id"], {"op": "replace", "value": {"password": "another-long-passphrase-42"}}))
    assert "password" not in body
    assert User.get(User.email_key == "fresh@example.com").password_hash == own


def test_attributes_and_excluded_attributes_shape_the_answer(scim):
    created = scim.create("shape@example.com", title="T")
    body = ok(patch(scim, created["id"], {"op": "replace", "path": "title", "value": "U"},
                    query={"attributes": "title"}))
    assert body["title"] == "U" and "userName" not in body and body["id"] == created["id"]
    body = ok(patch(scim, created["id"], {"op": "replace", "path": "title", "value": "V"},
                    query={"excludedAttributes": "title"}))
    assert "title" not in body and body["userName"] == "shape@example.com"


def test_an_unlinked_record_links_when_a_patch_gives_it_an_email(scim):
    created = scim.create("emp11")
    body = ok(patch(scim, created["id"], {"op": "add", "path": "emails",
                                          "value": [{"value": "emp11@example.com", "primary": True}]}))
    assert "urn:roster:params:scim:schemas:extension:roster:2.0:User" not in body
    membership = members.get_membership(scim.account, "emp11@example.com")
    assert membership.status == "invited"
    assert Invitation.select().where(Invitation.membership == membership.id).count() == 1


@pytest.mark.parametrize(("operations", "scim_type"), [
    ([{"op": "frobnicate", "path": "title", "value": "x"}], "invalidValue"),
    ([{"op": "replace", "path": "id", "value": "other"}], "mutability"),
    ([{"op": "replace", "path": "meta", "value": {}}], "mutability"),
    ([{"op": "replace", "value": {"id": "other"}}], "mutability"),
    ([{"op": "remove", "path": "userName"}], "mutability"),
    ([{"op": "replace", "path": "title ][", "value": "x"}], "invalidPath"),
    ([{"op": "remove"}], "noTarget"),
    ([{"op": "replace", "path": "active", "value": "maybe"}], "invalidValue"),
    ([{"op": "replace", "path": "userName", "value": 42}], "invalidValue"),
    ([{"op": "replace", "path": "userName", "value": "  "}], "invalidValue"),
    ([{"op": "replace", "path": "title", "value": "half"}, {"op": "replace", "path": "id", "value": "x"}],
     "mutability"),
    ([], "invalidValue"),
    (["not an object"], "invalidValue"),
])
def test_invalid_operations_are_400_and_nothing_is_half_applied(scim, operations, scim_type):
    created = scim.create("err@example.com", title="T")
    refused(patch(scim, created["id"], *operations), 400, scim_type)
    assert scim.get(f"/Users/{created['id']}").get_json() == created


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'"x"', b'{"schemas": ["x"]}',
                                  b'{"Operations": {"op": "add"}}'])
def test_malformed_bodies_are_400_never_500(scim, body):
    created = scim.create("m@example.com")
    response = scim.client.patch(f"/scim/v2/Users/{created['id']}", data=body, headers=scim.headers,
                                 content_type="application/scim+json")
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["status"] == "400" and response.mimetype == "application/scim+json"


def test_a_taken_user_name_is_409_uniqueness(scim):
    scim.create("taken")
    created = scim.create("free")
    refused(patch(scim, created["id"], {"op": "replace", "path": "userName", "value": "TAKEN"}), 409, "uniqueness")


def test_another_accounts_user_is_404(scim, client):
    created = scim.create("mine@example.com")
    stranger = other_tenant(client)
    refused(patch(stranger, created["id"], {"op": "replace", "path": "active", "value": False}), 404)
    refused(patch(scim, "no-such-id", {"op": "replace", "path": "active", "value": False}), 404)
    assert DirectoryRecord.get_by_id(created["id"]).version == 1
    assert Membership.select().where(Membership.status == "deactivated").count() == 0


def test_filters_see_what_a_patch_wrote(scim):
    created = scim.create("found@example.com", title="Before")
    ok(patch(scim, created["id"], {"op": "replace", "value": {"title": "After",
                                                              'emails[type eq "work"].value': "w@example.com"}}))
    assert [r["id"] for r in scim.get("/Users", filter='title eq "After"').get_json()["Resources"]] == [created["id"]]
    assert scim.get("/Users", filter='title eq "Before"').get_json()["totalResults"] == 0
    found = scim.get("/Users", filter='emails[type eq "work" and value eq "W@example.com"]').get_json()
    assert [r["id"] for r in found["Resources"]] == [created["id"]]
