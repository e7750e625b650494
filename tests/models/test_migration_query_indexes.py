"""Migration 0006: existing directory_value rows get their account and their lead row (RFC 7644 §3.4.2.3)."""

from __future__ import annotations

from models import Actor, accounts, schema
from models.database import db
from models.tenancy import DirectoryValue

from .test_migrations import empty_database, insert_old_records  # noqa: F401 - the fixture


def test_upgrade_copies_the_account_and_marks_the_primary_else_first_value(empty_database):  # noqa: F811
    schema.upgrade("0005_passkeys")
    account = accounts.create_account("Old Account", "vendor", by=Actor.cli())
    param = db.obj.param
    insert_old_records(account.id, ["r1", "r2"])
    rows = [("r1", "emails.value", "home", False, "a@home"), ("r1", "emails.value", "work", True, "a@work"),
            ("r2", "emails.value", "home", False, "b@home"), ("r2", "emails.value", "other", False, "b@other"),
            ("r2", "title", "", False, "CTO")]
    for row in rows:  # in list order, as reindex wrote them
        db.execute_sql(f'INSERT INTO directory_value (record_id, path, type, "primary", value, value_key) '
                       f"VALUES ({', '.join([param] * 6)})", (*row, row[-1].lower()))

    assert schema.upgrade("0006_query_indexes") == ["0006_query_indexes"]

    found = {(v.record_id, v.value): (v.account_id, v.lead) for v in DirectoryValue.select()}
    assert found == {("r1", "a@home"): (account.id, False), ("r1", "a@work"): (account.id, True),  # the primary
                     ("r2", "b@home"): (account.id, True), ("r2", "b@other"): (account.id, False),  # else the first
                     ("r2", "CTO"): (account.id, True)}  # a single value leads itself
    names = {index.name for index in db.obj.get_indexes("directory_value")}
    assert "directoryvalue_path_value_key" not in names
