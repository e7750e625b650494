"""Migration 0010: the trigram index of directory_value.value_key is built from the rows already there, and removed."""

from __future__ import annotations

from models import Actor, accounts, schema
from models.database import db, is_postgres

from .test_migrations import empty_database, insert_old_records  # noqa: F401 - the fixture

MIGRATION = "0010_string_filter_indexes"
FTS = "directory_value_trigram"
GIN = "directory_value_value_key_trigram"


def matches(text: str) -> set[str]:
    """The record ids whose value_key holds ``text``, read through the trigram index on SQLite."""
    if is_postgres():  # the plans are tests/scim/test_string_filter_indexes.py's
        return {row[0] for row in db.execute_sql(
            "SELECT record_id FROM directory_value WHERE value_key LIKE %s", ("%" + text + "%",)).fetchall()}
    return {row[0] for row in db.execute_sql(
        f"SELECT v.record_id FROM {FTS} JOIN directory_value AS v ON v.id = {FTS}.rowid WHERE {FTS} MATCH ?",
        ('"' + text + '"',)).fetchall()}


def has_index() -> bool:
    if is_postgres():
        found = db.execute_sql("SELECT i.indexdef, x.indisvalid FROM pg_indexes AS i JOIN pg_class AS c ON "
                               "c.relname = i.indexname JOIN pg_index AS x ON x.indexrelid = c.oid "
                               "WHERE i.indexname = %s", (GIN,)).fetchone()
        assert found is None or ("USING gin (value_key gin_trgm_ops)" in found[0] and found[1]), found
        return found is not None
    return db.obj.table_exists(FTS)


def test_upgrade_indexes_the_existing_values_and_down_removes_the_index(empty_database):  # noqa: F811
    schema.upgrade("0008_sort_indexes")  # rows as that schema held them; those between are applied with 0010
    account = accounts.create_account("Old Account", "vendor", by=Actor.cli())
    param = db.obj.param
    insert_old_records(account.id, ["r1", "r2"])
    for record, path, value in (("r1", "emails.value", "Ada@Alchemy.example"), ("r2", "title", "Court Jester")):
        db.execute_sql(f'INSERT INTO directory_value (record_id, account_id, path, type, "primary", lead, value, '
                       f"value_key) VALUES ({', '.join([param] * 8)})",
                       (record, account.id, path, "", False, True, value, value.lower()))
    assert not has_index()

    assert schema.upgrade(MIGRATION)[-1] == MIGRATION

    assert has_index()
    assert matches("alchemy") == {"r1"} and matches("jester") == {"r2"} and matches("nobody") == set()
    if not is_postgres():
        db.execute_sql(f"INSERT INTO {FTS}({FTS}, rank) VALUES ('integrity-check', 1)")
        # the triggers keep it: a new row is found, a deleted one is not
        db.execute_sql(f'INSERT INTO directory_value (record_id, account_id, path, type, "primary", lead, value, '
                       f"value_key) VALUES ({', '.join([param] * 8)})",
                       ("r2", account.id, "nickName", "", False, True, "Jolly", "jolly"))
        db.execute_sql("DELETE FROM directory_value WHERE path = 'title'")
        assert matches("jolly") == {"r2"} and matches("jester") == set()

    assert schema.runner().down(MIGRATION) == [MIGRATION]
    assert not has_index()
    if not is_postgres():
        triggers = db.execute_sql("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall()
        assert not [name for (name,) in triggers if name.startswith(FTS)]
        db.execute_sql("DELETE FROM directory_value WHERE path = 'nickName'")  # no trigger left to fail
    assert schema.upgrade() == [MIGRATION] + [m.name for m in schema.runner().migrations() if m.name > MIGRATION]
    assert matches("alchemy") == {"r1"}


def test_without_pg_trgm_the_migration_still_succeeds_and_says_so(empty_database, monkeypatch, caplog):  # noqa: F811
    if not is_postgres():
        return
    schema.upgrade("0008_sort_indexes")
    run = db.obj.execute_sql

    def refused(sql, params=None, *args, **kwargs):
        # a real error, so the transaction is left aborted as a refused CREATE EXTENSION leaves it
        return run(sql.replace("EXTENSION IF NOT EXISTS pg_trgm", "EXTENSION pg_trgm_not_installed"), params,
                   *args, **kwargs)

    monkeypatch.setattr(db.obj, "execute_sql", refused)
    assert schema.upgrade(MIGRATION)[-1] == MIGRATION
    monkeypatch.undo()
    assert not has_index()
    assert "pg_trgm is not available" in caplog.text
    assert MIGRATION in schema.runner().applied()
