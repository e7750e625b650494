"""directory_value rows: what a record's SCIM attributes index (models.directory_index)."""

from __future__ import annotations

import pytest
from playhouse.test_utils import count_queries

from models import Actor, DirectoryRecord, directory, directory_index
from models.tenancy import DirectoryValue

ENTERPRISE = directory_index.ENTERPRISE

ATTRIBUTES = {
    "emails": [{"value": "Ann@Work.Example", "type": "Work", "primary": True}, {"value": "ann@home.example"},
               {"type": "other"}, "not an object"],
    "phoneNumbers": [{"value": "+1 555 0100", "type": "mobile"}],
    "name": {"givenName": "Ann", "familyName": "Ámsel", "formatted": ""},
    "displayName": "Ann A", "nickName": "Annie", "title": "CTO", "userType": "Employee",
    "preferredLanguage": "de", "locale": "de-DE", "timezone": "Europe/Berlin", "active": True,
    ENTERPRISE: {"employeeNumber": "701", "costCenter": "CC", "organization": "Org", "division": "Div",
                 "department": "Dep", "manager": {"value": "M-1", "displayName": "Boss"}},
}


def test_values_of_every_filterable_attribute():
    rows = {(r["path"], r["value"]): r for r in directory_index.values_of(ATTRIBUTES)}
    assert set(rows) == {
        ("emails.value", "Ann@Work.Example"), ("emails.value", "ann@home.example"),
        ("phoneNumbers.value", "+1 555 0100"), ("name.givenName", "Ann"), ("name.familyName", "Ámsel"),
        ("displayName", "Ann A"), ("nickName", "Annie"), ("title", "CTO"), ("userType", "Employee"),
        ("preferredLanguage", "de"), ("locale", "de-DE"), ("timezone", "Europe/Berlin"),
        ("enterprise.employeeNumber", "701"), ("enterprise.costCenter", "CC"), ("enterprise.organization", "Org"),
        ("enterprise.division", "Div"), ("enterprise.department", "Dep"), ("enterprise.manager.value", "M-1"),
    }
    work = rows[("emails.value", "Ann@Work.Example")]
    assert (work["type"], work["primary"], work["value_key"]) == ("work", True, "ann@work.example")
    home = rows[("emails.value", "ann@home.example")]
    assert (home["type"], home["primary"]) == ("", False)  # never NULL
    assert {r["path"] for r in rows.values()} <= set(directory_index.PATHS)


def test_long_values_are_cut_to_the_index_width():
    [row] = directory_index.values_of({"title": "x" * 2000})
    assert len(row["value"]) == len(row["value_key"]) == directory_index.MAX_VALUE_LENGTH


@pytest.fixture
def record(account, admin, cli_actor, deployment):
    return directory.create_record(account, "ann", ATTRIBUTES, None, by=Actor.cli("tests"), deployment=deployment)


def test_reindex_replaces_the_rows_in_two_statements(record):
    directory_index.reindex(record.id, ATTRIBUTES)
    assert DirectoryValue.select().where(DirectoryValue.record == record.id).count() == 18
    with count_queries() as counter:
        directory_index.reindex(record.id, {"title": "CEO"})
    assert counter.count == 2
    assert [(v.path, v.value) for v in DirectoryValue.select().where(DirectoryValue.record == record.id)] == [
        ("title", "CEO")]


def test_reindex_of_nothing_deletes_only(record):
    directory_index.reindex(record.id, ATTRIBUTES)
    with count_queries() as counter:
        directory_index.reindex(record.id, {})
    assert counter.count == 1
    assert not DirectoryValue.select().where(DirectoryValue.record == record.id).exists()


def test_rows_go_with_their_record(record):
    directory_index.reindex(record.id, ATTRIBUTES)
    directory.delete_record(record.account_id, record.id, by=Actor.cli("tests"))
    assert not DirectoryValue.select().exists()


def test_reindex_all_rebuilds_every_record(record, account):
    DirectoryValue.delete().execute()
    assert directory_index.reindex_all() == DirectoryRecord.select().count()
    assert DirectoryValue.select().where(DirectoryValue.record == record.id).count() == 18


@pytest.mark.parametrize(("emails", "lead"), [
    ([{"value": "a@x"}, {"value": "b@x", "primary": True}], "b@x"),  # the primary, wherever it is
    ([{"value": "a@x"}, {"value": "b@x"}], "a@x"),  # else the first
    ([{"type": "work"}, {"value": "c@x", "primary": False}, {"value": "d@x"}], "c@x"),  # the first with a value
    ([{"value": "e@x", "primary": True}, {"value": "f@x", "primary": True}], "e@x"),  # two primaries: the first
])
def test_one_lead_row_per_path_the_primary_else_the_first_value(emails, lead):
    rows = list(directory_index.values_of({"emails": emails, "title": "CTO"}))
    assert [r["value"] for r in rows if r["lead"] and r["path"] == "emails.value"] == [lead]
    assert [r["lead"] for r in rows if r["path"] == "title"] == [True]


def test_reindex_keeps_the_account_of_the_record(record, account):
    directory_index.reindex(record.id, ATTRIBUTES)
    assert {v.account_id for v in DirectoryValue.select().where(DirectoryValue.record == record.id)} == {account.id}
