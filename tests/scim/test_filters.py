"""Filters compile to SQL (RFC 7644 §3.4.2.2): each operator, logic, null-safety, refusals."""

from __future__ import annotations

import inspect

import pytest
from scim2_models import InvalidFilterException

from models import DirectoryRecord, Membership, directory, directory_index
from scim_server.filters import compile_user_filter

from .scim_support import USER_SCHEMA, tenant

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@pytest.fixture(autouse=True)
def reindexed(monkeypatch):
    """Index every record write, until models.directory calls directory_index.reindex itself."""
    source = inspect.getsource(directory).splitlines()
    if any(line.strip().startswith("directory_index.reindex(") for line in source):
        return
    create, update = directory.create_record, directory.update_record

    def create_record(*args, **kwargs):
        record = create(*args, **kwargs)
        directory_index.reindex(record.id, record.attributes)
        return record

    def update_record(*args, **kwargs):
        record = update(*args, **kwargs)
        directory_index.reindex(record.id, record.attributes)
        return record

    monkeypatch.setattr(directory, "create_record", create_record)
    monkeypatch.setattr(directory, "update_record", update_record)


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
    'userName eq', 'profileUrl eq "x"', 'unknown pr', 'active gt true', 'meta.created co "2020"',
    'userName eq 42', 'emails[display eq "x"]', 'name[givenName eq "x"]', 'emails[value eq "x" and '
    'emails[type eq "y"]]', 'emails.primary gt true', 'title gt null',
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
        compile_user_filter('profileUrl eq "x"')


@pytest.fixture
def people(client, database, account, admin):
    """Three records with the multi-valued, nested and enterprise attributes filters reach through SQL."""
    scim = tenant(client, account)
    scim.create("alice", schemas=[USER_SCHEMA, ENTERPRISE],
                emails=[{"value": "Alice@Work.example", "type": "work", "primary": True},
                        {"value": "alice@home.example", "type": "home"}],
                phoneNumbers=[{"value": "+1 555 0100", "type": "work"}],
                name={"givenName": "Alice", "familyName": "Smith", "formatted": "Alice Smith"},
                displayName="Alice S", nickName="Al", title="Engineer", userType="Employee",
                preferredLanguage="en-US", locale="en-US", timezone="Europe/Paris",
                **{ENTERPRISE: {"employeeNumber": "E-100", "costCenter": "CC1", "organization": "Acme",
                                "division": "R&D", "department": "Platform",
                                "manager": {"value": "MGR-1", "$ref": "../Users/m1"}}})
    scim.create("bob", schemas=[USER_SCHEMA, ENTERPRISE],
                emails=[{"value": "bob@home.example", "type": "home"}],
                name={"givenName": "Bob", "familyName": "Jones"}, title="Manager",
                **{ENTERPRISE: {"employeeNumber": "e-200", "department": "Sales",
                                "manager": {"value": "mgr-1", "$ref": "../Users/m2"}}})
    scim.create("carol")
    return scim


E = ENTERPRISE + ":"


@pytest.mark.parametrize(("text", "expected"), [
    # emails: caseExact false, one EXISTS per test; "emails" alone means emails.value
    ('emails eq "alice@work.example"', ["alice"]),
    ('emails.value eq "ALICE@HOME.EXAMPLE"', ["alice"]),
    ('emails co "@HOME"', ["alice", "bob"]),
    ('emails sw "bob"', ["bob"]),
    ('emails ew ".example"', ["alice", "bob"]),
    ('emails gt "b@a.example"', ["bob"]),
    ('emails ge "alice@work.example"', ["alice", "bob"]),
    ('emails lt "alice@home.examplf"', ["alice"]),
    ('emails le "alice@home.example"', ["alice"]),
    ('emails ne "bob@home.example"', ["alice", "carol"]),  # no value equals it
    ("emails pr", ["alice", "bob"]),
    ("not (emails pr)", ["carol"]),
    ('emails.type eq "WORK"', ["alice"]),
    ('emails.type ne "home"', ["carol"]),
    ("emails.type pr", ["alice", "bob"]),
    ("emails.primary eq true", ["alice"]),
    ("emails.primary ne true", ["bob", "carol"]),
    ('phoneNumbers co "555"', ["alice"]),
    ('phoneNumbers.type eq "work"', ["alice"]),
    # nested and single-valued strings
    ('name.givenName eq "ALICE"', ["alice"]),
    ('name.familyName sw "jo"', ["bob"]),
    ('name.familyName ew "TH"', ["alice"]),
    ('name.familyName gt "K"', ["alice"]),
    ('name.familyName ne "Smith"', ["bob", "carol"]),
    ('name.formatted co "ce sm"', ["alice"]),
    ("name.givenName pr", ["alice", "bob"]),
    ('displayName eq "alice s"', ["alice"]),
    ('nickName eq "al"', ["alice"]),
    ('title co "man"', ["bob"]),
    ('title le "Engineer"', ["alice"]),
    ("title eq null", ["carol"]),
    ("title ne null", ["alice", "bob"]),
    ('userType eq "employee"', ["alice"]),
    ('preferredLanguage eq "en-us"', ["alice"]),
    ('locale sw "en"', ["alice"]),
    ('timezone eq "europe/paris"', ["alice"]),
    # the enterprise extension; manager.value is caseExact, the others are not
    (f'{E}employeeNumber eq "E-200"', ["bob"]),
    (f'{E}employeeNumber sw "e-"', ["alice", "bob"]),
    (f'{E}costCenter eq "cc1"', ["alice"]),
    (f'{E}organization eq "ACME"', ["alice"]),
    (f'{E}division eq "r&d"', ["alice"]),
    (f'{E}department pr', ["alice", "bob"]),
    (f'{E}manager.value eq "MGR-1"', ["alice"]),
    (f'{E}manager.value eq "mgr-1"', ["bob"]),
    (f'{E}manager.value co "GR"', ["alice"]),
    (f'{E}manager.value ne "MGR-1"', ["bob", "carol"]),
    (f"{E}manager pr", ["alice", "bob"]),
    # value paths: every condition on the same email
    ('emails[type eq "work" and value co "@work"]', ["alice"]),
    ('emails[type eq "home" and value co "@work"]', []),
    ('emails[type eq "home" or primary eq true]', ["alice", "bob"]),
    ('emails[not (type eq "work")]', ["alice", "bob"]),
    ('emails[type ne "work"]', ["alice", "bob"]),
    ("emails[primary eq true]", ["alice"]),
    ('emails[value ew "home.example" and not (value sw "bob")]', ["alice"]),
    ("emails[type pr]", ["alice", "bob"]),
    ('emails[(type eq "home") and (value sw "a" or value sw "b")]', ["alice", "bob"]),
    ('phoneNumbers[type eq "work" and value sw "+1"]', ["alice"]),
    # logic across tables
    ('emails co "home" and not (emails[type eq "work"])', ["bob"]),
    ('emails[type eq "work"] or title eq "manager"', ["alice", "bob"]),
    ('not (emails co "home" or name.givenName pr)', ["carol"]),
    ('(userName eq "carol" or emails sw "bob") and not (title pr)', ["carol"]),
    ('userName sw "a" and emails[type eq "work"] and name.familyName eq "smith"', ["alice"]),
])
def test_multi_valued_nested_and_extension_attributes(people, text, expected):
    assert names(people, text) == expected


def test_a_filter_miss_is_an_empty_list(people):
    response = people.get("/Users", filter='emails[type eq "other"]')
    assert response.status_code == 200
    body = response.get_json()
    assert body["totalResults"] == 0 and body["Resources"] == []


def test_a_value_path_is_one_subquery_over_one_row(database):
    sql, params = DirectoryRecord.select().where(
        compile_user_filter('emails[type eq "work" and value co "@X"]')).sql()
    # one subquery (IN on SQLite, EXISTS on PostgreSQL: see UserFilterCompiler._rows), every condition on its row
    assert sql.count("SELECT") == 2 and sql.count('FROM "directory_value"') == 1
    assert "directory_value" in sql and "value_key" in sql
    assert params[:3] == ["emails.value", "work", "@x"]  # emails.value is caseExact false: folded


def test_case_exact_attributes_compare_the_value_as_sent(database):
    sql, params = DirectoryRecord.select().where(compile_user_filter(f'{E}manager.value eq "MGR-1"')).sql()
    assert '"t2"."value" = ' in sql and "MGR-1" in params
