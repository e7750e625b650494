"""sw, co and ew read an index (issue 11 point 7), and answer exactly what they did, on SQLite and PostgreSQL.

``sw`` adds a range of the compared column (``[prefix, successor(prefix))``)
to its exact test; ``co`` and ``ew`` on stored values read the trigram index
of migration 0010 (SQLite: the FTS5 table ``directory_value_trigram``;
PostgreSQL: a ``LIKE`` pg_trgm's GIN index serves). The answers are checked
against a Python oracle over generated values and operands (LIKE and GLOB
metacharacters, FTS5's quote, mixed case, the last code points), the plans
against each database's EXPLAIN, and the FTS5 table against directory_value
after every kind of SCIM write.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import directory
from models.database import db, is_postgres
from models.directory_index import fold
from scim_server import filters, string_index
from scim_server.filters import compile_user_filter
from scim_server.search import ListQuery
from scim_server.string_index import successor

from .scim_support import tenant
from .test_filter_limits import seed
from .test_query_plans import statements_of

FTS = "directory_value_trigram"
GIN = "directory_value_value_key_trigram"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def scim(client, database, account):
    return tenant(client, account)


# ------------------------------------------------------------------ successor


def test_the_successor_of_a_prefix_bounds_every_string_that_starts_with_it():
    assert successor("abc") == "abd"
    assert successor("a\U0010ffff") == "b"  # the last code point cannot grow: the one before does
    assert successor("\U0010ffff\U0010ffff") is None  # nothing can: no upper bound
    assert successor("a\ud7ff") == "a\ue000"  # no stored text holds a surrogate: skipped
    assert successor("a\uffff") == "a\U00010000"
    assert successor("") is None


@settings(max_examples=300, deadline=None)
@given(prefix=st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=4),
       rest=st.text(st.characters(exclude_categories=["Cs"]), max_size=4),
       other=st.text(st.characters(exclude_categories=["Cs"]), max_size=6))
def test_the_range_holds_exactly_what_starts_with_the_prefix(prefix, rest, other):
    above = successor(prefix)
    assert prefix <= prefix + rest and (above is None or prefix + rest < above)
    in_range = prefix <= other and (above is None or other < above)
    assert in_range == other.startswith(prefix)


# --------------------------------------------------------- answers = oracle

SPECIAL = ["%", "_", "\\", "*", "?", "[", "]", '"', "'", "^", "a", "A", "b", "B", "é", "e\u0301", "ß", "İ", "Σ",
           "\uffff", "\U00010000", "\U0010ffff", "\ud7ff", "\ue000", " ", "@"]
PIECE = st.sampled_from(SPECIAL) | st.characters(exclude_categories=["Cs", "Cc"])  # "e\u0301" is two
TEXT = st.lists(PIECE, max_size=7).map("".join)
OPERAND = st.lists(PIECE, min_size=1, max_size=5).map("".join)
OPERATORS = {"sw": str.startswith, "ew": str.endswith, "co": lambda stored, wanted: wanted in stored}


def quoted(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def matching(scim, text: str) -> set[str]:
    response = scim.get("/Users", filter=text, count=1000, attributes="userName")
    assert response.status_code == 200, (text, response.get_json())
    body = response.get_json()
    assert body["totalResults"] == len(body.get("Resources", [])), text
    return {resource["id"] for resource in body.get("Resources", [])}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=st.lists(TEXT, min_size=1, max_size=4),
       operand=OPERAND, op=st.sampled_from(sorted(OPERATORS)), spliced=st.booleans())
def test_sw_co_ew_answer_what_the_oracle_does(scim, values, operand, op, spliced):
    """title, name.familyName, emails (directory_value) and userName (a record column), folded as stored."""
    if spliced:  # a part of a stored value, so that matches are not all chance
        operand = values[0][len(values[0]) // 3:] or operand
    created = []
    try:
        for index, value in enumerate(values):
            response = scim.post("/Users", {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": f"{value}#{index}", "title": value or None, "name": {"familyName": f"{value}{index}"},
                "emails": [{"value": f"{index}{value}", "type": "work"}, {"value": value or "x", "type": "home"}]})
            assert response.status_code == 201, response.get_json()
            created.append(response.get_json())
        folded = fold(operand)
        wanted = OPERATORS[op]
        for attribute, stored_of, key in (
                ("title", lambda user: [user.get("title") or ""], fold),
                ("name.familyName", lambda user: [user["name"]["familyName"]], fold),
                ("emails", lambda user: [email["value"] for email in user["emails"]], fold),
                ("userName", lambda user: [user["userName"]], directory.user_name_key)):
            operand_key = operand.lower() if attribute == "userName" else folded
            expected = {user["id"] for user in created
                        if any(stored and wanted(key(stored), operand_key) for stored in stored_of(user))}
            text = f"{attribute} {op} {quoted(operand)}"
            assert matching(scim, text) == expected, text
            # the negation counts every other record: the index's rows are excluded exactly
            assert matching(scim, f"not ({text})") == {user["id"] for user in created} - expected, text
            if attribute == "emails":
                inside = f'emails[type eq "work" and value {op} {quoted(operand)}]'
                assert matching(scim, inside) == {user["id"] for user in created if wanted(
                    fold(user["emails"][0]["value"]), folded)}, inside
    finally:
        for user in created:
            assert scim.delete(f"/Users/{user['id']}").status_code == 204


def test_an_operand_of_one_or_two_characters_still_matches(scim):
    """Too short for a trigram: read as before, the same answer."""
    ada = scim.create("ada@example.com", title="Lead Engineer")["id"]
    scim.create("bob@example.com", title="Staff")
    assert matching(scim, 'title co "D E"') == {ada}
    assert matching(scim, 'title co "d"') == {ada}
    assert matching(scim, 'title ew "er"') == {ada}
    assert matching(scim, 'title co "eNGINEER"') == {ada}


# ------------------------------------------------------------------ plans


def statements(account, text: str) -> list[tuple[str, tuple]]:
    listed = [(sql, params) for sql, params in statements_of(account, ListQuery.build(filter=text, count=20))
              if "directory_record" in sql]
    assert listed
    return listed


def explain(sql: str, params: tuple) -> str:
    if is_postgres():
        return "\n".join(row[0] for row in db.execute_sql("EXPLAIN " + sql, params).fetchall())
    return "\n".join(row[3] for row in db.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall())


@pytest.fixture
def crowd(scim):
    seed(scim.account, 3000)
    if is_postgres():
        db.execute_sql("ANALYZE")
    return scim


def test_sw_reads_a_range_of_the_index(crowd):
    """emails (the account's index of values) and userName (the record's): the range bounds the search."""
    for text, column in (('emails sw "user0004"', "value_key"), ('userName sw "USER0004"', "user_name_key"),
                         ('name.familyName sw "family0"', "value_key")):
        for sql, params in statements(crowd.account, text):
            assert "SUBSTR(" in sql, sql  # the exact test stays
            plan = explain(sql, params)
            if is_postgres():
                bounded = [line for line in plan.splitlines() if "Index Cond" in line and column in line]
                assert bounded and " >= " in bounded[0] and " < " in bounded[0], (text, plan)
                assert "Seq Scan on directory_" not in plan, (text, plan)
            else:
                assert f"{column}>? AND {column}<?" in plan, (text, plan)
    assert crowd.get("/Users", filter='emails sw "user0004"').get_json()["totalResults"] == 10


def test_without_a_code_point_order_sw_keeps_its_exact_test_alone(crowd, monkeypatch):
    monkeypatch.setattr(filters, "code_point_order", lambda: False)  # the name the compiler calls
    for sql, _ in statements(crowd.account, 'userName sw "user0004"'):
        assert "user_name_key\" >=" not in sql and "SUBSTR(" in sql
    assert crowd.get("/Users", filter='userName sw "user0004"').get_json()["totalResults"] == 10


def test_the_collation_is_asked_once_per_database(crowd):
    assert string_index.code_point_order()  # SQLite's BINARY; the test PostgreSQL is C.UTF-8
    if is_postgres():
        assert db.obj in string_index.CODE_POINT_ORDER
        seen = statements(crowd.account, 'userName sw "user0004"')
        assert not [sql for sql, _ in seen if "pg_database" in sql]


@pytest.fixture
def big_crowd(scim):
    """Enough rows for PostgreSQL's planner to prefer the trigram index to a scan, unforced."""
    seed(scim.account, 20_000 if is_postgres() else 3000)
    if is_postgres():
        db.execute_sql("ANALYZE")
    return scim


def test_co_and_ew_read_the_trigram_index(big_crowd):
    for text, indexed in (('emails co "00042"', True), ('emails ew "00042@example.com"', True),
                          ('name.familyName ew "ly07"', True), ('not (emails co "0004")', True),
                          ('emails co "00042" and userName sw "user"', False)):
        plans = []
        for sql, params in statements(big_crowd.account, text):
            plan = explain(sql, params)
            plans.append(plan)
            if is_postgres():
                assert " LIKE %s ESCAPE %s" in sql, sql
                assert "Seq Scan on directory_value" not in plan, (text, plan)
            else:
                assert FTS in sql and ("INSTR(" in sql or "SUBSTR(" in sql), sql  # beside the exact test
                assert "VIRTUAL TABLE INDEX 0:M" in plan, (text, plan)  # a MATCH of the trigram table
                # and directory_value read by the rowids it gives, not the account's range
                assert "USING INTEGER PRIMARY KEY (rowid=?)" in plan, (text, plan)
        if is_postgres() and indexed:
            # with the account's statistics, nothing forced, the planner picks the trigram index (a page
            # of "not" may instead probe the first records' own rows, and stop at the page's end)
            assert any(f"Bitmap Index Scan on {GIN}" in plan for plan in plans), (text, plans)
    found = big_crowd.get("/Users", filter='emails ew "00042@example.com"', count=0).get_json()
    assert found["totalResults"] == 1


def test_the_operand_reaches_each_database_s_index_escaped(database):
    """PostgreSQL: a LIKE pattern with its wildcards and escape escaped; SQLite: an FTS5 phrase, quotes doubled."""
    if is_postgres():
        expression = compile_user_filter(r'emails co "a%b_c\\d"', account_id="x")
        sql, params = db.get_sql_context().sql(expression).query()
        assert " LIKE %s ESCAPE %s" in sql
        assert "%a\\%b\\_c\\\\d%" in params and "\\" in params
        expression = compile_user_filter('title ew "100%"', account_id="x")
        assert "%100\\%" in db.get_sql_context().sql(expression).query()[1]
    else:
        sql, params = db.get_sql_context().sql(compile_user_filter(r'title co "a\"b OR c*"', account_id="x")).query()
        assert "MATCH ?" in sql and '"a""b or c*"' in params


def test_a_short_operand_keeps_the_walk(database):
    """No trigram to look up: the SQL of before (a LIKE of "%x%" made PostgreSQL walk every record, x8)."""
    for text in ('emails co "ab"', 'emails ew "b"', 'emails[type eq "work" and value co "x"]'):
        sql, _ = db.get_sql_context().sql(compile_user_filter(text, account_id="x")).query()
        assert FTS not in sql and "LIKE" not in sql


# ------------------------------------------------------------ FTS5 in step


def fts_agrees() -> None:
    """SQLite: the FTS5 index is exactly directory_value's (FTS5's own check against the content table)."""
    db.execute_sql(f"INSERT INTO {FTS}({FTS}, rank) VALUES ('integrity-check', 1)")


def finds(value: str) -> set[int]:
    if is_postgres():
        cursor = db.execute_sql("SELECT id FROM directory_value WHERE value_key LIKE %s", ("%" + value + "%",))
    else:
        cursor = db.execute_sql(f"SELECT rowid FROM {FTS} WHERE {FTS} MATCH ?", ('"' + value + '"',))
    return {row[0] for row in cursor.fetchall()}


def test_the_trigram_index_follows_every_scim_write(scim):
    ada = scim.create("ada@example.com", title="Chief Alchemist", emails=[{"value": "ada@alchemy.example"}])
    bob = scim.create("bob@example.com", title="Court Jester")
    if not is_postgres():
        fts_agrees()
    assert finds("alchemist") and finds("jester")
    assert scim.get("/Users", filter='title co "alchem"').get_json()["totalResults"] == 1

    replaced = scim.put(f"/Users/{ada['id']}", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                                "userName": "ada@example.com", "title": "Royal Astronomer"})
    assert replaced.status_code == 200, replaced.get_json()
    assert not finds("alchemist") and not finds("alchemy") and finds("astronomer")
    if not is_postgres():
        fts_agrees()

    operations = [{"op": "replace", "path": "title", "value": "Court Painter"},
                  {"op": "add", "path": "emails", "value": [{"value": "bob@paint.example"}]}]
    patched = scim.client.patch(f"/scim/v2/Users/{bob['id']}", headers=scim.headers,
                                json={"schemas": [PATCH_OP], "Operations": operations})
    assert patched.status_code == 200, patched.get_json()
    assert not finds("jester") and finds("painter") and finds("@paint.ex")
    if not is_postgres():
        fts_agrees()
    assert scim.get("/Users", filter='title ew "painter"').get_json()["totalResults"] == 1
    assert scim.get("/Users", filter='title co "jester"').get_json()["totalResults"] == 0

    assert scim.delete(f"/Users/{bob['id']}").status_code == 204
    assert not finds("painter") and not finds("@paint.ex")
    if not is_postgres():
        fts_agrees()
    assert scim.get("/Users", filter='title co "astronomer"').get_json()["totalResults"] == 1

    # no writer updates a value in place today (reindex deletes and inserts); the UPDATE trigger is there if one does
    db.execute_sql("UPDATE directory_value SET value_key = 'royal cartographer' WHERE value_key = 'royal astronomer'")
    assert not finds("astronomer") and finds("cartographer")
    if not is_postgres():
        fts_agrees()


def test_the_postgresql_index_is_in_place(database):
    if not is_postgres():
        names = {row[0] for row in db.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'directory_value'").fetchall()}
        assert names == {f"{FTS}_ai", f"{FTS}_ad", f"{FTS}_au"}
        return
    found = db.execute_sql("SELECT indexdef FROM pg_indexes WHERE indexname = %s", (GIN,)).fetchone()
    assert found and "gin" in found[0] and "gin_trgm_ops" in found[0]
