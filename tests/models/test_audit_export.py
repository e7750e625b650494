"""The readable audit trail in models: positions, batches, words, tenant-scoped names, CSV and JSON Lines."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from models import Actor, accounts, audit, audit_export, audit_log, console_queries, groups, members
from models.console_queries import AuditFilter, Position
from models.ops import AuditEvent


def test_a_position_survives_its_url_value():
    at = dt.datetime(2026, 1, 5, 9, 0, 0, 123456)
    assert Position.parse(Position(at, 42).token()) == Position(at, 42)
    assert Position.parse(Position(dt.datetime(2026, 1, 5), 7).token()) == Position(dt.datetime(2026, 1, 5), 7)


@pytest.mark.parametrize("garbage", [None, "", "x", "1-", "-1", "1-x", "1.5-2", "9" * 19 + "-1", "1-" + "9" * 20,
                                     "-5-6"])
def test_anything_else_is_no_position(garbage):
    assert Position.parse(garbage) is None


def test_batches_hold_every_event_once_newest_first_even_at_one_time(account, cli_actor, frozen_clock):
    made = [groups.create_group(account, f"T{n:02}", by=cli_actor).id for n in range(23)]  # all at one time
    batches = list(console_queries.audit_batches(account, AuditFilter(action="group.created"), size=5))
    assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
    assert [e.target_id for b in batches for e in b] == list(reversed(made))


def test_words_for_actions_and_values(account, cli_actor, frozen_clock):
    assert audit_log.action_words("membership.role_changed") == "Member's role changed"
    assert audit_log.action_words("thing.was_made") == "Thing was made"
    audit.record(cli_actor, "membership.role_changed", account_id=account.id, target_type="membership",
                 target_id="x", role="user", permissions=["dashboard", "user_management"], flag=True,
                 nothing=None, nested={"a_b": False, "c": None})
    (entry,) = audit_log.describe(account, AuditEvent.select().where(AuditEvent.action == "membership.role_changed"))
    assert entry.details_text == "Role: user; Modules: dashboard, user management; Flag: yes; Nested: A b: no"


def test_names_stay_inside_the_account(account, cli_actor, deployment):
    other = accounts.create_account("Elsewhere", "reseller", by=cli_actor)
    theirs = groups.create_group(other, "Their group", by=cli_actor)
    person = members.add_user(other, "them@else.example", given_name="Their", family_name="Person",
                              by=cli_actor, deployment=deployment)
    audit.record(Actor.for_user(person.user), "membership.groups_changed", account_id=account.id,
                 target_type="membership", target_id=person.membership.id, groups=[theirs.id])
    events = AuditEvent.select().where(AuditEvent.account_id == account.id)
    (entry,) = [e for e in audit_log.describe(account, events) if e.action == "membership.groups_changed"]
    words = f"{entry.actor.text} {entry.target.text if entry.target else ''} {entry.details_text}"
    assert "Their group" not in words and "Their Person" not in words
    assert entry.actor.email == "them@else.example" and entry.actor.note == "no longer a member"
    assert entry.details_text == "Groups: unknown (no longer here)"


def test_csv_has_a_header_even_when_nothing_matches(account):
    lines = "".join(audit_export.csv_lines(account, AuditFilter(action="nothing.at_all")))
    assert list(csv.reader(io.StringIO(lines))) == [list(audit_export.CSV_COLUMNS)]
    assert "".join(audit_export.jsonl_lines(account, AuditFilter(action="nothing.at_all"))) == ""


def test_exports_come_a_batch_at_a_time(account, cli_actor):
    for n in range(12):
        groups.create_group(account, f"@cmd {n}", by=cli_actor)
    chunks = list(audit_export.jsonl_lines(account, AuditFilter(action="group.created"), batch=5))
    assert [chunk.count("\n") for chunk in chunks] == [5, 5, 2]
    first = json.loads(chunks[0].splitlines()[0])
    assert first["target"]["name"] == "@cmd 11" and first["detail"] == {"name": "@cmd 11"}
    rows = list(csv.reader(io.StringIO("".join(audit_export.csv_lines(account, AuditFilter(action="group.created"),
                                                                     batch=5)))))
    assert len(rows) == 13 and rows[1][6] == "'@cmd 11"  # no cell starts a spreadsheet formula
