"""Okta's group push, replayed as Okta's SCIM 2.0 reference describes it (developer.okta.com, "Okta and SCIM
Version 2.0", SCIM Group operations): look up by displayName, create with ``members: []``, add members, remove
one by filter, rename with a path-less replace that echoes the id, delete."""

from __future__ import annotations

from typing import Any

import pytest

from .scim_support import tenant

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
OKTA = {"User-Agent": "Okta SCIM Client 1.0.0", "Content-Type": "application/scim+json; charset=utf-8"}


@pytest.fixture
def okta(client, database, account, admin):
    return tenant(client, account)


def send(okta: Any, method: str, path: str, body: Any = None, **query: Any) -> Any:
    return okta.client.open("/scim/v2" + path, method=method, json=body, query_string=query,
                            headers={**okta.headers, **OKTA})


def test_okta_group_push_cycle(okta):
    people = [okta.create(f"okta.user{i}@example.com") for i in range(3)]

    # Okta's first calls when provisioning is enabled, then the lookup before a push
    assert send(okta, "GET", "/Groups", startIndex=1, count=100).get_json()["totalResults"] == 0
    lookup = send(okta, "GET", "/Groups", filter='displayName eq "Test SCIMv2"', startIndex=1, count=100)
    assert lookup.status_code == 200 and lookup.get_json()["Resources"] == []

    created = send(okta, "POST", "/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                             "displayName": "Test SCIMv2", "members": []})
    assert created.status_code == 201, created.get_json()
    group_id = created.get_json()["id"]
    assert send(okta, "GET", f"/Groups/{group_id}").get_json()["displayName"] == "Test SCIMv2"

    added = send(okta, "PATCH", f"/Groups/{group_id}", {"schemas": [PATCH_SCHEMA], "Operations": [
        {"op": "add", "path": "members",
         "value": [{"value": p["id"], "display": p["userName"]} for p in people]}]})
    assert added.status_code == 200, added.get_json()
    assert {m["value"] for m in added.get_json()["members"]} == {p["id"] for p in people}

    removed = send(okta, "PATCH", f"/Groups/{group_id}", {"schemas": [PATCH_SCHEMA], "Operations": [
        {"op": "remove", "path": f'members[value eq "{people[0]["id"]}"]'}]})
    assert removed.status_code == 200
    assert {m["value"] for m in removed.get_json()["members"]} == {people[1]["id"], people[2]["id"]}

    renamed = send(okta, "PATCH", f"/Groups/{group_id}", {"schemas": [PATCH_SCHEMA], "Operations": [
        {"op": "replace", "value": {"id": group_id, "displayName": "Test SCIMv2 renamed"}}]})
    assert renamed.status_code == 200 and renamed.get_json()["displayName"] == "Test SCIMv2 renamed"
    assert len(renamed.get_json()["members"]) == 2

    # older Okta integrations push the whole group with PUT
    pushed = send(okta, "PUT", f"/Groups/{group_id}", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "id": group_id,
        "displayName": "Test SCIMv2 renamed", "members": [{"value": people[0]["id"], "display": "okta.user0"}]})
    assert pushed.status_code == 200
    assert [m["value"] for m in pushed.get_json()["members"]] == [people[0]["id"]]

    found = send(okta, "GET", "/Groups", filter='displayName eq "test scimv2 renamed"', startIndex=1, count=100)
    assert [r["id"] for r in found.get_json()["Resources"]] == [group_id]

    assert send(okta, "DELETE", f"/Groups/{group_id}").status_code == 204
    assert send(okta, "GET", f"/Groups/{group_id}").status_code == 404
    for person in people:  # the users stay
        assert send(okta, "GET", f"/Users/{person['id']}").status_code == 200
