"""/Users through the real app on SQLite and PostgreSQL (RFC 7644 §3.3–§3.6, DESIGN.md §3, R1, R2, R6)."""

from __future__ import annotations

import pytest

from models import AuditEvent, Invitation, Membership, OutboxMessage, User, members

from .scim_support import ROSTER_SCHEMA, USER_SCHEMA, tenant, user


@pytest.fixture
def scim(client, database, account, admin):
    return tenant(client, account)


def test_create_returns_201_with_location_etag_and_scim_media_type(scim):
    response = scim.post("/Users", user("bjensen@example.com", name={"givenName": "Barbara", "familyName": "J"},
                                        externalId="ext-1", password="never returned"))
    assert response.status_code == 201
    assert response.mimetype == "application/scim+json"
    body = response.get_json()
    assert body["userName"] == "bjensen@example.com" and body["externalId"] == "ext-1"
    assert body["active"] is True and "password" not in body
    assert response.headers["Location"].endswith(f"/scim/v2/Users/{body['id']}")
    assert response.headers["ETag"] == body["meta"]["version"] == 'W/"1"'
    assert body["meta"]["resourceType"] == "User"
    assert scim.get(f"/Users/{body['id']}").get_json() == body


def test_a_new_email_gets_an_invitation_r2(scim):
    body = scim.create("new.person@example.com")
    user_row = User.get(User.email_key == "new.person@example.com")
    membership = Membership.get((Membership.user == user_row.id) & (Membership.account == scim.account.id))
    assert user_row.status == "pending" and membership.status == "invited" and membership.created_via == "scim"
    invitation = Invitation.get(Invitation.membership == membership.id)
    assert invitation.status == "pending"
    assert OutboxMessage.select().where(OutboxMessage.recipient == "new.person@example.com").count() == 1
    assert body["active"] is True and ROSTER_SCHEMA not in body


def test_an_existing_user_gets_an_active_membership_at_once_r2(scim, cli_actor, database, deployment):
    from models import accounts

    elsewhere = accounts.create_account("Elsewhere", "provider", by=cli_actor)
    members.add_user(elsewhere, "known@example.com", password="correct horse battery staple", by=cli_actor,
                     deployment=deployment)
    scim.create("EMP-7", emails=[{"value": "other@example.com"}, {"value": "known@example.com", "primary": True}])
    membership = members.get_membership(scim.account, "known@example.com")
    assert membership.status == "active"
    assert not Invitation.select().where(Invitation.membership == membership.id).exists()


def test_records_without_an_email_or_for_a_member_link_to_nobody(scim):
    nobody = scim.create("emp3")
    assert nobody[ROSTER_SCHEMA] == {"unlinkedReason": "no_valid_email"}
    first = scim.create("first", emails=[{"value": "shared@example.com", "type": "work"}])
    second = scim.create("second", emails=[{"value": "shared@example.com", "type": "work"}])
    assert ROSTER_SCHEMA not in first
    assert second[ROSTER_SCHEMA] == {"unlinkedReason": "already_member_through_other_record"}
    assert Invitation.select().where(Invitation.email_key == "shared@example.com").count() == 1


def test_user_name_is_unique_case_insensitively_409(scim):
    scim.create("OMalley")
    response = scim.post("/Users", user("omalley"))
    assert response.status_code == 409
    assert response.get_json()["scimType"] == "uniqueness"
    assert response.get_json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


def test_external_id_need_not_be_unique(scim):
    scim.create("a1", externalId="same")
    scim.create("a2", externalId="same")


def test_list_filters_and_pages_in_sql(scim):
    for i in range(5):
        scim.create(f"user{i}@example.com", externalId=f"X{i}")
    page = scim.get("/Users", filter='userName sw "USER"', startIndex=2, count=2, sortBy="userName").get_json()
    assert page["totalResults"] == 5 and page["startIndex"] == 2 and page["itemsPerPage"] == 2
    assert [r["userName"] for r in page["Resources"]] == ["user1@example.com", "user2@example.com"]
    found = scim.get("/Users", filter='userName eq "User3@Example.com"').get_json()
    assert [r["externalId"] for r in found["Resources"]] == ["X3"]
    miss = scim.get("/Users", filter='userName eq "nobody"').get_json()
    assert miss["totalResults"] == 0 and miss["Resources"] == []
    assert scim.get("/Users", count=0).get_json()["totalResults"] == 5
    assert len(scim.get("/Users", count=100000).get_json()["Resources"]) == 5
    descending = scim.get("/Users", sortBy="externalId", sortOrder="descending").get_json()
    assert [r["externalId"] for r in descending["Resources"]] == ["X4", "X3", "X2", "X1", "X0"]


def test_invalid_filter_and_parameters_are_400(scim):
    for query in ({"filter": 'userName eq'}, {"filter": 'profileUrl eq "x"'}, {"filter": 'bogus eq "x"'},
                  {"count": "many"}, {"sortBy": "name"}):
        response = scim.get("/Users", **query)
        assert response.status_code == 400, query
        assert response.mimetype == "application/scim+json"
    assert scim.get("/Users", filter='bogus eq "x"').get_json()["scimType"] == "invalidFilter"


def test_replace_changes_the_record_never_the_login_email_r4(scim):
    created = scim.create("person@example.com", name={"givenName": "P"})
    response = scim.put(f"/Users/{created['id']}", user("renamed@example.com", title="Boss",
                                                        emails=[{"value": "renamed@example.com"}]))
    assert response.status_code == 200
    body = response.get_json()
    assert body["userName"] == "renamed@example.com" and body["title"] == "Boss" and "name" not in body
    assert body["meta"]["version"] == 'W/"2"'
    assert User.select().where(User.email_key == "person@example.com").exists()
    assert not User.select().where(User.email_key == "renamed@example.com").exists()


def test_put_active_false_deactivates_and_true_reactivates_r6(scim, cli_actor, database, deployment):
    from models import accounts

    other = accounts.create_account("Keeps", "provider", by=cli_actor)
    members.add_user(other, "d@example.com", password="correct horse battery staple", by=cli_actor,
                     deployment=deployment)
    created = scim.create("d@example.com")
    assert scim.put(f"/Users/{created['id']}", user("d@example.com", active=False)).get_json()["active"] is False
    assert members.get_membership(scim.account, "d@example.com").status == "deactivated"
    assert members.get_membership(other, "d@example.com").status == "active"
    assert scim.get("/Users", filter="active eq false").get_json()["totalResults"] == 1
    assert scim.put(f"/Users/{created['id']}", user("d@example.com", active=True)).get_json()["active"] is True
    assert members.get_membership(scim.account, "d@example.com").status == "active"


def test_a_replacement_without_active_keeps_a_deactivated_person_out_r6(scim, cli_actor, database, deployment):
    members.add_user(scim.account, "out@example.com", password="correct horse battery staple", by=cli_actor,
                     deployment=deployment)
    created = scim.create("out@example.com")
    scim.put(f"/Users/{created['id']}", user("out@example.com", active=False))
    body = user("out@example.com", title="Renamed")
    body.pop("active", None)
    assert scim.put(f"/Users/{created['id']}", body).get_json()["active"] is False
    assert members.get_membership(scim.account, "out@example.com").status == "deactivated"


def test_delete_removes_the_membership_r6(scim):
    created = scim.create("gone@example.com")
    assert scim.delete(f"/Users/{created['id']}").status_code == 204
    assert scim.get(f"/Users/{created['id']}").status_code == 404
    with pytest.raises(Exception, match="not a member"):
        members.get_membership(scim.account, "gone@example.com")


def test_deleting_the_last_admin_is_refused_409_and_nothing_changes_r1(scim):
    record = scim.create("admin@acme.example")
    response = scim.delete(f"/Users/{record['id']}")
    assert response.status_code == 409
    assert "admin" in response.get_json()["detail"]
    assert scim.get(f"/Users/{record['id']}").status_code == 200
    assert members.get_membership(scim.account, "admin@acme.example").status == "active"


def test_malformed_and_invalid_bodies_are_400_scim_errors(scim):
    bad = [b"{not json", b"[]", b'{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}',
           b'{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": 42, "active": "maybe"}']
    for body in bad:
        response = scim.client.post("/scim/v2/Users", data=body, headers=scim.headers,
                                    content_type="application/scim+json")
        assert response.status_code == 400, body
        assert response.get_json()["status"] == "400"
        assert response.mimetype == "application/scim+json"
    assert User.select().count() == 1  # only the admin


def test_changes_are_audited_with_the_token_as_actor(scim):
    created = scim.create("audited")
    event = AuditEvent.get(AuditEvent.action == "directory_record.created")
    assert event.actor_type == "scim_token" and event.target_id == created["id"]


def test_discovery_endpoints(scim):
    config = scim.get("/ServiceProviderConfig").get_json()
    assert config["filter"] == {"supported": True, "maxResults": 200}
    types = scim.get("/ResourceTypes").get_json()["Resources"]
    assert [t["endpoint"] for t in types] == ["/Users", "/Groups"]
    schemas = {s["id"] for s in scim.get("/Schemas").get_json()["Resources"]}
    assert USER_SCHEMA in schemas and ROSTER_SCHEMA in schemas
