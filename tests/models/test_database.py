"""Database selection, SQLite settings, and the audit trail's request id."""

from __future__ import annotations

import peewee
import pytest
from playhouse.pool import PooledPostgresqlDatabase

from models import Actor, AuditEvent, accounts, audit
from models.database import open_database


def test_sqlite_runs_in_wal_with_foreign_keys_and_a_busy_timeout(tmp_path):
    database = open_database(f"sqlite:///{tmp_path}/x.sqlite3")
    database.connect()
    try:
        pragma = lambda name: database.execute_sql(f"PRAGMA {name}").fetchone()[0]  # noqa: E731
        assert pragma("journal_mode") == "wal"
        assert pragma("synchronous") == 1  # NORMAL
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") == 30_000
    finally:
        database.close()


@pytest.mark.parametrize(
    ("url", "path"),
    [("sqlite:///data/r.sqlite3", "data/r.sqlite3"), ("sqlite:////tmp/abs/r.sqlite3", "/tmp/abs/r.sqlite3")],
)
def test_sqlite_urls_name_relative_and_absolute_files(url, path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert open_database(url).database == path


def test_postgresql_urls_give_a_connection_pool():
    database = open_database("postgresql://alice:s%40cret@db.internal:6543/roster")
    assert isinstance(database, PooledPostgresqlDatabase)
    assert database.database == "roster"
    assert database.connect_params["host"] == "db.internal" and database.connect_params["port"] == 6543
    assert database.connect_params["password"] == "s@cret"


def test_default_is_a_sqlite_file_in_the_data_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("ROSTER_DATA_DIR", str(tmp_path / "d"))
    database = open_database(None)
    assert isinstance(database, peewee.SqliteDatabase)
    assert database.database == str(tmp_path / "d" / "roster.sqlite3")


def test_unknown_scheme_is_refused():
    with pytest.raises(ValueError, match="DATABASE_URL"):
        open_database("mysql://x/y")


def test_audit_events_carry_the_request_id(database):
    token = audit.request_id.set("req-42")
    try:
        account = accounts.create_account("Audited", "vendor", by=Actor.cli("ops"))
    finally:
        audit.request_id.reset(token)
    event = AuditEvent.get(AuditEvent.action == "account.created")
    assert (event.actor_type, event.actor_label, event.account_id, event.request_id) == (
        "cli", "ops", account.id, "req-42")
