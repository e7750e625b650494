"""Audit rows of a transaction are written together as it commits, and only what commits is written."""

from __future__ import annotations

import pytest
from playhouse.test_utils import count_queries

from models import Actor, AuditEvent, audit
from models.database import transaction

BY = Actor.cli("tests")


def actions() -> list[str]:
    return [e.action for e in AuditEvent.select().order_by(AuditEvent.id)]


def test_the_rows_of_a_transaction_are_one_insert_at_commit_in_the_order_recorded(database):
    with count_queries() as counted, transaction():
        for action in ("first", "second", "third"):
            audit.record(BY, action, account_id=None)
        assert actions() == []  # not yet: they go with the commit
    assert actions() == ["first", "second", "third"]
    assert sum("INSERT" in str(record.msg) for record in counted.get_queries()) == 1


def test_a_savepoint_that_rolls_back_takes_its_rows_with_it(database):
    with transaction():
        audit.record(BY, "kept", account_id=None)
        with pytest.raises(RuntimeError), transaction():
            audit.record(BY, "undone", account_id=None)
            raise RuntimeError("refused")
        audit.record(BY, "after", account_id=None)
    assert actions() == ["kept", "after"]


def test_a_transaction_that_fails_writes_none_and_the_next_one_starts_clean(database):
    with pytest.raises(RuntimeError), transaction():
        audit.record(BY, "lost", account_id=None)
        raise RuntimeError("refused")
    with transaction():
        audit.record(BY, "next", account_id=None)
    assert actions() == ["next"]


def test_outside_a_transaction_a_row_is_written_at_once(database):
    audit.record(BY, "alone", account_id=None)
    assert actions() == ["alone"]
