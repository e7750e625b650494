"""The SCIM write path stays cheap (issue 3, Benchmark): few statements per request, and no stale group members."""

from __future__ import annotations

from typing import Any

import pytest
from playhouse.test_utils import count_queries

from models import AuditEvent, DirectoryRecord, Membership, OutboxMessage, User

from .scim_support import tenant, user

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"


@pytest.fixture
def scim(client, database, account, admin):
    return tenant(client, account)


def _counted(call: Any) -> tuple[Any, int]:
    with count_queries() as counted:
        response = call()
    return response, counted.count


def _patch(scim: Any, path: str, *operations: dict[str, Any]) -> Any:
    return scim.client.patch("/scim/v2" + path, json={"schemas": [PATCH_OP], "Operations": list(operations)},
                             headers=scim.headers)


def test_a_new_person_costs_a_handful_of_statements_and_still_gets_everything(scim):
    response, statements = _counted(lambda: scim.post("/Users", user(
        "new.person@example.com", name={"givenName": "New", "familyName": "Person"}, displayName="New Person")))
    assert response.status_code == 201, response.get_json()
    assert statements <= 14, statements  # 31 before
    membership = Membership.get(Membership.id == DirectoryRecord.get_by_id(response.get_json()["id"]).membership_id)
    assert membership.status == "invited"
    assert User.get_by_id(membership.user_id).email_key == "new.person@example.com"
    assert OutboxMessage.select().where(OutboxMessage.recipient == "new.person@example.com").count() == 1
    assert {"invitation.created", "directory_record.created"} <= {e.action for e in AuditEvent.select()}


def test_deactivating_costs_a_handful_of_statements(scim):
    created = scim.create("leaving@example.com")
    response, statements = _counted(lambda: _patch(scim, f"/Users/{created['id']}",
                                                   {"op": "replace", "path": "active", "value": False}))
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["active"] is False
    # token, account lock (PostgreSQL; SQLite's BEGIN IMMEDIATE is its lock), record, 2 UPDATEs, EXISTS, one
    # INSERT of both audit rows; 25 before, 12 before nobody to log out was one EXISTS, 9 before one read
    assert statements <= 7, statements
    record = DirectoryRecord.get_by_id(response.get_json()["id"])
    assert Membership.get_by_id(record.membership_id).status == "deactivated"


def test_an_existing_member_links_once_and_a_second_record_links_to_nobody(scim, admin):
    _, admin_user = admin
    first = scim.create(admin_user.email)
    second = scim.create("someone", emails=[{"value": admin_user.email, "primary": True}])
    assert DirectoryRecord.get_by_id(first["id"]).membership_id == admin[0].id
    assert second["urn:roster:params:scim:schemas:extension:roster:2.0:User"]["unlinkedReason"] == \
        "already_member_through_other_record"


def test_a_group_shows_a_members_new_name_and_changes_its_version(scim):
    member = scim.create("named@example.com", displayName="Old Name")
    group = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Named",
                                  "members": [{"value": member["id"]}]}).get_json()
    first = scim.get(f"/Groups/{group['id']}")
    assert [m["display"] for m in first.get_json()["members"]] == ["Old Name"]
    assert scim.get(f"/Groups/{group['id']}").get_json() == first.get_json()  # kept per version: the same
    renamed = _patch(scim, f"/Users/{member['id']}", {"op": "replace", "path": "displayName", "value": "New Name"})
    assert renamed.status_code == 200
    second = scim.get(f"/Groups/{group['id']}")
    assert [m["display"] for m in second.get_json()["members"]] == ["New Name"]
    assert second.headers["ETag"] != first.headers["ETag"]
    # a change that leaves the names alone leaves the group's version alone
    _patch(scim, f"/Users/{member['id']}", {"op": "replace", "path": "title", "value": "Boss"})
    assert scim.get(f"/Groups/{group['id']}").headers["ETag"] == second.headers["ETag"]


def test_adding_members_counts_only_the_new_ones(scim):
    ids = [scim.create(f"m{i}@example.com")["id"] for i in range(4)] + [scim.create("unlinked")["id"]]
    group = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Counted",
                                  "members": [{"value": ids[0]}, {"value": ids[4]}]}).get_json()
    response = _patch(scim, f"/Groups/{group['id']}", {"op": "add", "path": "members",
                                                       "value": [{"value": i} for i in ids]})
    assert response.status_code == 200
    event = AuditEvent.select().where(AuditEvent.action == "group.updated").order_by(AuditEvent.id.desc()).first()
    assert event.detail["members_added"] == 3
    assert len(response.get_json()["members"]) == 5
