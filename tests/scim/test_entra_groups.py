"""Microsoft Entra ID's group provisioning, replayed from its published request examples (learn.microsoft.com,
"Tutorial: Develop and plan provisioning for a SCIM endpoint", Group operations): create with the extra ADSCIM
schema, get and look up with ``excludedAttributes=members``, capitalised ops, member removal as a ``Remove``
with a value array, rename, delete."""

from __future__ import annotations

from typing import Any

import pytest
from playhouse.test_utils import count_queries

from .scim_support import tenant

PATCH_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ADSCIM = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


@pytest.fixture
def entra(client, database, account, admin):
    return tenant(client, account)


def send(entra: Any, method: str, path: str, body: Any = None, **query: Any) -> Any:
    return entra.client.open("/scim/v2" + path, method=method, json=body, query_string=query,
                             headers=entra.headers)


def test_entra_group_provisioning_cycle(entra):
    people = [entra.create(f"entra.user{i}@example.com", externalId=f"e{i}") for i in range(2)]

    lookup = send(entra, "GET", "/Groups", excludedAttributes="members", filter='displayName eq "displayName"')
    assert lookup.status_code == 200 and lookup.get_json()["totalResults"] == 0

    created = send(entra, "POST", "/Groups", {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group", ADSCIM],
        "externalId": "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159", "displayName": "displayName",
        "meta": {"resourceType": "Group"}})
    assert created.status_code == 201, created.get_json()
    group = created.get_json()
    assert group["externalId"] == "8aa1a0c0-c4c3-4bc0-b4a5-2ef676900159"
    group_id = group["id"]

    fetched = send(entra, "GET", f"/Groups/{group_id}", excludedAttributes="members")
    assert fetched.status_code == 200 and "members" not in fetched.get_json()
    found = send(entra, "GET", "/Groups", excludedAttributes="members", filter='displayName eq "displayName"')
    assert [r["id"] for r in found.get_json()["Resources"]] == [group_id]

    renamed = send(entra, "PATCH", f"/Groups/{group_id}", {"schemas": [PATCH_SCHEMA], "Operations": [
        {"op": "Replace", "path": "displayName", "value": "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"}]})
    assert renamed.status_code == 200, renamed.get_json()
    assert renamed.get_json()["displayName"] == "1879db59-3bdf-4490-ad68-ab880a269474updatedDisplayName"

    added = send(entra, "PATCH", f"/Groups/{group_id}", {"schemas": [PATCH_SCHEMA], "Operations": [
        {"op": "Add", "path": "members", "value": [{"$ref": None, "value": p["id"]} for p in people]}]})
    assert added.status_code == 200, added.get_json()
    assert {m["value"] for m in added.get_json()["members"]} == {p["id"] for p in people}

    with count_queries() as counted:
        removed = send(entra, "PATCH", f"/Groups/{group_id}", {"schemas": [PATCH_SCHEMA], "Operations": [
            {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": people[0]["id"]}]}]},
            excludedAttributes="members")
    assert removed.status_code == 200 and "members" not in removed.get_json()
    assert not any(q.msg[0].startswith("SELECT") and "group_member" in q.msg[0] for q in counted.get_queries())
    remaining = send(entra, "GET", f"/Groups/{group_id}").get_json()["members"]
    assert [m["value"] for m in remaining] == [people[1]["id"]]

    # a membership check by filter on the group (RFC 7644 §3.4.2.2)
    check = send(entra, "GET", "/Groups", excludedAttributes="members",
                 filter=f'id eq "{group_id}" and members[value eq "{people[1]["id"]}"]')
    assert check.get_json()["totalResults"] == 1

    assert send(entra, "DELETE", f"/Groups/{group_id}").status_code == 204
    assert send(entra, "GET", f"/Groups/{group_id}", excludedAttributes="members").status_code == 404
