"""/Groups through the real app on SQLite and PostgreSQL (RFC 7644 §3.3–§3.6, DESIGN.md §3)."""

from __future__ import annotations

from typing import Any

import pytest

from models import AuditEvent, GroupMember, groups

from .scim_support import other_tenant, tenant

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


def test_members_must_be_linked_users_of_the_account(scim, client, people):
    unlinked = scim.create("emp3")
    response = scim.post("/Groups", group("Team", members=[{"value": people[0]["id"]}, {"value": unlinked["id"]}]))
    assert response.status_code == 400
    body = response.get_json()
    assert body["scimType"] == "invalidValue"
    assert unlinked["id"] in body["detail"] and "unlinkedReason" in body["detail"]
    stranger = other_tenant(client).create("stranger@example.com")
    response = scim.post("/Groups", group("Team", members=[{"value": stranger["id"]}]))
    assert response.status_code == 400 and stranger["id"] in response.get_json()["detail"]
    assert scim.get("/Groups").get_json()["totalResults"] == 0  # nothing created


def test_put_replaces_name_external_id_and_members(scim, people):
    body = created(scim, "Team", externalId="e1", members=[{"value": people[0]["id"]}, {"value": people[1]["id"]}])
    wanted = [{"value": people[1]["id"]}, {"value": people[2]["id"]}]
    response = scim.put(f"/Groups/{body['id']}", group("Renamed", id=body["id"], members=wanted))
    assert response.status_code == 200, response.get_json()
    replaced = response.get_json()
    assert replaced["displayName"] == "Renamed" and "externalId" not in replaced
    assert {m["value"] for m in replaced["members"]} == {people[1]["id"], people[2]["id"]}
    assert replaced["meta"]["version"] == 'W/"2"' != body["meta"]["version"]


def test_replace_keeps_members_the_console_added_without_a_record(scim, account, cli_actor, people):
    from models import members

    console_only = members.add_user(account, "console@example.com", by=cli_actor).membership
    body = created(scim, "Team", members=[{"value": people[0]["id"]}])
    team = groups.find_group(account, body["id"])
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
    assert names(scim, sortBy="externalId", sortOrder="descending") == ["beta", "Alpha", "Gamma"]
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
