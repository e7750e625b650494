"""Listing Users (RFC 7644 §3.4.2): sort, index paging, cursor paging (RFC 9865), all in SQL."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playhouse.test_utils import count_queries

from models import DirectoryRecord, directory_index
from models.fields import new_id
from scim_server.listing import fetch_page
from scim_server.search import ListQuery
from scim_server.user_listing import USERS

from ..conftest import SECRET_KEY
from .scim_support import tenant
from .test_filters import reindexed  # noqa: F401 - autouse: index every record write

START = dt.datetime(2026, 1, 5, 9, 0, 0)


@pytest.fixture
def scim(client, database, account, admin):
    return tenant(client, account)


@pytest.fixture
def many(scim):
    """250 records straight in the table: created in 25 instants of 10 (ties on created_at), some unnamed."""
    rows = []
    for i in range(250):
        attributes = {"active": True, "title": "Staff"}
        if i % 5:
            attributes["name"] = {"familyName": f"Family{i % 40:02d}"}
        rows.append({"id": new_id(), "account": scim.account.id, "user_name": f"user{i:03d}",
                     "user_name_key": f"user{i:03d}", "attributes": attributes,
                     "created_at": START + dt.timedelta(seconds=i // 10), "updated_at": START})
    DirectoryRecord.insert_many(rows).execute()
    directory_index.reindex_all(DirectoryRecord.select().where(DirectoryRecord.account == scim.account.id))
    return scim


def ids_in_default_order(scim) -> list[str]:
    records = DirectoryRecord.select().where(DirectoryRecord.account == scim.account.id)
    return [r.id for r in sorted(records, key=lambda r: (r.created_at, r.id))]


def walk(scim, **query) -> list[list[dict]]:
    pages, cursor = [], ""
    while cursor is not None:
        response = scim.get("/Users", cursor=cursor, **query)
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        pages.append(body)
        cursor = body.get("nextCursor")
    return pages


def test_sort_by_user_name_both_ways(scim):
    for name in ("b", "C", "a"):
        scim.create(name)
    up = [r["userName"] for r in scim.get("/Users", sortBy="userName").get_json()["Resources"]]
    down = [r["userName"] for r in scim.get("/Users", sortBy="userName", sortOrder="descending").get_json()[
        "Resources"]]
    assert up == ["a", "admin@acme.example", "b", "C"] or up == ["a", "b", "C"]
    assert down == list(reversed(up))


def test_sort_by_a_nested_attribute_puts_missing_values_last_ascending_first_descending(many):
    up = many.get("/Users", sortBy="name.familyName", count=200).get_json()["Resources"]
    families = [r.get("name", {}).get("familyName") for r in up]
    named = [f for f in families if f]
    assert named == sorted(named, key=str.lower) and families[0] == "Family01"
    down = many.get("/Users", sortBy="name.familyName", sortOrder="descending", count=60).get_json()["Resources"]
    assert all("name" not in r for r in down[:50]) and down[50]["name"]["familyName"] == "Family39"


def test_ties_are_broken_by_id(many):
    resources = many.get("/Users", sortBy="title", count=200).get_json()["Resources"]
    ids = [r["id"] for r in resources]
    assert ids == sorted(ids)


@pytest.mark.parametrize(("query", "start", "size"), [
    ({"startIndex": 0, "count": 5}, 1, 5),
    ({"startIndex": -3, "count": 5}, 1, 5),
    ({"startIndex": 249, "count": 5}, 249, 2),
    ({"startIndex": 251, "count": 5}, 251, 0),
    ({"count": -1}, 1, 0),
    ({"count": 0}, 1, 0),
    ({"count": 1000}, 1, 200),
    ({}, 1, 200),
])
def test_index_paging_boundaries(many, query, start, size):
    body = many.get("/Users", **query).get_json()
    assert body["totalResults"] == 250
    assert body["startIndex"] == start and body["itemsPerPage"] == size and len(body["Resources"]) == size


def test_index_pages_follow_the_default_order(many):
    expected = ids_in_default_order(many)
    seen = []
    for start in (1, 101, 201):
        seen += [r["id"] for r in many.get("/Users", startIndex=start, count=100).get_json()["Resources"]]
    assert seen == expected


@pytest.mark.parametrize("value", ["abc", "", "x" * 20])
def test_not_an_integer_is_invalid_value(scim, value):
    response = scim.get("/Users", count=value + "!")
    assert response.status_code == 400 and response.get_json()["scimType"] == "invalidValue"


def test_a_cursor_walk_returns_every_record_once_in_order(many):
    pages = walk(many, count=100)
    assert [len(p["Resources"]) for p in pages] == [100, 100, 50]
    assert [r["id"] for p in pages for r in p["Resources"]] == ids_in_default_order(many)
    assert all(p["totalResults"] == 250 for p in pages)
    assert "previousCursor" not in pages[0] and "nextCursor" not in pages[-1]
    back = many.get("/Users", cursor=pages[-1]["previousCursor"], count=100).get_json()
    assert [r["id"] for r in back["Resources"]] == [r["id"] for r in pages[1]["Resources"]]
    first = many.get("/Users", cursor=back["previousCursor"], count=100).get_json()
    assert [r["id"] for r in first["Resources"]] == [r["id"] for r in pages[0]["Resources"]]
    assert "previousCursor" not in first and first["nextCursor"]


def test_a_cursor_walk_with_a_sort_and_a_filter(many):
    query = {"count": 30, "sortBy": "name.familyName", "sortOrder": "descending", "filter": 'title eq "staff"'}
    pages = walk(many, **query)
    walked = [r["id"] for p in pages for r in p["Resources"]]
    listed = [r["id"] for r in many.get("/Users", sortBy="name.familyName", sortOrder="descending", count=200,
                                         filter='title eq "staff"').get_json()["Resources"]]
    listed += [r["id"] for r in many.get("/Users", sortBy="name.familyName", sortOrder="descending", count=200,
                                          startIndex=201, filter='title eq "staff"').get_json()["Resources"]]
    assert len(walked) == len(set(walked)) == 250
    assert walked == listed


@pytest.mark.parametrize("cursor", ["garbage", "eyJxIjoiYSJ9.AAAA", "a.b.c", "~~~"])
def test_an_invalid_cursor_is_400_invalid_cursor(many, cursor):
    response = many.get("/Users", cursor=cursor)
    assert response.status_code == 400
    assert response.get_json()["scimType"] == "invalidCursor"


def test_a_tampered_cursor_or_one_of_another_query_is_refused(many):
    cursor = many.get("/Users", cursor="", count=10).get_json()["nextCursor"]
    payload, _, signature = cursor.rpartition(".")  # itsdangerous: "." starts a compressed payload
    tampered = payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB") + "." + signature
    assert many.get("/Users", cursor=tampered).get_json()["scimType"] == "invalidCursor"
    other = many.get("/Users", cursor=cursor, filter='title eq "x"')
    assert other.status_code == 400 and other.get_json()["scimType"] == "invalidCursor"


def test_cursor_pages_use_a_keyset_and_no_offset(many, caplog):
    cursor = many.get("/Users", cursor="", count=100).get_json()["nextCursor"]
    caplog.set_level(logging.DEBUG, logger="peewee")
    assert many.get("/Users", cursor=cursor, count=100).status_code == 200
    # the COUNT and the load of the page's rows by id aside, one query picks the page
    pages = [r.getMessage() for r in caplog.records if "directory_record" in r.getMessage()
             and "COUNT(" not in r.getMessage() and '"t1"."id" IN (' not in r.getMessage()]
    assert len(pages) == 1, pages
    assert "OFFSET" not in pages[0]
    assert '("t1"."created_at", "t1"."id") >' in pages[0]


def test_a_listing_is_one_count_and_one_limited_select(many, caplog):
    caplog.set_level(logging.DEBUG, logger="peewee")
    response = many.get("/Users", filter='emails pr or name.familyName sw "family1"', sortBy="name.familyName",
                        count=7)
    assert response.status_code == 200 and len(response.get_json()["Resources"]) == 7
    listing = [r.getMessage() for r in caplog.records if "directory_record" in r.getMessage()
               and "directory_value" in r.getMessage()]
    assert len(listing) == 2
    # a first page reads its rows first: when it is not full, it needs no COUNT at all
    assert "LIMIT" in listing[0] and "COUNT(" not in listing[0] and "COUNT(" in listing[1]


def test_a_first_page_that_is_not_full_is_counted_without_a_count(many, caplog):
    caplog.set_level(logging.DEBUG, logger="peewee")
    for query in ({"filter": 'name.familyName sw "family1"', "count": 200},
                  {"filter": 'name.familyName sw "family1"', "cursor": "", "count": 200}):
        caplog.clear()
        response = many.get("/Users", **query)
        body = response.get_json()
        assert response.status_code == 200 and body["totalResults"] == len(body["Resources"]) > 0
        assert not [r for r in caplog.records if "COUNT(" in r.getMessage()]
    full = many.get("/Users", filter='name.familyName sw "family1"', count=3).get_json()
    assert len(full["Resources"]) == 3 and full["totalResults"] == body["totalResults"]
    beyond = many.get("/Users", filter='name.familyName sw "family1"', startIndex=1000).get_json()
    assert beyond["Resources"] == [] and beyond["totalResults"] == body["totalResults"]


def test_fetching_a_page_runs_three_queries_whatever_the_filter(many):
    query = ListQuery.build(filter='emails[type eq "work"] or name.familyName ew "9" or title pr',
                            sort_by="name.familyName", count=50, cursor="")
    with count_queries() as counter:
        page = fetch_page(USERS, many.account, query, cursor_key=SECRET_KEY)
    assert counter.count == 3  # the COUNT, the page's ids through the index, their rows by id
    assert page.total == 250 and len(page.rows) == 50 and page.next_cursor


def test_another_tenant_sees_none_of_the_records(many, client):
    from .scim_support import other_tenant

    other = other_tenant(client)
    body = other.get("/Users", cursor="").get_json()
    assert body["totalResults"] == 0 and body["Resources"] == []


ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
SORTABLE = [
    "id", "userName", "externalId", "meta.created", "meta.lastModified", "active", "emails", "emails.value",
    "emails.type", "emails.primary", "phoneNumbers", "phoneNumbers.value", "phoneNumbers.type",
    "phoneNumbers.primary", "name.givenName", "name.familyName", "name.formatted", "displayName", "nickName",
    "title", "userType", "preferredLanguage", "locale", "timezone", *(f"{ENTERPRISE}:{name}" for name in (
        "employeeNumber", "costCenter", "organization", "division", "department", "manager", "manager.value")),
]


@pytest.fixture
def mailboxes(scim):
    """Emails whose primary is not the smallest, or that have no primary, or none at all (RFC 7644 §3.4.2.3)."""
    scim.create("pat", emails=[{"value": "z@x.example", "type": "home"},
                               {"value": "b@x.example", "type": "work", "primary": True}],
                phoneNumbers=[{"value": "+1 2", "type": "work"}])
    scim.create("quinn", emails=[{"value": "c@x.example"}, {"value": "a@x.example", "type": "other"}])
    scim.create("robin", active=False)
    return scim


def sorted_names(scim, sort_by: str, order: str = "ascending", **query) -> list[str]:
    response = scim.get("/Users", sortBy=sort_by, sortOrder=order, **query)
    assert response.status_code == 200, (sort_by, response.get_json())
    return [r["userName"] for r in response.get_json()["Resources"] if r["userName"] != "admin@acme.example"]


def test_a_multi_valued_attribute_sorts_by_its_primary_else_its_first_value(mailboxes):
    # pat's primary b@ before quinn's first c@ (their smallest values, z@/b@ and a@, would say otherwise)
    assert sorted_names(mailboxes, "emails") == ["pat", "quinn", "robin"]
    assert sorted_names(mailboxes, "emails.value", "descending") == ["robin", "quinn", "pat"]
    # the type of that value; quinn's first value has none, which sorts as missing
    assert sorted_names(mailboxes, "emails.type")[0] == "pat"
    assert sorted_names(mailboxes, "emails.type", "descending")[2] == "pat"


def test_booleans_sort_false_before_true_and_missing_last(mailboxes):
    assert sorted_names(mailboxes, "emails.primary") == ["quinn", "pat", "robin"]
    assert sorted_names(mailboxes, "emails.primary", "descending") == ["robin", "pat", "quinn"]
    assert sorted_names(mailboxes, "phoneNumbers.primary")[0] == "pat"  # false; the others have none
    assert sorted_names(mailboxes, "active")[0] == "robin"  # the only inactive one
    assert sorted_names(mailboxes, "active", "descending")[2] == "robin"


@pytest.mark.parametrize("sort_by", SORTABLE)
def test_every_filterable_attribute_sorts_both_ways_by_index_and_cursor(mailboxes, sort_by):
    up = sorted_names(mailboxes, sort_by)
    down = sorted_names(mailboxes, sort_by, "descending")
    assert sorted(up) == sorted(down) == ["pat", "quinn", "robin"]
    walked = [r["userName"] for page in walk(mailboxes, sortBy=sort_by, count=1) for r in page["Resources"]]
    assert [n for n in walked if n != "admin@acme.example"] == up


def test_schemas_attributes_sort_or_are_invalid_value_never_an_error(mailboxes):
    """Every attribute /Schemas publishes: sorted, or refused with 400 invalidValue."""
    refused = []
    for schema in mailboxes.get("/Schemas").get_json()["Resources"]:
        if schema["id"] == "urn:ietf:params:scim:schemas:core:2.0:Group":
            continue
        prefix = "" if schema["id"] == "urn:ietf:params:scim:schemas:core:2.0:User" else schema["id"] + ":"
        for attribute in schema["attributes"]:
            for path in [attribute["name"]] + [f"{attribute['name']}.{s['name']}"
                                               for s in attribute.get("subAttributes", [])]:
                response = mailboxes.get("/Users", sortBy=prefix + path)
                assert response.status_code in (200, 400), path
                if response.status_code == 400:
                    assert response.get_json()["scimType"] == "invalidValue"
                    refused.append(prefix + path)
                else:
                    assert prefix + path in SORTABLE
    assert "profileUrl" in refused and "name" in refused and "emails.display" in refused and "password" in refused
    assert not set(refused) & set(SORTABLE)


@pytest.mark.parametrize("sort_by", ["name", "nothing", "emails.display", 'userName pr or title pr', "x" * 300,
                                     'emails[type eq "work"].value', "members"])
def test_what_cannot_be_sorted_is_invalid_value(scim, sort_by):
    response = scim.get("/Users", sortBy=sort_by)
    assert response.status_code == 400 and response.get_json()["scimType"] == "invalidValue"
    assert len(response.get_json()["detail"]) < 400
    groups = scim.get("/Groups", sortBy=sort_by)
    assert groups.status_code == 400 and groups.get_json()["scimType"] == "invalidValue"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sort_by=st.one_of(st.text(max_size=80), st.sampled_from(SORTABLE).map(lambda name: name + "x"),
                         st.builds(lambda a, b: f"{a}.{b}", st.sampled_from(SORTABLE), st.text(max_size=10))),
       order=st.sampled_from(["ascending", "descending"]))
def test_any_sort_by_is_sorted_or_invalid_value(scim, sort_by, order):
    response = scim.get("/Users", sortBy=sort_by, sortOrder=order, count=2)
    assert response.status_code in (200, 400), (sort_by, response.status_code)
    if response.status_code == 400:
        assert response.get_json()["scimType"] == "invalidValue"


WALKED = [name for name in SORTABLE if name not in ("id", "userName", "meta.created", "meta.lastModified", "active")]


@pytest.fixture
def assorted(scim):
    """36 records whose values are missing, tied, typeless or not primary, straight in the table."""
    rows = []
    for i in range(36):
        attributes: dict = {"active": True}
        if i % 4:
            emails = [{"value": f"m{i % 7}@x.example", "type": ["", "work", "home"][i % 3]}]
            if i % 3 == 0:
                emails.insert(0, {"value": f"a{i}@x.example", "primary": i % 2 == 0})
            attributes["emails"] = emails
        if i % 5:
            attributes["phoneNumbers"] = [{"value": f"+1 {i % 3}", "type": "work" if i % 2 else "",
                                           "primary": i % 6 == 1}]
        if i % 3:
            attributes["name"] = {"givenName": f"G{i % 4}", "familyName": f"F{i % 5}", "formatted": f"X{i % 2}"}
        if i % 2:
            attributes.update(title=f"T{i % 3}", displayName=f"D{i % 6}", nickName="N", userType="U",
                              preferredLanguage="en", locale="en-US", timezone=f"Z{i % 4}")
            attributes[ENTERPRISE] = {"employeeNumber": f"{i % 5}", "costCenter": "C", "organization": f"O{i % 2}",
                                      "division": "V", "department": f"P{i % 3}",
                                      "manager": {"value": ["m", "M", "b"][i % 3]}}
        rows.append({"id": new_id(), "account": scim.account.id, "user_name": f"u{i:02d}",
                     "user_name_key": f"u{i:02d}", "attributes": attributes, "created_at": START,
                     "updated_at": START, "external_id": f"E{i % 4}" if i % 3 else None})
    DirectoryRecord.insert_many(rows).execute()
    directory_index.reindex_all(DirectoryRecord.select().where(DirectoryRecord.account == scim.account.id))
    return scim


def page_ids(scim, **query) -> tuple[int, list[str], str | None, str | None]:
    page = fetch_page(USERS, scim.account, ListQuery.build(**query), cursor_key=SECRET_KEY, full=False)
    return page.total, [row.id for row in page.rows], page.next_cursor, page.previous_cursor


@pytest.mark.parametrize("sort_by", WALKED)
@pytest.mark.parametrize("order", ["ascending", "descending"])
def test_an_unfiltered_value_sort_reads_in_index_order_the_order_of_the_sorted_join(assorted, sort_by, order):
    """The index walk (no filter) pages exactly as the join and ORDER BY (a filter that matches all) does."""
    everyone = 'userName pr'
    total, expected, _, _ = page_ids(assorted, sort_by=sort_by, sort_order=order, filter=everyone, count=200)
    assert total == 36 and len(expected) == 36
    assert page_ids(assorted, sort_by=sort_by, sort_order=order, count=200)[:2] == (36, expected)
    for start in (1, 2, 9, 17, 19, 25, 30, 35, 36, 37, 60):
        for size in (1, 5, 13):
            found = page_ids(assorted, sort_by=sort_by, sort_order=order, start_index=start, count=size)
            assert found[:2] == (36, expected[start - 1:start - 1 + size]), (start, size)
    pages, cursor, previous = [], "", None
    while cursor is not None:
        total, ids, cursor, previous = page_ids(assorted, sort_by=sort_by, sort_order=order, count=5,
                                                cursor=cursor)
        assert total == 36
        pages.append(ids)
    assert [i for ids in pages for i in ids] == expected
    back = []
    while previous is not None:
        total, ids, _, previous = page_ids(assorted, sort_by=sort_by, sort_order=order, count=5, cursor=previous)
        back.append(ids)
    assert back == pages[-2::-1]
