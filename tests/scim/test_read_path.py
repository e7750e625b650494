"""The read path (issue 3, Benchmark; DESIGN.md §3 "Speed"): rendered documents kept per version and never
stale, counts without the membership join, deep pages read from the end, SQLite connections kept per thread."""

from __future__ import annotations

import datetime as dt

import pytest
from playhouse.test_utils import count_queries

from models import DirectoryRecord, directory_index, members
from models.database import db, end_request
from models.fields import new_id
from models.tenancy import Membership
from scim_server import rendered
from scim_server.listing import fetch_page
from scim_server.search import ListQuery
from scim_server.user_listing import USERS

from ..conftest import SECRET_KEY
from .scim_support import tenant, user

PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"


@pytest.fixture
def scim(client, database, account, admin):
    rendered.users.clear()
    return tenant(client, account)


def _patch(scim, path, *operations):
    return scim.client.patch("/scim/v2" + path, json={"schemas": [PATCH_OP], "Operations": list(operations)},
                             headers=scim.headers)


def _membership(record_id: str) -> Membership:
    return Membership.get_by_id(DirectoryRecord.get_by_id(record_id).membership_id)


def test_every_change_shows_in_the_next_get(scim, cli_actor):
    created = scim.create("ann@acme.example", title="Engineer", emails=[{"value": "ann@acme.example"}])
    path = f"/Users/{created['id']}"
    assert scim.get(path).get_json()["title"] == "Engineer"  # now kept
    assert len(rendered.users) >= 1

    assert _patch(scim, path, {"op": "replace", "path": "title", "value": "Lead"}).status_code == 200
    assert scim.get(path).get_json()["title"] == "Lead"

    assert scim.put(path, user("ann@acme.example", title="Chief", emails=[{"value": "ann@acme.example"}])
                    ).status_code == 200
    assert scim.get(path).get_json()["title"] == "Chief"

    # the console, not SCIM: deactivate and reactivate the membership
    members.deactivate(_membership(created["id"]), by=cli_actor)
    body = scim.get(path).get_json()
    assert body["active"] is False
    members.reactivate(_membership(created["id"]), by=cli_actor)
    assert scim.get(path).get_json()["active"] is True

    # and each listing shows the same documents as the GETs
    listed = scim.get("/Users", filter='userName eq "ann@acme.example"').get_json()["Resources"]
    assert listed == [scim.get(path).get_json()]

    # removed from the account in the console: unlinked, with the reason
    members.remove(_membership(created["id"]), by=cli_actor)
    body = scim.get(path).get_json()
    assert body["urn:roster:params:scim:schemas:extension:roster:2.0:User"]["unlinkedReason"] == "removed_from_account"


def test_a_membership_status_change_raises_the_record_version(scim, cli_actor):
    created = scim.create("bob@acme.example", emails=[{"value": "bob@acme.example"}])
    before = DirectoryRecord.get_by_id(created["id"]).version
    members.deactivate(_membership(created["id"]), by=cli_actor)
    after = DirectoryRecord.get_by_id(created["id"]).version
    assert after > before
    response = scim.client.get(f"/scim/v2/Users/{created['id']}",
                               headers={**scim.headers, "If-None-Match": created["meta"]["version"]})
    assert response.status_code == 200 and response.get_json()["active"] is False


def test_a_group_change_shows_in_the_next_get(scim):
    ann = scim.create("ann@acme.example", emails=[{"value": "ann@acme.example"}])
    group = scim.post("/Groups", {"schemas": [GROUP_SCHEMA], "displayName": "Eng"}).get_json()
    assert "members" not in scim.get(f"/Groups/{group['id']}").get_json()
    assert _patch(scim, f"/Groups/{group['id']}",
                  {"op": "add", "path": "members", "value": [{"value": ann["id"]}]}).status_code in (200, 204)
    assert [m["value"] for m in scim.get(f"/Groups/{group['id']}").get_json()["members"]] == [ann["id"]]
    assert _patch(scim, f"/Groups/{group['id']}",
                  {"op": "replace", "path": "displayName", "value": "Engineering"}).status_code in (200, 204)
    assert scim.get(f"/Groups/{group['id']}").get_json()["displayName"] == "Engineering"


def test_attributes_apply_to_the_kept_document(scim):
    created = scim.create("cy@acme.example", title="Ops", emails=[{"value": "cy@acme.example"}])
    path = f"/Users/{created['id']}"
    full = scim.get(path).get_json()
    only = scim.get(path, attributes="userName").get_json()
    assert only["userName"] == "cy@acme.example" and "title" not in only and only["id"] == created["id"]
    without = scim.get(path, excludedAttributes="title").get_json()
    assert "title" not in without and without["userName"] == full["userName"]
    assert scim.get(path).get_json() == full


def test_nothing_is_kept_from_inside_a_transaction(scim):
    created = scim.create("dee@acme.example", emails=[{"value": "dee@acme.example"}])
    rendered.users.clear()
    with db.atomic():
        rendered.users.put(("x", 1), "document")
    assert len(rendered.users) == 0
    scim.get(f"/Users/{created['id']}")
    assert len(rendered.users) == 1


def test_the_cache_is_bounded():
    cache = rendered.DocumentCache(size=3)
    for i in range(5):
        cache.put(i, str(i))
    assert len(cache) == 3 and cache.get(0) is None and cache.get(4) == "4"


def test_get_by_id_reads_token_with_account_then_record_with_membership(scim):
    created = scim.create("eve@acme.example", emails=[{"value": "eve@acme.example"}])
    scim.get(f"/Users/{created['id']}")  # last_used_at written; kept document
    with count_queries() as counter:
        assert scim.get(f"/Users/{created['id']}").status_code == 200
    assert counter.count == 2


@pytest.fixture
def records(scim):
    """57 records straight in the table, ties on created_at, a few unlinked and inactive."""
    start = dt.datetime(2026, 1, 1)
    rows = [{"id": new_id(), "account": scim.account.id, "user_name": f"r{i:03d}", "user_name_key": f"r{i:03d}",
             "attributes": {"active": i % 7 != 0, "title": "Staff"}, "active": i % 7 != 0,
             "created_at": start + dt.timedelta(seconds=i // 4),
             "updated_at": start} for i in range(57)]
    DirectoryRecord.insert_many(rows).execute()
    directory_index.reindex_all(DirectoryRecord.select().where(DirectoryRecord.account == scim.account.id))
    return scim


def _ordered_ids(scim, descending: bool = False) -> list[str]:
    records = DirectoryRecord.select().where(DirectoryRecord.account == scim.account.id)
    return [r.id for r in sorted(records, key=lambda r: (r.created_at, r.id), reverse=descending)]


@pytest.mark.parametrize("descending", [False, True])
def test_every_index_page_matches_the_order_from_either_end(records, descending):
    expected = _ordered_ids(records, descending)
    total = len(expected)
    for count in (1, 5, 20):
        for start in range(1, total + 3):
            query = ListQuery.build(start_index=start, count=count, sort_order="descending" if descending else None)
            page = fetch_page(USERS, records.account, query, cursor_key=SECRET_KEY)
            assert page.total == total
            assert [r.id for r in page.rows] == expected[start - 1:start - 1 + count], (start, count)


def test_deep_pages_over_http_and_with_a_filter(records):
    expected = _ordered_ids(records)
    body = records.get("/Users", startIndex=len(expected) - 2, count=10).get_json()
    assert [r["id"] for r in body["Resources"]] == expected[-3:]
    assert body["startIndex"] == len(expected) - 2 and body["itemsPerPage"] == 3
    titled = records.get("/Users", filter='title eq "Staff"', startIndex=50, count=5).get_json()
    assert [r["id"] for r in titled["Resources"]] == expected[49:54]


def test_counts_read_the_records_alone_active_included(records, caplog):
    import logging

    caplog.set_level(logging.DEBUG, logger="peewee")
    everyone = records.get("/Users", count=0).get_json()
    counts = [r.getMessage() for r in caplog.records if "COUNT(" in r.getMessage()]
    assert everyone["totalResults"] == 57  # the admin, added in the console, has no directory record
    assert counts and all("membership" not in c for c in counts)
    caplog.clear()
    # the admin has no record; 9 of the 57 unlinked records say active=false, which the record stores
    assert records.get("/Users", filter="active eq false", count=0).get_json()["totalResults"] == 9
    counts = [r.getMessage() for r in caplog.records if "COUNT(" in r.getMessage()]
    assert counts and all("membership" not in c for c in counts)


def test_a_connection_is_kept_or_pooled_between_requests_never_a_transaction(scim, database_url):
    scim.get("/Users")
    if not database_url.startswith("sqlite"):
        # PostgreSQL: the connection goes back to the pool after every request
        assert db.is_closed() and db.obj._in_use == {}
        return
    assert not db.is_closed()
    connection = db.connection()
    scim.get("/Users")
    assert db.connection() is connection
    connection.execute("BEGIN")
    assert connection.in_transaction
    end_request(None)
    assert not connection.in_transaction and not db.is_closed()


def test_an_atomic_block_left_open_is_rolled_back_and_the_connection_closed(scim):
    scim.create("gil@acme.example")
    transaction = db.atomic()
    transaction.__enter__()
    DirectoryRecord.update(version=99).execute()
    end_request(None)
    assert db.is_closed() and not db.in_transaction()
    assert not DirectoryRecord.select().where(DirectoryRecord.version == 99).exists()


def test_a_database_error_closes_the_kept_connection(scim):
    import peewee

    scim.get("/Users")
    end_request(peewee.OperationalError("disk I/O error"))
    assert db.is_closed()
    assert scim.get("/Users").status_code == 200


def test_another_tenant_gets_404_for_a_kept_document(scim, client):
    from .scim_support import other_tenant

    created = scim.create("fay@acme.example", emails=[{"value": "fay@acme.example"}])
    assert scim.get(f"/Users/{created['id']}").status_code == 200
    other = other_tenant(client)
    assert other.get(f"/Users/{created['id']}").status_code == 404
