"""/Groups through the real app on SQLite and PostgreSQL (RFC 7644 §3.3–§3.6, DESIGN.md §3)."""

from __future__ import annotations

from typing import Any

import pytest

from models import AuditEvent, DirectoryRecord, GroupMember, directory_groups, groups, members
from models.tenancy import GroupRecord

from .scim_support import ROSTER_SCHEMA, other_tenant, tenant

GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def group(name: str, **attributes: Any) -> dict[str, Any]:
    return {"schemas": [GROUP_SCHEMA], "displayName": name, **attributes}


def patch(scim: Any, path: str, *operations: dict[str, Any], **query: Any) -> Any:
    return scim.client.patch("/scim/v2" + path, json={"schemas": [PATCH_SCHEMA], "Operations": list(operations)},
                             headers=scim.headers, query_string=query)


def created(scim: Any, name: str, **attributes: Any) -> dict[str, Any]:
    response = scim.post("/Groups", group(name, **attributes))
    assert response.status_code == 201, response.get_json()
    return response.get_json()


@pytest.fixture
def scim(client, database, account, admin):
    return tenant(client, account)


@pytest.fixture
def people(scim):
    """Three SCIM Users linked to people of the account."""
    return [scim.create(f"p{i}@example.com") for i in range(3)]


def test_create_returns_201_with_location_etag_and_members(scim, people):
    response = scim.post("/Groups", group("Sales", externalId="ext-1",
                                          members=[{"value": people[0]["id"]}, {"value": people[1]["id"]}]))
    assert response.status_code == 201
    assert response.mimetype == "application/scim+json"
    body = response.get_json()
    assert body["schemas"] == [GROUP_SCHEMA]
    assert body["displayName"] == "Sales" and body["externalId"] == "ext-1"
    assert response.headers["Location"] == body["meta"]["location"]
    assert body["meta"]["location"].endswith(f"/scim/v2/Groups/{body['id']}")
    assert response.headers["ETag"] == body["meta"]["version"] == 'W/"1"'
    assert body["meta"]["resourceType"] == "Group"
    assert {m["value"] for m in body["members"]} == {people[0]["id"], people[1]["id"]}
    member = next(m for m in body["members"] if m["value"] == people[0]["id"])
    assert member == {"value": people[0]["id"], "display": "p0@example.com", "type": "User",
                      "$ref": f"http://localhost/scim/v2/Users/{people[0]['id']}"}
    assert scim.get(f"/Groups/{body['id']}").get_json() == body
    assert AuditEvent.select().where(AuditEvent.action == "group.created",
                                     AuditEvent.actor_type == "scim_token").exists()


def test_display_name_is_unique_case_insensitively_409_external_id_is_not(scim):
    created(scim, "Sales", externalId="same")
    response = scim.post("/Groups", group("SALES"))
    assert response.status_code == 409
    assert response.get_json()["scimType"] == "uniqueness"
    created(scim, "Support", externalId="same")
    other = created(scim, "Other")
    assert scim.put(f"/Groups/{other['id']}", group("sales")).status_code == 409
    assert patch(scim, f"/Groups/{other['id']}", {"op": "replace", "path": "displayName", "value": "Sales"}
                 ).get_json()["scimType"] == "uniqueness"


def test_invalid_bodies_are_400(scim):
    assert scim.post("/Groups", {"schemas": [GROUP_SCHEMA]}).status_code == 400
    assert scim.post("/Groups", group("X", members=[{"value": 5}])).status_code == 400
    response = scim.client.post("/scim/v2/Groups", data="{not json", headers=scim.headers)
    assert response.status_code == 400 and response.get_json()["scimType"] == "invalidSyntax"


def test_members_are_any_users_of_the_account_linked_or_not(scim, client, people):
    unlinked = scim.create("emp3")  # no email: links to nobody
    response = scim.post("/Groups", group("Team", members=[{"value": people[0]["id"]}, {"value": unlinked["id"]}]))
    assert response.status_code == 201, response.get_json()
    listed = {m["value"]: m["display"] for m in response.get_json()["members"]}
    assert listed == {people[0]["id"]: "p0@example.com", unlinked["id"]: "emp3"}
    team = response.get_json()["id"]
    # the person is in the group (its permissions flow through the membership); the unlinked record is a member too
    assert GroupMember.select().where(GroupMember.group == team).count() == 1
    assert GroupRecord.select().where(GroupRecord.group == team).count() == 2
    assert names(scim, filter=f'members.value eq "{unlinked["id"]}"') == ["Team"]
    stranger = other_tenant(client).create("stranger@example.com")
    for named in ([{"value": stranger["id"]}], [{"value": people[1]["id"]}, {"value": "no-such-user"}]):
        response = scim.post("/Groups", group("Strangers", members=named))
        assert response.status_code == 400 and response.get_json()["scimType"] == "invalidValue"
        assert named[-1]["value"] in response.get_json()["detail"]
    assert names(scim) == ["Team"]  # nothing else created


def test_microsoft_two_users_sharing_an_email_both_join_a_group(scim):
    """Microsoft's conformance collection: the second user of an email links to nobody, and is a member all the same."""
    first = scim.create("ms-first", emails=[{"value": "shared@contoso.example", "primary": True}])
    second = scim.create("ms-second", emails=[{"value": "shared@contoso.example", "primary": True}])
    assert second[ROSTER_SCHEMA] == {"unlinkedReason": "already_member_through_other_record"}
    body = created(scim, "Contoso")
    response = scim.put(f"/Groups/{body['id']}", group("Contoso", members=[{"value": first["id"]},
                                                                          {"value": second["id"]}]))
    assert response.status_code == 200, response.get_json()
    assert {m["value"] for m in response.get_json()["members"]} == {first["id"], second["id"]}
    patched = patch(scim, f"/Groups/{body['id']}", {"op": "remove", "path": f'members[value eq "{second["id"]}"]'})
    assert [m["value"] for m in patched.get_json()["members"]] == [first["id"]]


def test_put_replaces_name_external_id_and_members(scim, people):
    body = created(scim, "Team", externalId="e1", members=[{"value": people[0]["id"]}, {"value": people[1]["id"]}])
    wanted = [{"value": people[1]["id"]}, {"value": people[2]["id"]}]
    response = scim.put(f"/Groups/{body['id']}", group("Renamed", id=body["id"], members=wanted))
    assert response.status_code == 200, response.get_json()
    replaced = response.get_json()
    assert replaced["displayName"] == "Renamed" and "externalId" not in replaced
    assert {m["value"] for m in replaced["members"]} == {people[1]["id"], people[2]["id"]}
    assert replaced["meta"]["version"] == 'W/"2"' != body["meta"]["version"]


def test_replace_keeps_members_the_console_added_without_a_record(scim, account, cli_actor, people, deployment):
    console_only = members.add_user(account, "console@example.com", by=cli_actor, deployment=deployment).membership
    body = created(scim, "Team", members=[{"value": people[0]["id"]}])
    team = directory_groups.find_group(account, body["id"])
    groups.add_members(team, [console_only.id], by=cli_actor)
    listed = scim.get(f"/Groups/{body['id']}").get_json()
    assert [m["value"] for m in listed["members"]] == [people[0]["id"]]  # only SCIM Users are listed
    scim.put(f"/Groups/{body['id']}", group("Team", members=[{"value": people[1]["id"]}]))
    assert GroupMember.select().where((GroupMember.group == team.id)
                                      & (GroupMember.membership == console_only.id)).exists()
    assert [m["value"] for m in scim.get(f"/Groups/{body['id']}").get_json()["members"]] == [people[1]["id"]]


def test_delete_is_204_then_404(scim, people):
    body = created(scim, "Gone", members=[{"value": people[0]["id"]}])
    assert scim.delete(f"/Groups/{body['id']}").status_code == 204
    assert scim.get(f"/Groups/{body['id']}").status_code == 404
    assert scim.delete(f"/Groups/{body['id']}").status_code == 404
    assert not GroupMember.select().exists()


def test_etags_412_and_304(scim):
    body = created(scim, "Tagged")
    path = f"/scim/v2/Groups/{body['id']}"
    stale = {**scim.headers, "If-Match": 'W/"7"'}
    assert scim.client.put(path, json=group("New"), headers=stale).status_code == 412
    assert scim.client.patch(path, json={"schemas": [PATCH_SCHEMA], "Operations": [
        {"op": "replace", "path": "displayName", "value": "New"}]}, headers=stale).status_code == 412
    assert scim.client.delete(path, headers=stale).status_code == 412
    current = scim.client.get(path, headers={**scim.headers, "If-None-Match": body["meta"]["version"]})
    assert current.status_code == 304 and current.headers["ETag"] == body["meta"]["version"]
    fresh = {**scim.headers, "If-Match": body["meta"]["version"]}
    assert scim.client.put(path, json=group("New"), headers=fresh).status_code == 200
    assert scim.client.get(path, headers={**scim.headers, "If-None-Match": body["meta"]["version"]}).status_code == 200


def test_version_changes_on_every_change(scim, people):
    body = created(scim, "V")
    versions = [body["meta"]["version"]]
    for operation in ({"op": "add", "path": "members", "value": [{"value": people[0]["id"]}]},
                      {"op": "replace", "path": "externalId", "value": "x"},
                      {"op": "remove", "path": f'members[value eq "{people[0]["id"]}"]'},
                      {"op": "replace", "path": "displayName", "value": "W"}):
        versions.append(patch(scim, f"/Groups/{body['id']}", operation).get_json()["meta"]["version"])
    assert len(set(versions)) == len(versions)


@pytest.fixture
def catalogue(scim, people):
    made = {name: created(scim, name, **attributes) for name, attributes in [
        ("Alpha", {"externalId": "A-1", "members": [{"value": people[0]["id"]}]}),
        ("beta", {"externalId": "b-2", "members": [{"value": people[0]["id"]}, {"value": people[1]["id"]}]}),
        ("Gamma", {}),
    ]}
    return made


def names(scim, **query: Any) -> list[str]:
    response = scim.get("/Groups", **query)
    assert response.status_code == 200, response.get_json()
    return [r["displayName"] for r in response.get_json()["Resources"]]


@pytest.mark.parametrize(("text", "expected"), [
    ('displayName eq "ALPHA"', ["Alpha"]),
    ('displayName co "ETA"', ["beta"]),
    ('displayName sw "g"', ["Gamma"]),
    ('displayName ne "beta"', ["Alpha", "Gamma"]),
    ('externalId eq "A-1"', ["Alpha"]),
    ('externalId eq "a-1"', []),
    ('externalId pr', ["Alpha", "beta"]),
    ('not (externalId pr)', ["Gamma"]),
    ('members pr', ["Alpha", "beta"]),
    ('displayName eq "Alpha" or displayName eq "Gamma"', ["Alpha", "Gamma"]),
    ('meta.created gt "2000-01-01T00:00:00Z"', ["Alpha", "beta", "Gamma"]),
    ('meta.lastModified lt "2000-01-01T00:00:00Z"', []),
])
def test_filters_compile_to_sql(scim, catalogue, text, expected):
    assert names(scim, filter=text) == expected


def test_filter_on_members_and_id(scim, catalogue, people):
    assert names(scim, filter=f'members.value eq "{people[1]["id"]}"') == ["beta"]
    assert names(scim, filter=f'members[value eq "{people[0]["id"]}"]') == ["Alpha", "beta"]
    assert names(scim, filter=f'members eq "{people[0]["id"]}" and displayName sw "A"') == ["Alpha"]
    assert names(scim, filter=f'not (members[value eq "{people[1]["id"]}"])') == ["Alpha", "Gamma"]
    assert names(scim, filter=f'id eq "{catalogue["Gamma"]["id"]}"') == ["Gamma"]


def test_invalid_filters_are_400_invalid_filter(scim, catalogue):
    for text in ('displayName eq', 'nickName eq "x"', 'members[display eq "x"]', 'meta.created co "2020"'):
        response = scim.get("/Groups", filter=text)
        assert response.status_code == 400, text
        assert response.get_json()["scimType"] == "invalidFilter", text


def test_paging_and_sorting(scim, catalogue):
    page = scim.get("/Groups", startIndex=2, count=1).get_json()
    assert page["totalResults"] == 3 and page["startIndex"] == 2 and page["itemsPerPage"] == 1
    assert [r["displayName"] for r in page["Resources"]] == ["beta"]
    # no value sorts last ascending and first descending (RFC 7644 §3.4.2.3), as for Users
    assert names(scim, sortBy="externalId", sortOrder="descending") == ["Gamma", "beta", "Alpha"]
    assert names(scim, sortBy="externalId") == ["Alpha", "beta", "Gamma"]
    assert scim.get("/Groups", count=0).get_json()["Resources"] == []
    miss = scim.get("/Groups", filter='displayName eq "nobody"').get_json()
    assert miss["totalResults"] == 0 and miss["Resources"] == []
    assert scim.get("/Groups", startIndex="x").status_code == 400
    assert scim.get("/Groups", sortBy="members").status_code == 400


def test_list_honours_excluded_and_selected_attributes(scim, catalogue, people):
    listed = scim.get("/Groups", excludedAttributes="members").get_json()["Resources"]
    assert all("members" not in r for r in listed)
    selected = scim.get("/Groups", attributes="members.value", filter='displayName eq "beta"').get_json()
    [beta] = selected["Resources"]
    assert "displayName" not in beta
    assert sorted(beta["members"], key=lambda m: m["value"]) == sorted(
        [{"value": people[0]["id"]}, {"value": people[1]["id"]}], key=lambda m: m["value"])
    only_name = scim.get(f"/Groups/{catalogue['beta']['id']}", attributes="displayName").get_json()
    assert only_name["displayName"] == "beta" and "members" not in only_name


def test_another_accounts_group_is_404_everywhere(scim, client, catalogue):
    other = other_tenant(client)
    mine = catalogue["Alpha"]["id"]
    assert other.get(f"/Groups/{mine}").status_code == 404
    assert other.put(f"/Groups/{mine}", group("Mine now")).status_code == 404
    assert patch(other, f"/Groups/{mine}", {"op": "replace", "path": "displayName", "value": "x"}).status_code == 404
    assert other.delete(f"/Groups/{mine}").status_code == 404
    assert other.get("/Groups").get_json()["totalResults"] == 0
    assert other.get("/Groups", filter=f'id eq "{mine}"').get_json()["totalResults"] == 0
    created(other, "Alpha")  # names are unique per account only
    assert scim.get(f"/Groups/{mine}").get_json()["displayName"] == "Alpha"


def test_lower_case_and_trailing_slash_paths(scim, catalogue):
    response = scim.client.get(f"/scim/v2/groups/{catalogue['Alpha']['id']}/", headers=scim.headers)
    assert response.status_code == 200
    assert scim.client.get("/scim/v2/groups", headers=scim.headers).get_json()["totalResults"] == 3


def test_deleting_a_user_drops_it_from_its_groups_and_changes_their_etags(scim, people):
    unlinked = scim.create("emp5")
    both = created(scim, "Both", members=[{"value": people[0]["id"]}, {"value": unlinked["id"]}])
    linked_only = created(scim, "Linked", members=[{"value": people[0]["id"]}, {"value": people[1]["id"]}])
    untouched = created(scim, "Untouched", members=[{"value": people[2]["id"]}])
    for record, holding in ((unlinked, [both]), (people[0], [both, linked_only])):
        etags = {g["id"]: scim.get(f"/Groups/{g['id']}").headers["ETag"] for g in (both, linked_only, untouched)}
        assert scim.delete(f"/Users/{record['id']}").status_code == 204
        for g in holding:
            response = scim.get(f"/Groups/{g['id']}")
            assert response.headers["ETag"] != etags[g["id"]]
            assert record["id"] not in {m["value"] for m in response.get_json().get("members", [])}
        assert scim.get(f"/Groups/{untouched['id']}").headers["ETag"] == etags[untouched["id"]]
    assert [m["value"] for m in scim.get(f"/Groups/{linked_only['id']}").get_json()["members"]] == [people[1]["id"]]
    assert "members" not in scim.get(f"/Groups/{both['id']}").get_json()
    assert not GroupRecord.select().where(GroupRecord.record.in_([unlinked["id"], people[0]["id"]])).exists()


def test_a_record_linked_later_keeps_its_groups_and_the_person_joins_them(scim, account):
    loose = scim.create("emp11")
    team = created(scim, "Team", members=[{"value": loose["id"]}])
    assert not GroupMember.select().where(GroupMember.group == team["id"]).exists()
    response = scim.client.patch(f"/scim/v2/Users/{loose['id']}", headers=scim.headers, json={
        "schemas": [PATCH_SCHEMA], "Operations": [
            {"op": "add", "path": "emails", "value": [{"value": "emp11@example.com", "primary": True}]}]})
    assert response.status_code == 200, response.get_json()
    membership = members.get_membership(account, "emp11@example.com")
    assert DirectoryRecord.get_by_id(loose["id"]).membership_id == membership.id
    assert [m["value"] for m in scim.get(f"/Groups/{team['id']}").get_json()["members"]] == [loose["id"]]
    # the group's permissions reach the person through the membership
    assert GroupMember.select().where((GroupMember.group == team["id"])
                                      & (GroupMember.membership == membership.id)).exists()


def test_a_member_the_console_takes_out_leaves_the_directory_view_too(scim, account, cli_actor, people):
    body = created(scim, "Team", members=[{"value": people[0]["id"]}, {"value": people[1]["id"]}])
    team = directory_groups.find_group(account, body["id"])
    membership = members.get_membership(account, "p0@example.com")
    groups.remove_members(team, [membership.id], by=cli_actor)
    assert [m["value"] for m in scim.get(f"/Groups/{body['id']}").get_json()["members"]] == [people[1]["id"]]
    groups.add_members(team, [membership.id], by=cli_actor)  # and one it adds shows there
    assert {m["value"] for m in scim.get(f"/Groups/{body['id']}").get_json()["members"]} == {
        people[0]["id"], people[1]["id"]}


def test_search_and_cursor_pages_answer_like_get(scim, catalogue, people):
    request = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
               "filter": f'members[value eq "{people[0]["id"]}"]', "excludedAttributes": ["members"]}
    searched = scim.post("/Groups/.search", request)
    assert searched.status_code == 200, searched.get_json()
    got = scim.get("/Groups", filter=request["filter"], excludedAttributes="members").get_json()
    assert searched.get_json() == got
    assert [r["displayName"] for r in got["Resources"]] == ["Alpha", "beta"]
    everything = scim.post("/.search", {"schemas": request["schemas"], "count": 10}).get_json()
    assert everything["totalResults"] == 3 + 3  # the Users first, then the Groups
    assert [r["displayName"] for r in everything["Resources"][3:]] == ["Alpha", "beta", "Gamma"]
    seen, cursor = [], ""
    while cursor is not None:
        page = scim.get("/Groups", cursor=cursor, count=2, sortBy="displayName", sortOrder="descending").get_json()
        assert page["totalResults"] == 3
        seen += [r["displayName"] for r in page["Resources"]]
        cursor = page.get("nextCursor")
    assert seen == ["Gamma", "beta", "Alpha"]
    assert scim.get("/Groups", cursor="forged.cursor").get_json()["scimType"] == "invalidCursor"
