"""PATCH /Groups (RFC 7644 §3.5.2) in every shape Okta and Entra ID send; members change in SQL."""

from __future__ import annotations

from typing import Any

import pytest
from playhouse.test_utils import count_queries

from models import Group, GroupMember
from models.tenancy import GroupRecord

from .scim_support import other_tenant, tenant

GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def patch(scim: Any, path: str, *operations: dict[str, Any], **query: Any) -> Any:
    return scim.client.patch("/scim/v2" + path, json={"schemas": [PATCH_SCHEMA], "Operations": list(operations)},
                             headers=scim.headers, query_string=query)


@pytest.fixture
def scim(client, database, account, admin):
    return tenant(client, account)


@pytest.fixture
def ids(scim) -> list[str]:
    return [scim.create(f"p{i}@example.com")["id"] for i in range(4)]


@pytest.fixture
def team(scim, ids) -> str:
    response = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Team", "externalId": "t-1",
                                     "members": [{"value": ids[0]}, {"value": ids[1]}]})
    assert response.status_code == 201, response.get_json()
    return str(response.get_json()["id"])


def members(scim, team: str) -> set[str]:
    return {m["value"] for m in scim.get(f"/Groups/{team}").get_json().get("members", [])}


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_json()
    assert response.mimetype == "application/scim+json"
    return dict(response.get_json())


def test_add_members(scim, team, ids):
    body = ok(patch(scim, f"/Groups/{team}", {"op": "add", "path": "members",
                                              "value": [{"value": ids[2]}, {"value": ids[3]}]}))
    assert {m["value"] for m in body["members"]} == set(ids)
    ok(patch(scim, f"/Groups/{team}", {"op": "add", "path": "members", "value": [{"value": ids[2]}]}))  # idempotent
    assert members(scim, team) == set(ids)


def test_remove_member_by_filter(scim, team, ids):
    ok(patch(scim, f"/Groups/{team}", {"op": "remove", "path": f'members[value eq "{ids[0]}"]'}))
    assert members(scim, team) == {ids[1]}


def test_remove_several_by_an_or_filter(scim, team, ids):
    ok(patch(scim, f"/Groups/{team}", {"op": "remove", "path": f'members[value eq "{ids[0]}" or value eq "{ids[1]}"]'}))
    assert members(scim, team) == set()


def test_entra_remove_with_a_value_array(scim, team, ids):
    ok(patch(scim, f"/Groups/{team}", {"op": "Remove", "path": "members", "value": [{"value": ids[1]}]}))
    assert members(scim, team) == {ids[0]}


def test_remove_of_a_member_not_in_the_group_changes_nothing(scim, team, ids):
    ok(patch(scim, f"/Groups/{team}", {"op": "remove", "path": f'members[value eq "{ids[3]}"]'},
             {"op": "remove", "path": 'members[value eq "no-such-user"]'}))
    assert members(scim, team) == {ids[0], ids[1]}


def test_remove_all_members(scim, team):
    ok(patch(scim, f"/Groups/{team}", {"op": "remove", "path": "members"}))
    assert members(scim, team) == set()


def test_replace_members_sets_exactly_these(scim, team, ids):
    ok(patch(scim, f"/Groups/{team}", {"op": "replace", "path": "members", "value": [{"value": ids[1]},
                                                                                      {"value": ids[2]}]}))
    assert members(scim, team) == {ids[1], ids[2]}
    ok(patch(scim, f"/Groups/{team}", {"op": "replace", "path": "members", "value": []}))
    assert members(scim, team) == set()


def test_path_less_replace_with_echoed_id_renames(scim, team):
    body = ok(patch(scim, f"/Groups/{team}", {"op": "replace", "value": {"id": team, "displayName": "New"}}))
    assert body["displayName"] == "New" and body["externalId"] == "t-1"
    response = patch(scim, f"/Groups/{team}", {"op": "replace", "value": {"id": "another", "displayName": "X"}})
    assert response.status_code == 400 and response.get_json()["scimType"] == "mutability"


def test_path_less_add_and_replace_carry_members(scim, team, ids):
    ok(patch(scim, f"/Groups/{team}", {"op": "add", "value": {"members": [{"value": ids[3]}], "externalId": "e"}}))
    assert members(scim, team) == {ids[0], ids[1], ids[3]}
    body = ok(patch(scim, f"/Groups/{team}", {"op": "replace", "value": {
        "urn:ietf:params:scim:schemas:core:2.0:Group:members": [{"value": ids[2]}], "displayName": "Both"}}))
    assert body["displayName"] == "Both" and body["externalId"] == "e"
    assert members(scim, team) == {ids[2]}


def test_replace_display_name_and_external_id(scim, team):
    body = ok(patch(scim, f"/Groups/{team}", {"op": "Replace", "path": "displayName", "value": "Renamed"},
                    {"op": "replace", "path": "externalId", "value": "t-2"}))
    assert body["displayName"] == "Renamed" and body["externalId"] == "t-2"
    body = ok(patch(scim, f"/Groups/{team}", {"op": "remove", "path": "externalId"}))
    assert "externalId" not in body
    assert Group.get_by_id(team).external_id is None


def test_several_adds_and_removes_in_one_request_apply_in_order(scim, team, ids):
    ok(patch(scim, f"/Groups/{team}",
             {"op": "ADD", "path": "members", "value": [{"value": ids[2]}]},
             {"op": "remove", "path": f'members[value eq "{ids[2]}"]'},
             {"op": "Add", "path": "members", "value": [{"value": ids[3]}]},
             {"op": "remove", "path": "members", "value": [{"value": ids[0]}]},
             {"op": "add", "path": "members", "value": [{"value": ids[0]}]}))
    assert members(scim, team) == {ids[0], ids[1], ids[3]}


def test_replace_then_add_in_one_request(scim, team, ids):
    ok(patch(scim, f"/Groups/{team}", {"op": "replace", "path": "members", "value": [{"value": ids[2]}]},
             {"op": "add", "path": "members", "value": [{"value": ids[3]}]},
             {"op": "remove", "path": f'members[value eq "{ids[2]}"]'}))
    assert members(scim, team) == {ids[3]}


def test_nothing_is_half_applied_when_one_operation_fails(scim, client, team, ids):
    stranger = other_tenant(client).create("stranger@example.com")["id"]
    before = scim.get(f"/Groups/{team}").get_json()
    for bad, fragment in ((stranger, stranger), ("nope", "nope")):
        response = patch(scim, f"/Groups/{team}", {"op": "replace", "path": "displayName", "value": "Half"},
                         {"op": "add", "path": "members", "value": [{"value": ids[2]}, {"value": bad}]},
                         {"op": "remove", "path": f'members[value eq "{ids[0]}"]'})
        assert response.status_code == 400
        assert response.get_json()["scimType"] == "invalidValue" and fragment in response.get_json()["detail"]
    response = patch(scim, f"/Groups/{team}", {"op": "remove", "path": f'members[value eq "{ids[0]}"]'},
                     {"op": "replace", "path": "displayName", "value": None})
    assert response.status_code == 400
    assert scim.get(f"/Groups/{team}").get_json() == before


@pytest.mark.parametrize("operation", [
    {"op": "frobnicate", "path": "members", "value": []},
    {"op": "add", "path": "members", "value": ["not an object"]},
    {"op": "add", "path": "members", "value": [{"display": "no value"}]},
    {"op": "replace", "path": 'members[value eq "x"].display', "value": "y"},
    {"op": "remove", "path": 'members[display eq "x"]'},
    {"op": "remove", "path": "members.value"},
    {"op": "replace", "path": "meta", "value": {}},
    {"op": "add", "path": "displayName"},
])
def test_invalid_operations_are_400_and_change_nothing(scim, team, operation):
    response = patch(scim, f"/Groups/{team}", operation)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert Group.get_by_id(team).version == 1


def test_operations_body_is_required(scim, team):
    response = scim.client.patch(f"/scim/v2/Groups/{team}", json={"schemas": [PATCH_SCHEMA]}, headers=scim.headers)
    assert response.status_code == 400


def _group_member_statements(queries: Any) -> list[str]:
    """Statements on either member table: group_member (memberships) and group_record (directory records)."""
    return [q.msg[0] for q in queries if "group_member" in q.msg[0] or "group_record" in q.msg[0]]


def test_excluded_members_are_never_loaded(scim, team, ids):
    with count_queries() as counted:
        body = ok(patch(scim, f"/Groups/{team}", {"op": "replace", "path": "displayName", "value": "Quiet"},
                        excludedAttributes="members"))
    assert "members" not in body and body["displayName"] == "Quiet"
    assert _group_member_statements(counted.get_queries()) == []
    with count_queries() as counted:
        fetched = scim.get(f"/Groups/{team}", excludedAttributes="members")
        listed = scim.get("/Groups", excludedAttributes="members", filter='displayName eq "Quiet"')
    assert "members" not in fetched.get_json() and "members" not in listed.get_json()["Resources"][0]
    assert _group_member_statements(counted.get_queries()) == []


def test_member_patch_answers_without_members_and_never_selects_them(scim, team, ids):
    with count_queries() as counted:
        body = ok(patch(scim, f"/Groups/{team}", {"op": "add", "path": "members", "value": [{"value": ids[2]}]},
                        excludedAttributes="members"))
    assert "members" not in body
    statements = _group_member_statements(counted.get_queries())
    # the insert, and the count of which named members were there already: never the whole list
    assert statements and all(s.startswith(("INSERT", "SELECT COUNT")) for s in statements), statements
    assert GroupMember.select().where(GroupMember.group == team).count() == 3
    assert GroupRecord.select().where(GroupRecord.group == team).count() == 3


def test_unlinked_users_are_added_and_removed_like_any_other(scim, team, ids):
    unlinked = [scim.create(f"emp{i}")["id"] for i in range(2)]
    body = ok(patch(scim, f"/Groups/{team}", {"op": "add", "path": "members",
                                              "value": [{"value": unlinked[0]}, {"value": unlinked[1]}]}))
    assert {m["value"] for m in body["members"]} == {ids[0], ids[1], *unlinked}
    ok(patch(scim, f"/Groups/{team}", {"op": "remove", "path": f'members[value eq "{unlinked[0]}"]'}))
    assert members(scim, team) == {ids[0], ids[1], unlinked[1]}
    ok(patch(scim, f"/Groups/{team}", {"op": "replace", "path": "members", "value": [{"value": unlinked[0]}]}))
    assert members(scim, team) == {unlinked[0]}
    assert not GroupMember.select().where(GroupMember.group == team).exists()
