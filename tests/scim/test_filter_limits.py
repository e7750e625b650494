"""Filter size limits (issue 11): long and/or chains within the limits answer, beyond them invalidFilter.

Within :data:`MAX_FILTER_TERMS` attribute tests and :data:`MAX_FILTER_DEPTH`
levels, a filter compiles to SQL both databases run (SQLite's parser once
overflowed near 100 chained terms, peewee near 1,000) and means what RFC 7644
§3.4.2.2 says: random filter trees are checked against a Python evaluation of
the same records.
"""

from __future__ import annotations

import datetime as dt
import operator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import DirectoryRecord, directory_index
from models.fields import new_id
from models.tenancy import DirectoryValue
from scim_server.filter_limits import MAX_FILTER_DEPTH, MAX_FILTER_LENGTH, MAX_FILTER_TERMS

from .scim_support import tenant

START = dt.datetime(2026, 1, 5, 9, 0, 0)


def attributes_of(i: int) -> dict:
    return {"active": True, "title": "Lead" if i % 2 else "Staff",
            "name": {"familyName": f"Family{i % 100:02d}"},
            "emails": [{"value": f"user{i:05d}@example.com", "type": "work", "primary": True},
                       {"value": f"home{i:05d}@example.org", "type": "home"}]}


def seed(account, count: int) -> None:
    """``count`` records straight in the tables (as bench_scim seeds): user00000 … with two emails each."""
    records, values = [], []
    for i in range(count):
        record_id, attributes = new_id(), attributes_of(i)
        records.append({"id": record_id, "account": account.id, "user_name": f"user{i:05d}",
                        "user_name_key": f"user{i:05d}", "external_id": f"ext-{i:05d}", "attributes": attributes,
                        "created_at": START + dt.timedelta(seconds=i), "updated_at": START})
        values += [dict(row, record=record_id, account_id=account.id) for row in directory_index.values_of(attributes)]
    for at in range(0, len(records), 500):
        DirectoryRecord.insert_many(records[at:at + 500]).execute()
    for at in range(0, len(values), 500):
        DirectoryValue.insert_many(values[at:at + 500]).execute()


@pytest.fixture
def crowd(client, database, account):
    """An account of 3,000 users: enough for SQLite's and PostgreSQL's old failures, small enough to be quick."""
    seed(account, 3000)
    return tenant(client, account)


def total(scim, text: str) -> int:
    response = scim.get("/Users", filter=text, count=5, attributes="userName")
    assert response.status_code == 200, response.get_json()
    return response.get_json()["totalResults"]


def refused(scim, text: str) -> str:
    response = scim.get("/Users", filter=text)
    assert response.status_code == 400, text[:200]
    body = response.get_json()
    assert body["scimType"] == "invalidFilter" and response.mimetype == "application/scim+json"
    return body["detail"]


def nested(depth: int) -> tuple[str, set[int]]:
    """A filter ``depth`` levels deep, and/or alternating, with the users it selects."""
    text, selected = 'userName eq "user00000"', {0}
    for level in range(1, depth + 1):
        op = "or" if level % 2 else "and"
        text = f'userName eq "user{level:05d}" {op} ({text})'
        selected = ({level} | selected) if op == "or" else ({level} & selected)
    return text, selected


def test_chains_at_the_limit_answer_on_both_databases(crowd):
    n = MAX_FILTER_TERMS
    assert total(crowd, " or ".join(f'emails eq "USER{i:05d}@example.com"' for i in range(n))) == n
    assert total(crowd, " or ".join(f'userName eq "user{i:05d}"' for i in range(n))) == n
    assert total(crowd, " or ".join(f'emails co "{i:05d}@"' for i in range(n))) == n
    assert total(crowd, " and ".join(f'userName ne "user{i:05d}"' for i in range(n))) == 3000 - n
    assert total(crowd, " and ".join(f'not (emails eq "home{i:05d}@example.org")' for i in range(n))) == 3000 - n
    mixed = []
    for i in range(0, n // 5):  # five attribute tests per user: 20 users
        mixed += [f'emails co "{i:05d}@example.c"', f'userName eq "user{i + 100:05d}"',
                  f'externalId eq "ext-{i + 200:05d}"', f'emails[type eq "home" and value sw "home{i + 300:05d}"]']
    assert total(crowd, " or ".join(mixed)) == 4 * (n // 5)


def test_nesting_at_the_limit_answers(crowd):
    text, selected = nested(MAX_FILTER_DEPTH)
    assert total(crowd, text) == len(selected)
    grouped = " or ".join(f'(userName eq "user{i:05d}" and title eq "staff")' for i in range(MAX_FILTER_TERMS // 2))
    assert total(crowd, grouped) == MAX_FILTER_TERMS // 4  # the even ones are Staff


def test_beyond_the_limits_is_invalid_filter_with_the_limit_named(crowd):
    detail = refused(crowd, " or ".join(f'emails eq "user{i:05d}@example.com"' for i in range(MAX_FILTER_TERMS + 1)))
    assert f"{MAX_FILTER_TERMS + 1} attribute tests" in detail and str(MAX_FILTER_TERMS) in detail
    detail = refused(crowd, nested(MAX_FILTER_DEPTH + 1)[0])
    assert f"at most {MAX_FILTER_DEPTH}" in detail
    detail = refused(crowd, 'userName eq "' + "x" * MAX_FILTER_LENGTH + '"')
    assert f"{MAX_FILTER_LENGTH:,}" in detail
    # the same limits on /Groups and on POST .search
    assert crowd.get("/Groups", filter=" or ".join(
        f'displayName eq "g{i}"' for i in range(MAX_FILTER_TERMS + 1))).get_json()["scimType"] == "invalidFilter"
    response = crowd.post("/Users/.search", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                                             "filter": nested(MAX_FILTER_DEPTH + 1)[0]})
    assert response.status_code == 400 and response.get_json()["scimType"] == "invalidFilter"


# Random filter trees over a few users, compared with the same filter evaluated in Python.

USERS = 24
COMPARE = {"eq": operator.eq, "ne": operator.ne, "gt": operator.gt, "ge": operator.ge, "lt": operator.lt,
           "le": operator.le, "co": lambda a, b: b in a, "sw": str.startswith, "ew": str.endswith}


def _emails(i: int) -> list[tuple[str, str]]:
    return [(e["type"], e["value"].lower()) for e in attributes_of(i)["emails"]]


def _leaf(kind: str, op: str, j: int, part: str) -> tuple[str, set[int]]:
    everyone = range(USERS)
    if kind == "userName":
        value = part if part.startswith("user") else f"USER{j:05d}"
        return f'userName {op} "{value}"', {i for i in everyone if COMPARE[op](f"user{i:05d}", value.lower())}
    if kind == "emails":
        value = f"user{j:05d}@example.com" if not part else part
        if op == "ne":  # no email equals it
            return f'emails ne "{value}"', {i for i in everyone if all(v != value for _, v in _emails(i))}
        return f'emails {op} "{value}"', {i for i in everyone if any(COMPARE[op](v, value) for _, v in _emails(i))}
    if kind == "title":
        return f'title eq "{part or "staff"}"', {i for i in everyone if attributes_of(i)["title"].lower() == (
            part or "staff")}
    # a value path: both conditions on the same email
    return (f'emails[type eq "home" and value {op} "{part or f"home{j:05d}"}"]',
            {i for i in everyone if any(t == "home" and COMPARE[op](v, part or f"home{j:05d}") for t, v in _emails(i))})


leaves = st.builds(_leaf, st.sampled_from(["userName", "emails", "title", "path"]),
                   st.sampled_from(sorted(COMPARE)), st.integers(0, USERS + 2),
                   st.sampled_from(["", "user0001", "home", ".org", "example", "lead", "user00009@example.com"]))


def _node(children: list[tuple[str, set[int]]], op: str) -> tuple[str, set[int]]:
    text = f" {op} ".join(f"({child})" for child, _ in children)
    sets = [selected for _, selected in children]
    return text, (set.union(*sets) if op == "or" else set.intersection(*sets))


trees = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(_node, st.lists(inner, min_size=2, max_size=4), st.sampled_from(["and", "or"])),
        inner.map(lambda child: (f"not ({child[0]})", set(range(USERS)) - child[1]))),
    max_leaves=12)


@pytest.fixture
def few(client, database, account):
    seed(account, USERS)
    return tenant(client, account)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tree=trees)
def test_random_filter_trees_select_what_rfc_7644_says(few, tree):
    text, selected = tree
    response = few.get("/Users", filter=text, count=USERS, attributes="userName")
    if response.status_code == 400:  # only for nesting beyond the limits (not … stacked deep)
        assert response.get_json()["scimType"] == "invalidFilter"
        assert "at most" in response.get_json()["detail"] or "nests more than" in response.get_json()["detail"]
        return
    assert response.status_code == 200, (text, response.get_json())
    got = {int(r["userName"][4:]) for r in response.get_json()["Resources"]}
    assert got == selected, text


filter_words = st.sampled_from(['userName', 'emails', 'emails.value', 'emails[type eq "work"]', 'eq', 'ne', 'co',
                                'gt', 'pr', 'and', 'or', 'not', '(', ')', '[', ']', '"x"', '"user00001"', 'true',
                                'null', '42', 'meta.created', '"2026-01-01T00:00:00Z"', 'title', 'active', '\x00',
                                '"\\ud800"', ' '])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.lists(filter_words, max_size=40).map(" ".join), st.text(max_size=60)))
def test_any_filter_text_answers_or_is_a_scim_400(few, text):
    for response in (few.get("/Users", filter=text, count=3),
                     few.post("/Users/.search", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
                                                 "filter": text, "count": 3})):
        assert response.status_code in (200, 400), (text, response.status_code, response.get_data()[:300])
        if response.status_code == 400:
            assert response.get_json()["scimType"] in ("invalidFilter", "invalidValue", "invalidSyntax"), text
