"""No slow query (issue 11): every filter operator and every sortBy is planned from indexes, never per record.

Each statement a listing runs is EXPLAINed as the database would run it:
SQLite as it is in production (no ANALYZE statistics), PostgreSQL with
sequential scans priced out (a sequential scan left in a plan means no index
could serve it) and a tiny ``work_mem`` (as if the account's rows outgrew
it). Neither may walk a subquery's rows once per record: that is what took
12.6 s for a sort of 4,200 users on SQLite, and 48 s for ``not (emails pr)``
of 10,000 on PostgreSQL once an IN list outgrew ``work_mem``. The figures are
conformance/bench_scim_queries.py's.
"""

from __future__ import annotations

import logging
import re

import pytest

from models.database import db, is_postgres
from scim_server.listing import fetch_page
from scim_server.search import ListQuery
from scim_server.user_listing import USERS

from ..conftest import SECRET_KEY
from .scim_support import tenant
from .test_filter_limits import seed
from .test_listing import SORTABLE, WALKED

FILTERS = [
    *(f'emails {op} "user00042@example.com"' for op in ("eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le")),
    "emails pr", "not (emails pr)", 'emails.type eq "work"', "emails.primary eq true",
    'userName eq "user00007"', 'userName co "0000"', 'userName gt "user00100"', 'externalId sw "ext-001"',
    'name.familyName eq "family07" or emails eq "home00010@example.org"',
    'title eq "lead" and emails co "0004"', 'emails[type eq "work" and value co "00042"]',
    'emails[type eq "home" or primary eq true] and not (userName sw "user001")',
    " or ".join(f'emails eq "user{i:05d}@example.com"' for i in range(50)),
    'meta.lastModified gt "2020-01-01T00:00:00Z"', "active eq true", "not (active eq false)",
]


@pytest.fixture
def crowd(client, database, account):
    seed(account, 300)
    return tenant(client, account)


class Statements(logging.Handler):
    """The (sql, params) of every statement peewee runs while attached."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen: list[tuple[str, tuple]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, tuple) and len(record.msg) == 2:  # peewee logs (sql, params) as the message
            self.seen.append((str(record.msg[0]), tuple(record.msg[1] or ())))


def statements_of(account, query: ListQuery) -> list[tuple[str, tuple]]:
    logger = logging.getLogger("peewee")
    handler, level = Statements(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        fetch_page(USERS, account, query, cursor_key=SECRET_KEY, full=False)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    return handler.seen


def plan(sql: str, params: tuple, *, sorts: bool = True) -> list[str]:
    """The plan's lines; ``sorts=False``: PostgreSQL prices sorts out too, so a Sort left means no index orders it."""
    if is_postgres():
        with db.atomic():
            db.execute_sql("SET LOCAL enable_seqscan = off")
            if not sorts:
                # without statistics (300 rows seen as a few) it would sort "one row" rather than walk an index
                db.execute_sql("SET LOCAL enable_sort = off")
            # as if the account's rows outgrew work_mem: no hashed subplan, the plan must still be bounded
            db.execute_sql("SET LOCAL work_mem = '64kB'")
            return [row[0] for row in db.execute_sql("EXPLAIN " + sql, params).fetchall()]
    return [row[3] for row in db.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()]


def assert_bounded(account, query: ListQuery) -> None:
    found = statements_of(account, query)
    assert found
    for sql, params in found:
        lines = plan(sql, params)
        text = "\n".join(lines)
        if is_postgres():
            assert "Seq Scan" not in text, (sql, text)
            # a subquery materialised and scanned again for each record (an IN beyond work_mem) is quadratic
            assert "Materialize" not in text, (sql, text)
        else:
            # SQLite says SCAN of any virtual table: a MATCH of migration 0010's FTS5 trigram table reads its index
            assert not [line for line in lines if line.startswith("SCAN ")
                        and not re.fullmatch(r"SCAN \w+ VIRTUAL TABLE INDEX \d+:M\d+", line)], (sql, text)
            assert "VIRTUAL TABLE" not in text or "directory_value_trigram" in sql, (sql, text)
            # correlated only as one probe of a record's own lead row by primary key prefix (a walked
            # sort's records without the value), never a walk of a subquery's rows for each record
            assert "CORRELATED" not in text or all(
                "INDEX directory_value_record_id_path_lead_value_key (record_id=? AND path=? AND lead=?)"
                in line for line in lines if "directory_value" in line or "sort_value" in line), (sql, text)
            # directory_value is read through the account's index, or one record's lead row by (record_id, path, lead)
            for line in lines:
                if "directory_value" in line or "directoryvalue" in line:
                    assert "directory_value_account_path_value_key" in line \
                        or "directory_value_record_id_path_lead_value_key" in line \
                        or "directory_value_account_id_path_lead_" in line, (sql, text)


@pytest.mark.parametrize("text", FILTERS)
def test_every_filter_operator_is_planned_from_indexes(crowd, text):
    assert_bounded(crowd.account, ListQuery.build(filter=text, count=20))
    assert_bounded(crowd.account, ListQuery.build(filter=text, count=20, cursor=""))


@pytest.mark.parametrize("sort_by", SORTABLE)
def test_every_sort_is_planned_from_indexes(crowd, sort_by):
    assert_bounded(crowd.account, ListQuery.build(sort_by=sort_by, count=20))
    assert_bounded(crowd.account, ListQuery.build(sort_by=sort_by, sort_order="descending", count=20,
                                                  filter='emails co "0001"'))


def test_a_value_sort_reads_one_row_per_record_whatever_it_holds(crowd):
    """The sort key is a join of the lead row, not an aggregate over every value of the record."""
    [page, _count] = statements_of(crowd.account, ListQuery.build(sort_by="emails", count=20, filter="userName pr"))
    assert "MIN(" not in page[0] and '"sort_value"."lead"' in page[0]
    assert page[0].count("directory_value") == 1


@pytest.mark.parametrize("sort_by", WALKED)
def test_an_unfiltered_value_sort_walks_an_index_in_its_order(crowd, sort_by):
    """No sort of the account for one page: the lead rows and the records without one come in index order.

    First, deep (by offset, from either end of a run) and cursor pages, both ways; the
    account's records without the value are those seeded without a title (most) or an email.
    """
    queries = [ListQuery.build(sort_by=sort_by, sort_order=order, count=20, start_index=start)
               for order in ("ascending", "descending") for start in (1, 150, 290)]
    for order in ("ascending", "descending"):
        first = fetch_page(USERS, crowd.account, ListQuery.build(sort_by=sort_by, sort_order=order, count=20,
                                                                 cursor=""), cursor_key=SECRET_KEY, full=False)
        queries.append(ListQuery.build(sort_by=sort_by, sort_order=order, count=20, cursor=first.next_cursor))
        page = fetch_page(USERS, crowd.account, queries[-1], cursor_key=SECRET_KEY, full=False)
        queries.append(ListQuery.build(sort_by=sort_by, sort_order=order, count=20, cursor=page.previous_cursor))
    for query in queries:
        assert_bounded(crowd.account, query)
        for sql, params in statements_of(crowd.account, query):
            text = "\n".join(plan(sql, params, sorts=False))
            if is_postgres():
                assert "Sort" not in text and "Hash" not in text, (sql, text)
            else:
                assert "TEMP B-TREE" not in text, (sql, text)
            if "ORDER BY" in sql and "directory_value" in sql and "EXISTS" not in sql:
                # PostgreSQL may as well walk (account_id, path, value_key, record_id) and skip the rows not lead
                assert "directory_value_account_id_path_lead_" in text or (
                    is_postgres() and "directory_value_account_path_value_key" in text), (sql, text)


@pytest.mark.parametrize("order", ["ascending", "descending"])
def test_when_every_record_has_the_value_no_record_is_probed_for_its_absence(crowd, order):
    """Every seeded record has an email: descending (that run first) reads none of the records one by one."""
    for query in (ListQuery.build(sort_by="emails", sort_order=order, count=20),
                  ListQuery.build(sort_by="emails", sort_order=order, count=20, start_index=295),
                  ListQuery.build(sort_by="emails", sort_order=order, count=20, cursor="")):
        found = statements_of(crowd.account, query)
        assert not [sql for sql, _ in found if "EXISTS" in sql], found
        assert any("ORDER BY" in sql and "directory_value" in sql for sql, _ in found)
    titled = statements_of(crowd.account, ListQuery.build(sort_by="nickName", sort_order=order, count=20))
    assert [sql for sql, _ in titled if "NOT EXISTS" in sql]  # nobody has a nickName: that run is read


@pytest.mark.parametrize("sort_by", [*WALKED, "id", "userName", "meta.created", "meta.lastModified", "active"])
@pytest.mark.parametrize("order", ["ascending", "descending"])
def test_an_unfiltered_sort_reads_its_page_in_index_order_without_sorting_the_account(crowd, sort_by, order):
    """A page costs its size: no statement sorts the account's records (or its values) to find it."""
    for query in (ListQuery.build(sort_by=sort_by, sort_order=order, count=20),
                  ListQuery.build(sort_by=sort_by, sort_order=order, count=20, start_index=150)):
        for sql, params in statements_of(crowd.account, query):
            lines = plan(sql, params, sorts=False)
            text = "\n".join(lines)
            if is_postgres():
                # an incremental sort of an index order only orders ties (of a unique userName: none)
                assert not [line for line in lines if line.strip().removeprefix("->").strip().startswith("Sort  (")
                            ], (sql, text)
            else:
                assert "TEMP B-TREE" not in text, (sql, text)
