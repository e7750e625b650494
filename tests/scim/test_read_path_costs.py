"""What the read path saves stays correct (DESIGN.md §3 "Speed"): statements built once, pages from kept
documents, Groups kept as bytes per version."""

from __future__ import annotations

import pytest
from peewee import JOIN
from playhouse.test_utils import count_queries

from models import DirectoryRecord, members
from models.prepared import Prepared
from models.tenancy import Membership
from scim_server import rendered

from .scim_support import tenant

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"

_WITH_MEMBERSHIP = Prepared(lambda record_id: DirectoryRecord.select(DirectoryRecord, Membership).join(
    Membership, on=(DirectoryRecord.membership == Membership.id), join_type=JOIN.LEFT_OUTER,
    attr="joined").where(DirectoryRecord.id == record_id).limit(1))


@pytest.fixture
def scim(client, database, account, admin):
    rendered.users.clear()
    rendered.groups.clear()
    return tenant(client, account)


def test_a_prepared_query_reads_what_peewee_reads(scim):
    linked = scim.create("linked@example.com")
    unlinked = scim.create("no-email-here")
    for created in (linked, unlinked, linked):  # the second call reuses the SQL and the row reader
        expected = (DirectoryRecord.select(DirectoryRecord, Membership)
                    .join(Membership, on=(DirectoryRecord.membership == Membership.id), join_type=JOIN.LEFT_OUTER,
                          attr="joined").where(DirectoryRecord.id == created["id"]).get())
        row = _WITH_MEMBERSHIP.first(created["id"])
        assert row.__data__ == expected.__data__ and row.attributes == expected.attributes
        assert (row.joined and row.joined.__data__) == (expected.joined and expected.joined.__data__)
    assert _WITH_MEMBERSHIP.first("no-such-id") is None
    assert _WITH_MEMBERSHIP.all("no-such-id") == []


def test_a_value_that_would_not_reach_the_sql_as_given_is_refused(database):
    with pytest.raises(ValueError, match="did not reach the SQL"):
        # a JSON column writes its value as JSON text: not the value given
        Prepared(lambda value: DirectoryRecord.select().where(DirectoryRecord.attributes == value)).first("x")


def test_a_page_of_kept_documents_reads_no_attributes_and_follows_status_changes(scim, cli_actor):
    ids = [scim.create(f"kept{i}@example.com")["id"] for i in range(5)]
    first = scim.get("/Users", startIndex=1, count=10).get_json()
    with count_queries() as counted:
        again = scim.get("/Users", startIndex=1, count=10).get_json()
    assert again == first
    # the token, the page's ids, the COUNT (a full page), and versions and statuses: no full rows
    assert counted.count <= 4
    members.deactivate(Membership.get_by_id(DirectoryRecord.get_by_id(ids[2]).membership_id), by=cli_actor)
    after = {r["id"]: r for r in scim.get("/Users", startIndex=1, count=10).get_json()["Resources"]}
    assert after[ids[2]]["active"] is False and after[ids[2]] == scim.get(f"/Users/{ids[2]}").get_json()
    assert all(after[i]["active"] for i in ids if i != ids[2])


def test_a_group_is_kept_per_version_and_per_attribute_selection(scim):
    member = scim.create("member@example.com", displayName="Before")
    group = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Kept",
                                  "members": [{"value": member["id"]}]}).get_json()
    path = f"/Groups/{group['id']}"
    full = scim.get(path).get_json()
    assert full == scim.get(path).get_json() and [m["display"] for m in full["members"]] == ["Before"]
    without = scim.get(path, excludedAttributes="members").get_json()
    assert "members" not in without and without["meta"] == full["meta"]
    only = scim.get(path, attributes="displayName").get_json()
    assert "members" not in only and only["displayName"] == "Kept"
    renamed = scim.client.patch(f"/scim/v2/Users/{member['id']}", headers=scim.headers, json={
        "schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "displayName", "value": "After"}]})
    assert renamed.status_code == 200
    assert [m["display"] for m in scim.get(path).get_json()["members"]] == ["After"]
    assert scim.get(path, excludedAttributes="members").get_json()["meta"]["version"] != full["meta"]["version"]


def test_a_user_name_lookup_is_one_statement_and_answers_as_the_general_filter_does(scim, cli_actor):
    created = scim.create("Lookup.Person@Example.com", externalId="ext-1")
    scim.create("someone.else@example.com")
    general = scim.get("/Users", filter='userName eq "lookup.person@example.com" or userName eq "nobody"')
    with count_queries() as counted:
        looked_up = scim.get("/Users", filter='userName eq "LOOKUP.person@example.COM"')
    assert counted.count == 2  # the SCIM token, then the record with its membership
    assert looked_up.get_json() == general.get_json()
    assert looked_up.get_json()["Resources"] == [scim.get(f"/Users/{created['id']}").get_json()]
    missing = scim.get("/Users", filter='userName eq "nobody@example.com"').get_json()
    assert missing["totalResults"] == 0 and missing["Resources"] == []
    # a deactivation shows at once: the looked-up row is read, not kept
    members.deactivate(Membership.get_by_id(DirectoryRecord.get_by_id(created["id"]).membership_id), by=cli_actor)
    assert scim.get("/Users", filter='userName eq "lookup.person@example.com"').get_json()["Resources"][0][
        "active"] is False


def test_a_user_name_lookup_stays_inside_the_tenant(scim, client):
    from .scim_support import other_tenant

    theirs = other_tenant(client)
    theirs.create("shared.name@example.com")
    assert scim.get("/Users", filter='userName eq "shared.name@example.com"').get_json()["totalResults"] == 0
    scim.create("shared.name@example.com")
    found = theirs.get("/Users", filter='userName eq "shared.name@example.com"').get_json()
    assert found["totalResults"] == 1 and found["Resources"][0]["id"] != scim.get(
        "/Users", filter='userName eq "shared.name@example.com"').get_json()["Resources"][0]["id"]


def test_a_user_name_lookup_with_a_bad_sort_is_refused_like_any_list(scim):
    scim.create("sorted@example.com")
    response = scim.get("/Users", filter='userName eq "sorted@example.com"', sortBy="noSuchAttribute")
    assert response.status_code == 400, response.get_json()
