"""Numbered migrations: an existing database upgrades and keeps its data."""

from __future__ import annotations

import glob
import os

import peewee
import pytest
from playhouse.schema_diff import diff_models

from models import (
    Actor,
    Session,
    User,
    accounts,
    connections,
    invitations,
    members,
    ops,
    rate_limits,
    schema,
    security,
    tenancy,
)
from models.database import bind, db, open_database

from ..conftest import _postgres_url, dispose


@pytest.fixture(params=["sqlite", "postgres"])
def empty_database(request, tmp_path):
    if request.param == "postgres":
        url = _postgres_url()
        database = open_database(url)
        database.connect()
        database.execute_sql("DROP SCHEMA public CASCADE")
        database.execute_sql("CREATE SCHEMA public")
        dispose(database)
        # the next test that uses the shared fixture must rebuild the schema
        from .. import conftest

        conftest._postgres_ready.clear()
    else:
        url = f"sqlite:///{tmp_path}/old.sqlite3"
    bind(open_database(url))
    db.connect()
    yield db.obj
    dispose(db.obj)


def test_upgrade_from_the_first_version_keeps_the_data(empty_database, deployment):
    assert schema.upgrade("0001_initial") == ["0001_initial"]
    assert not empty_database.table_exists("session")
    account = accounts.create_account("Old Account", "vendor", by=Actor.cli())
    invited = invitations.invite(account, "old@example.com", by=Actor.cli(), deployment=deployment)
    members.add_user(account, "boss@example.com", role="admin", password="a long and unusual passphrase",
                     by=Actor.cli(), deployment=deployment)

    applied = schema.upgrade()

    assert applied[:8] == ["0002_security", "0003_directory_values", "0004_group_records", "0005_passkeys",
                           "0006_query_indexes", "0007_rate_limits", "0008_sort_indexes", "0009_record_active"]
    assert applied == sorted(os.path.basename(path)[:-3] for path in glob.glob(os.path.join(
        schema.MIGRATIONS, "[0-9][0-9][0-9][0-9]_*.py")))[1:]  # and any later one
    assert schema.is_current()
    assert accounts.get_account("Old Account").id == account.id
    assert invitations.lookup(invited.link.rsplit("/", 1)[1]).status == "pending"
    boss = User.get(User.email_key == "boss@example.com")
    Session.create(user=boss.id, token_hash="0" * 64)
    assert Session.select().count() == 1
    assert schema.upgrade() == []


def test_migrations_build_exactly_the_schema_the_models_describe(empty_database):
    schema.upgrade()
    diff = diff_models(empty_database, tenancy.TABLES + security.TABLES + ops.TABLES + rate_limits.TABLES
                       + connections.TABLES)
    # PostgreSQL's pg_trgm index for co/ew (migration 0010) has an operator class no peewee model can declare
    diff.drop_indexes[:] = [index for index in diff.drop_indexes if index.name != "directory_value_value_key_trigram"]
    assert not diff, str(diff)


def insert_old_records(account_id: str, record_ids: list[str]) -> None:
    """Directory records written with the columns every schema since 0001 has, as an older version left them."""
    param = db.obj.param
    for record in record_ids:
        db.execute_sql(f"INSERT INTO directory_record (id, account_id, user_name, user_name_key, attributes, version, "
                       f"created_at, updated_at) VALUES ({', '.join([param] * 8)})",
                       (record, account_id, record, record, "{}", 1, "2026-01-01 00:00:00", "2026-01-01 00:00:00"))


def test_upgrade_refuses_an_unknown_target(empty_database):
    with pytest.raises(Exception, match="unknown migration"):
        schema.upgrade("9999_nothing")
    assert not isinstance(empty_database, peewee.Proxy)
