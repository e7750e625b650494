"""/metrics: off by default, behind a bearer token when one is set; requests per route, SCIM operations,
sign-ins, the outbox; under a multi-worker `roster serve`, the counts of every worker summed."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from conformance import live_server
from models import Actor, accounts, outbox
from models.database import db
from scim_server.app import create_app
from tests.oidc.flow import PASSWORD, ready_person, submit
from tests.oidc.test_signin import totp_for
from tests.scim.scim_support import tenant, user

from ..conftest import SECRET_KEY, dispose


def rule_of(app, endpoint: str) -> str:
    return next(rule.rule for rule in app.url_map.iter_rules() if rule.endpoint == endpoint)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition, by name and labels."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def metrics_app(database_url: str, **config: str):
    return create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY, "TESTING": True,
                       "BASE_URL": "http://roster.test", **config})


@pytest.fixture
def metered(database_url):
    app = metrics_app(database_url, METRICS="1")
    yield app
    dispose(db.obj)


def test_metrics_are_off_unless_asked_for(client):
    assert client.get("/metrics").status_code == 404
    assert "roster_metrics" not in client.application.extensions


def test_requests_are_counted_per_route_and_status_never_per_path(metered):
    client = metered.test_client()
    scim = tenant(client, accounts.create_account("Acme Vendor", "vendor", by=Actor.cli("tests")))
    first = scim.create("ada@acme.example")
    second = scim.create("bob@acme.example")
    for record in (first, second, first):
        assert scim.get(f"/Users/{record['id']}").status_code == 200
    assert scim.post("/Users", user("ada@acme.example")).status_code == 409
    assert scim.get("/Users/no-such-id").status_code == 404
    assert client.get("/no/such/page/" + first["id"]).status_code == 404
    db.close()
    text = client.get("/metrics").get_data(as_text=True)
    found = samples(text)
    route = rule_of(metered, "scim.users.get_user")  # /scim/v2/Users/<…record_id>
    count = "roster_http_request_duration_seconds_count"
    assert value(found, count, method="GET", route=route, status="200") == 3
    assert value(found, count, method="GET", route=route, status="404") == 1
    assert value(found, count, method="POST", route="/scim/v2/Users", status="201") == 2
    assert value(found, count, method="GET", route="unmatched", status="404") == 1
    assert first["id"] not in text and second["id"] not in text  # ids never become series
    operations = "roster_scim_operations_total"
    assert value(found, operations, resource_type="User", operation="get", outcome="success") == 3
    assert value(found, operations, resource_type="User", operation="get", outcome="not_found") == 1
    assert value(found, operations, resource_type="User", operation="create", outcome="success") == 2
    assert value(found, operations, resource_type="User", operation="create", outcome="conflict") == 1
    # a histogram: the slow tail is visible, not only the mean
    assert value(found, "roster_http_request_duration_seconds_bucket", method="GET", route=route, status="200",
                 le="+Inf") == 3


def test_each_bulk_operation_counts_as_the_request_it_stands_for(metered):
    client = metered.test_client()
    scim = tenant(client, accounts.create_account("Acme Vendor", "vendor", by=Actor.cli("tests")))
    existing = scim.create("ada@acme.example")
    operations = [
        {"method": "POST", "path": "/Users", "bulkId": "b1", "data": user("bob@acme.example")},
        {"method": "POST", "path": "/Users", "bulkId": "b2", "data": user("ada@acme.example")},  # taken: 409
        {"method": "DELETE", "path": f"/Users/{existing['id']}"},
        {"method": "POST", "path": "/Groups", "bulkId": "g1", "data": {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Sales"}},
    ]
    response = scim.post("/Bulk", {"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
                                   "Operations": operations})
    assert response.status_code == 200, response.get_json()
    db.close()
    found = samples(client.get("/metrics").get_data(as_text=True))
    operations_total = "roster_scim_operations_total"
    assert value(found, operations_total, resource_type="Bulk", operation="bulk", outcome="success") == 1
    assert value(found, operations_total, resource_type="User", operation="create", outcome="success") == 2
    assert value(found, operations_total, resource_type="User", operation="create", outcome="conflict") == 1
    assert value(found, operations_total, resource_type="User", operation="delete", outcome="success") == 1
    assert value(found, operations_total, resource_type="Group", operation="create", outcome="success") == 1


def test_sign_ins_are_counted_by_result(metered, deployment):
    client = metered.test_client()
    account = accounts.create_account("Acme Vendor", "vendor", by=Actor.cli("tests"))
    ready_person(account, "pat@acme.example", deployment=deployment)
    db.close()
    refused = submit(client, client.get("/login"), "/login", email="pat@acme.example", password="wrong password")
    assert refused.status_code == 400
    signed_in = submit(client, client.get("/login"), "/login", email="pat@acme.example", password=PASSWORD)
    assert signed_in.status_code == 302
    found = samples(client.get("/metrics").get_data(as_text=True))
    assert value(found, "roster_sign_ins_total", result="wrong_password") == 1
    assert value(found, "roster_sign_ins_total", result="success") == 1
    assert value(found, "roster_sign_ins_total", result="locked") == 0


def test_second_factor_failures_and_lockouts_are_counted(metered, frozen_clock, deployment):
    client = metered.test_client()
    account = accounts.create_account("Acme Vendor", "vendor", by=Actor.cli("tests"))
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    totp_for(person, deployment)
    asked = submit(client, client.get("/login"), "/login", email="pat@acme.example", password=PASSWORD)
    assert asked.status_code == 302 and "/login/mfa" in asked.headers["Location"]
    page = client.get(asked.headers["Location"])
    for _ in range(6):  # the fifth wrong code locks, the sixth meets the lock
        submit(client, page, "/login/mfa", code="000000")
    for _ in range(6):  # and so for passwords
        submit(client, client.get("/login"), "/login", email="other@acme.example", password="wrong password")
    db.close()
    found = samples(client.get("/metrics").get_data(as_text=True))
    assert value(found, "roster_sign_ins_total", result="wrong_password") == 4
    assert value(found, "roster_sign_ins_total", result="locked") == 2
    assert value(found, "roster_sign_ins_total", result="mfa_failed") == 4
    assert value(found, "roster_sign_ins_total", result="mfa_locked") == 2
    assert value(found, "roster_sign_ins_total", result="success") == 0  # no session without the second factor


def test_the_outbox_backlog_and_its_oldest_message_are_read_when_scraped(metered, frozen_clock):
    client = metered.test_client()
    found = samples(client.get("/metrics").get_data(as_text=True))
    assert value(found, "roster_outbox_backlog_messages") == 0
    assert value(found, "roster_outbox_oldest_message_age_seconds") == 0
    outbox.enqueue(outbox.mail("a@example.com", "Hello", "Body"))
    frozen_clock.advance(minutes=10)
    outbox.enqueue(outbox.mail("b@example.com", "Hello", "Body"))
    frozen_clock.advance(seconds=30)
    db.close()
    found = samples(client.get("/metrics").get_data(as_text=True))
    assert value(found, "roster_outbox_backlog_messages") == 2
    assert value(found, "roster_outbox_oldest_message_age_seconds") == 630


def test_a_metrics_token_is_required_when_set(database_url):
    app = metrics_app(database_url, METRICS_TOKEN="scrape-secret-1")
    try:
        client = app.test_client()
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics").headers["WWW-Authenticate"].startswith("Bearer")
        for wrong in ("Bearer scrape-secret-2", "Bearer scrape-secret-1x", "Basic scrape-secret-1", "Bearer "):
            assert client.get("/metrics", headers={"Authorization": wrong}).status_code == 401, wrong
        answered = client.get("/metrics", headers={"Authorization": "Bearer scrape-secret-1"})
        assert answered.status_code == 200
        assert answered.mimetype == "text/plain"
        assert "roster_http_request_duration_seconds" in answered.get_data(as_text=True)
    finally:
        dispose(db.obj)


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _live_count(directory: Path) -> float:
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(directory))
    found = {(s.name, frozenset(s.labels.items())): s.value
             for family in registry.collect() for s in family.samples}
    return value(found, "roster_http_request_duration_seconds_count", method="GET", route="/health/live",
                 status="200")


@pytest.mark.e2e
def test_a_multi_worker_server_sums_every_workers_counts(database_url, tmp_path, monkeypatch):
    counts = tmp_path / "metrics"
    monkeypatch.setenv("ROSTER_METRICS", "1")
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(counts))
    with live_server.serve(database_url, workdir=tmp_path, workers=3) as server:
        root = server.base_url.removesuffix("/scim/v2")
        sent = 0
        per_worker: list[float] = []
        # sync workers take one request each at a time: concurrent ones spread over the workers
        for _ in range(10):
            with ThreadPoolExecutor(8) as pool:
                assert all(status == 200 for status, _ in pool.map(lambda _: _get(root + "/health/live"), range(40)))
            sent += 40
            files = sorted(counts.glob("histogram_*.db"))
            per_worker = []
            for file in files:
                alone = tmp_path / f"alone-{file.stem}"  # one worker's file on its own
                alone.mkdir(exist_ok=True)
                shutil.copy(file, alone / file.name)
                per_worker.append(_live_count(alone))
            if sum(1 for n in per_worker if n > 0) >= 2:
                break
        assert sum(1 for n in per_worker if n > 0) >= 2, per_worker  # several workers answered
        assert sum(per_worker) == sent
        # whichever worker answers the scrape, it reports every worker's requests
        for _ in range(3):
            status, text = _get(root + "/metrics")
            assert status == 200
            found = samples(text)
            assert value(found, "roster_http_request_duration_seconds_count", method="GET", route="/health/live",
                         status="200") == sent
            assert "roster_outbox_backlog_messages" in text
    assert counts.is_dir()  # the operator's directory stays; serve removes only one it made itself


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@example(method="GET", path="/[")
@given(method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "PROPFIND", "BREW", "get"]),
       path=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7e, exclude_characters="?#%"),
                    min_size=1, max_size=40))
def test_hostile_methods_and_paths_add_no_series(metered, method, path):
    """Series are bounded by the app's routes, the known methods and the statuses: nothing a caller sends names one."""
    client = metered.test_client()
    response = client.open("/scim/v2/" + path, method=method, headers={"Authorization": "Bearer nope"})
    assert response.status_code < 500
    client.open("/pages/" + path, method=method)  # not "//…": the test client would read a host there
    db.close()
    found = samples(client.get("/metrics").get_data(as_text=True))
    routes = {rule.rule for rule in metered.url_map.iter_rules()} | {"unmatched"}
    for (name, labels), _ in found.items():
        labels = dict(labels)
        if name.startswith("roster_http_request_duration_seconds"):
            assert labels["route"] in routes, labels
            assert labels["method"] in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"), labels
        if name.startswith("roster_scim_operations"):
            assert labels["resource_type"] in ("User", "Group", "all", "unknown", "Bulk", "Me", "Schema",
                                               "ResourceType", "ServiceProviderConfig"), labels
    assert len(metered.extensions["roster_metrics"]._children) < 200


@pytest.mark.e2e
def test_serve_makes_its_own_counts_directory_and_removes_it_when_it_stops(tmp_path, monkeypatch):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("ROSTER_METRICS", "1")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(scratch))  # where `roster serve` makes it
    with live_server.serve(workdir=tmp_path, workers=2) as server:
        root = server.base_url.removesuffix("/scim/v2")
        assert _get(root + "/health/live")[0] == 200
        made = list(scratch.glob("roster-metrics-*"))
        assert len(made) == 1 and list(made[0].glob("*.db"))
        status, text = _get(root + "/metrics")
        assert status == 200 and 'route="/health/live"' in text
    assert not list(scratch.glob("roster-metrics-*"))
