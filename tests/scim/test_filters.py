"""Filters compile to SQL (RFC 7644 §3.4.2.2): each operator, logic, null-safety, refusals."""

from __future__ import annotations

import pytest
from scim2_models import InvalidFilterException

from models import DirectoryRecord, Membership
from scim_server.filters import compile_user_filter

from .scim_support import tenant


@pytest.fixture
def scim(client, database, account, admin):
    scim = tenant(client, account)
    scim.create("Alice@Example.com", externalId="A-1")
    scim.create("bob", externalId="b-2")
    scim.create("carol")
    return scim


def names(scim, text: str) -> list[str]:
    response = scim.get("/Users", filter=text, sortBy="userName")
    assert response.status_code == 200, response.get_json()
    return [r["userName"] for r in response.get_json()["Resources"]]


@pytest.mark.parametrize(("text", "expected"), [
    ('userName eq "alice@example.com"', ["Alice@Example.com"]),
    ('USERNAME EQ "BOB"', ["bob"]),
    ('userName ne "bob"', ["Alice@Example.com", "carol"]),
    ('userName co "EXAMPLE"', ["Alice@Example.com"]),
    ('userName sw "c"', ["carol"]),
    ('userName ew "OB"', ["bob"]),
    ('userName gt "bob"', ["carol"]),
    ('userName ge "bob"', ["bob", "carol"]),
    ('userName lt "bob"', ["Alice@Example.com"]),
    ('userName le "bob"', ["Alice@Example.com", "bob"]),
    ('externalId eq "A-1"', ["Alice@Example.com"]),
    ('externalId eq "a-1"', []),  # externalId is caseExact
    ('externalId co "-"', ["Alice@Example.com", "bob"]),
    ('externalId sw "b"', ["bob"]),
    ('externalId ew "1"', ["Alice@Example.com"]),
    ("externalId pr", ["Alice@Example.com", "bob"]),
    ("not (externalId pr)", ["carol"]),
    ('externalId ne "A-1"', ["bob", "carol"]),  # a missing value is "not equal", never NULL
    ('not (externalId eq "A-1")', ["bob", "carol"]),
    ('userName eq "bob" or userName eq "carol"', ["bob", "carol"]),
    ('userName sw "b" and externalId pr', ["bob"]),
    ('(userName eq "bob" or userName eq "carol") and not (externalId pr)', ["carol"]),
    ("active eq true", ["Alice@Example.com", "bob", "carol"]),
    ("active ne true", []),
    ('meta.created gt "2000-01-01T00:00:00Z"', ["Alice@Example.com", "bob", "carol"]),
    ('meta.lastModified lt "2000-01-01T00:00:00+02:00"', []),
])
def test_operators_and_logic(scim, text, expected):
    assert names(scim, text) == expected


def test_unlinked_records_keep_the_active_value_their_directory_sent(scim):
    scim.create("dormant", active=False)
    assert names(scim, "active eq false") == ["dormant"]
    assert "dormant" not in names(scim, "active eq true")


def test_id_filter(scim):
    record = DirectoryRecord.get(DirectoryRecord.user_name == "bob")
    assert names(scim, f'id eq "{record.id}"') == ["bob"]


@pytest.mark.parametrize("text", [
    'userName eq', 'nickName eq "x"', 'emails[type eq "work"]', 'unknown pr', 'active gt true',
    'meta.created co "2020"', 'userName eq 42',
])
def test_unsupported_or_invalid_filters_are_invalid_filter(scim, text):
    response = scim.get("/Users", filter=text)
    assert response.status_code == 400, text
    assert response.get_json()["scimType"] in ("invalidFilter", "invalidValue")


def test_compiled_sql_never_reads_rows_in_python(database):
    expression = compile_user_filter('userName eq "Bob" and not (externalId pr)')
    query = DirectoryRecord.select().join(Membership, on=(DirectoryRecord.membership == Membership.id)).where(
        expression)
    sql, params = query.sql()
    assert "user_name_key" in sql and "bob" in params


def test_unmapped_attribute_raises_invalid_filter(database):
    with pytest.raises(InvalidFilterException):
        compile_user_filter('displayName eq "x"')
