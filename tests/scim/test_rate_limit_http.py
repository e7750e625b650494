"""A SCIM token past its budget gets a SCIM Error 429 with Retry-After; reads stay free of writes (issue 11, 6)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playhouse.test_utils import count_queries

from conformance import live_server
from models import DirectoryRecord
from models.rate_limits import RateLimitCounter
from models.tenancy import ScimToken

from .scim_support import Tenant, tenant, user

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"


def assert_refused(response: Any, *, retry_after: int | None = None) -> None:
    assert response.status_code == 429, response.get_data(as_text=True)
    assert response.mimetype == "application/scim+json"
    body = response.get_json()
    assert body["schemas"] == [ERROR_SCHEMA] and body["status"] == "429"
    assert "limit" in body["detail"] and f"retry after {response.headers['Retry-After']} seconds" in body["detail"]
    seconds = int(response.headers["Retry-After"])
    assert 1 <= seconds <= 60
    if retry_after is not None:
        assert seconds == retry_after


def test_a_spent_token_is_refused_until_the_minute_ends_and_others_are_not(make_app, account, frozen_clock):
    client = make_app(SCIM_RATE_LIMIT=5).test_client()
    scim, other = tenant(client, account), tenant(client, account)
    frozen_clock.advance(seconds=15)
    for i in range(5):
        assert scim.get("/Users").status_code == 200, i
    refused = scim.post("/Users", user("late@example.com"))
    assert_refused(refused, retry_after=45)
    assert DirectoryRecord.select().count() == 0  # the refused request changed nothing
    assert_refused(scim.get("/ServiceProviderConfig"), retry_after=45)  # every SCIM path is counted
    # another token, even of the same account, has its own budget
    assert other.post("/Users", user("other@example.com")).status_code == 201
    frozen_clock.advance(seconds=45)  # the next minute
    assert scim.post("/Users", user("late@example.com")).status_code == 201


def test_a_bad_token_is_401_not_429_and_spends_nothing(make_app, account, frozen_clock):
    client = make_app(SCIM_RATE_LIMIT=1).test_client()
    scim = tenant(client, account)
    for _ in range(3):
        assert client.get("/scim/v2/Users", headers={"Authorization": "Bearer scim_nope"}).status_code == 401
    assert scim.get("/Users").status_code == 200
    assert_refused(scim.get("/Users"))


def test_zero_turns_the_limit_off(make_app, account, frozen_clock):
    client = make_app(SCIM_RATE_LIMIT=0).test_client()
    scim = tenant(client, account)
    assert all(scim.get("/ServiceProviderConfig").status_code == 200 for _ in range(300))
    assert RateLimitCounter.select().count() == 0


def test_the_environment_sets_the_budget_and_a_bad_value_stops_the_start(make_app, monkeypatch, account,
                                                                        frozen_clock):
    monkeypatch.setenv("ROSTER_SCIM_RATE_LIMIT", "2")
    scim = tenant(make_app().test_client(), account)
    assert [scim.get("/Users").status_code for _ in range(3)] == [200, 200, 429]
    monkeypatch.setenv("ROSTER_SCIM_RATE_LIMIT", "fast")
    with pytest.raises(ValueError, match="ROSTER_SCIM_RATE_LIMIT must be a whole number of requests per minute"):
        make_app()


def test_two_instances_share_one_budget_within_a_batch_each(make_app, account, frozen_clock):
    first, second = make_app(SCIM_RATE_LIMIT=300), make_app(SCIM_RATE_LIMIT=300)
    batch = first.extensions["roster_rate_limits"].scim.flush_every
    assert batch == 3
    secret = tenant(first.test_client(), account).token
    instances = [Tenant(account, secret, first.test_client()), Tenant(account, secret, second.test_client())]
    served = [0, 0]
    first_refusal = None
    for i in range(400):
        status = instances[i % 2].get("/ServiceProviderConfig").status_code
        if status == 200:
            served[i % 2] += 1
        else:
            assert status == 429
            first_refusal = sum(served) if first_refusal is None else first_refusal
    # none refused before the deployment spent its budget; at most one batch per instance beyond it
    assert first_refusal is not None and first_refusal >= 300
    assert 300 <= sum(served) <= 300 + 2 * batch
    assert min(served) >= 140  # each instance counted the other's requests, not only its own
    token = ScimToken.get(ScimToken.account == account.id)
    assert 300 <= RateLimitCounter.get_by_id(f"scim:{token.id}").requests <= sum(served)


def _sql(counted: Any) -> list[str]:
    return [str(record.msg[0] if isinstance(record.msg, tuple) else record.msg) for record in counted.get_queries()]


def test_a_read_adds_no_statement_but_one_write_per_batch(make_app, account, frozen_clock):
    reads = 40
    measured = {}
    for limit in (0, 6000):  # off, then the default
        scim = tenant(make_app(SCIM_RATE_LIMIT=limit).test_client(), account)
        record = scim.create(f"reader{limit}@example.com")
        with count_queries() as counted:
            for _ in range(reads):
                assert scim.get(f"/Users/{record['id']}").status_code == 200
        measured[limit] = _sql(counted)
    limited = [sql for sql in measured[6000] if "rate_limit_counter" in sql]
    # the create was the token's first request: the 20th and the 40th are in the count, the 60th is not
    assert len(limited) == 2 and all(sql.startswith("INSERT") for sql in limited)
    assert [sql for sql in measured[6000] if "rate_limit_counter" not in sql] == measured[0]
    assert not [sql for sql in measured[0] if not sql.startswith("SELECT")]  # the read itself writes nothing


METHODS = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"])
PATHS = st.sampled_from(["/Users", "/Groups", "/Bulk", "/.search", "/Users/.search", "/ServiceProviderConfig",
                         "/Schemas", "/ResourceTypes", "/Users/x", "/Groups/x"])
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                                  max_size=4), max_leaves=15)


@pytest.fixture
def spent(make_app, account, frozen_clock) -> Tenant:
    scim = tenant(make_app(SCIM_RATE_LIMIT=1).test_client(), account)
    assert scim.get("/Users").status_code == 200
    return scim


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(method=METHODS, path=PATHS, body=JSON, query=st.dictionaries(st.text(max_size=8), st.text(max_size=20),
                                                                     max_size=3))
def test_whatever_a_spent_token_sends_it_gets_a_scim_429_and_nothing_changes(spent, method, path, body, query):
    response = spent.client.open("/scim/v2" + path, method=method, query_string=query, data=json.dumps(body),
                                 headers={**spent.headers, "Content-Type": "application/scim+json"})
    if response.status_code == 405:  # the routing answers first: nothing was read or counted
        assert response.get_json()["status"] == "405"
        return
    assert_refused(response)
    assert DirectoryRecord.select().count() == 0


@pytest.mark.e2e
def test_the_workers_of_roster_serve_share_one_budget(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("ROSTER_SCIM_RATE_LIMIT", "200")  # a batch of 2 per worker
    with live_server.serve(database_url, tmp_path, workers=2) as live:
        headers = {"Authorization": f"Bearer {live.token}"}

        def status(_: int) -> int:
            return requests.get(f"{live.base_url}/ServiceProviderConfig", headers=headers, timeout=30).status_code

        if time.time() % 60 > 45:  # all of it inside one minute: start with the next one
            time.sleep(60 - time.time() % 60 + 0.1)
        with ThreadPoolExecutor(4) as pool:  # both workers busy at once
            statuses = list(pool.map(status, range(300)))
    assert set(statuses) == {200, 429}
    assert 200 <= statuses.count(200) <= 200 + 2 * 2
