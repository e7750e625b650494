"""The database away: 503 with Retry-After in each surface's own format, then recovery with no restart.

PostgreSQL is a server of the test's own (tests/own_postgres.py), stopped and
started under a running app; SQLite is a file locked by another writer, or
gone. The classification (models.database.is_unavailable) is checked on real
errors of both databases: a refusal (constraint, deadlock, bad SQL) is never
taken for an outage.
"""

from __future__ import annotations

import json
import sqlite3
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import peewee
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance import live_server
from models import Actor, accounts, scim_tokens
from models.database import DatabaseUnavailableError, bind, db, is_unavailable, open_database
from models.deployment import Deployment as DomainDeployment
from models.schema import upgrade
from scim_server.app import create_app
from tests.conftest import SECRET_KEY, dispose
from tests.oidc.flow import REDIRECT, RelyingParty, ready_person
from tests.own_postgres import own_postgres  # noqa: F401  (a fixture)
from tests.scim.scim_support import USER_SCHEMA, Tenant

SCIM_ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


# ------------------------------------------------------------------ classification


def _raise_sqlstate(code: str) -> BaseException:
    """The error PostgreSQL itself raises with SQLSTATE ``code``, as peewee hands it over."""
    try:
        db.execute_sql(f"DO $$ BEGIN RAISE EXCEPTION 'test' USING ERRCODE = '{code}'; END $$")
    except Exception as exc:
        return exc
    raise AssertionError("nothing was raised")


@pytest.mark.parametrize(("sqlstate", "unavailable"), [
    ("57P01", True),  # admin_shutdown: the server is stopping
    ("57P03", True),  # cannot_connect_now: starting up
    ("53300", True),  # too_many_connections
    ("08006", True),  # connection_failure
    ("40P01", False),  # deadlock_detected: the request's own race, retried or refused by the domain
    ("40001", False),  # serialization_failure
    ("57014", False),  # query_canceled: a statement timeout is not an outage
    ("23505", False),  # unique_violation
    ("23503", False),  # foreign_key_violation
    ("22P05", False),  # untranslatable_character (NUL)
    ("42P01", False),  # undefined_table
])
def test_postgresql_errors_are_classified_by_sqlstate(own_postgres, sqlstate, unavailable):  # noqa: F811
    bind(open_database(own_postgres.url))
    try:
        raised = _raise_sqlstate(sqlstate)
        assert isinstance(raised, peewee.DatabaseError)
        assert isinstance(raised, DatabaseUnavailableError) is unavailable
        assert is_unavailable(raised) is unavailable
    finally:
        dispose(db.obj)


def test_sqlite_refusals_are_not_outages_and_a_lock_beyond_the_timeout_is(tmp_path):
    bind(open_database(f"sqlite:///{tmp_path}/roster.sqlite3"))
    try:
        db.execute_sql("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE)")
        db.execute_sql("INSERT INTO t (name) VALUES ('a')")
        refusals = ["INSERT INTO t (name) VALUES ('a')", "INSERT INTO t (name) VALUES (NULL)",
                    "SELECT * FROM missing", "SELEKT 1"]
        for sql in refusals:
            with pytest.raises(peewee.DatabaseError) as refused:
                db.execute_sql(sql)
            assert not isinstance(refused.value, DatabaseUnavailableError), sql
            assert not is_unavailable(refused.value), sql
        other = sqlite3.connect(tmp_path / "roster.sqlite3", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            db.execute_sql("PRAGMA busy_timeout = 50")
            with pytest.raises(DatabaseUnavailableError) as locked:
                db.execute_sql("INSERT INTO t (name) VALUES ('b')")
            assert isinstance(locked.value.orig, sqlite3.OperationalError)
        finally:
            other.execute("ROLLBACK")
            other.close()
        db.execute_sql("INSERT INTO t (name) VALUES ('b')")  # the same connection, once the lock is gone
    finally:
        dispose(db.obj)


# ------------------------------------------------------------------ through the app


class Deployment:
    """The app on a database, with what each surface needs: a SCIM token, an OAuth client and its tokens."""

    def __init__(self, url: str) -> None:
        self.app = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET_KEY, "TESTING": True,
                               "BASE_URL": "http://roster.test", "METRICS": "1"})
        self.client = self.app.test_client()
        self.domain = DomainDeployment.of(self.app)
        account = accounts.create_account("Acme Vendor", "vendor", by=Actor.cli("tests"))
        _, token = scim_tokens.create_token(account, by=Actor.cli("tests"))
        self.scim = Tenant(account, token, self.client)
        self.rp = RelyingParty.register(account)
        ready_person(account, "pat@acme.example", deployment=self.domain)
        db.close()

    def surfaces(self) -> dict[str, Any]:
        """One request to each surface; the responses by name."""
        client, auth = self.client, self.rp.auth
        return {
            "scim list": self.scim.get("/Users"),
            "scim create": self.scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "away@acme.example"}),
            "token": client.post("/oauth/token", data={"grant_type": "refresh_token", "refresh_token": "x" * 43},
                                 auth=auth),
            "userinfo": client.get("/oauth/userinfo", headers={"Authorization": "Bearer " + "y" * 43}),
            "revoke": client.post("/oauth/revoke", data={"token": "z" * 43}, auth=auth),
            "introspect": client.post("/oauth/introspect", data={"token": "z" * 43}, auth=auth),
            "jwks": client.get("/oauth/jwks"),
            "authorize": client.get("/oauth/authorize", query_string={
                "response_type": "code", "client_id": self.rp.client_id, "redirect_uri": REDIRECT,
                "scope": "openid", "state": "s"}),
            "page": client.get("/invitations/" + "t" * 43),
        }


def assert_unavailable(responses: dict[str, Any]) -> None:
    for name, response in responses.items():
        assert response.status_code == 503, (name, response.status_code, response.get_data(as_text=True)[:500])
        assert int(response.headers["Retry-After"]) > 0, name
        if name.startswith("scim"):
            assert response.mimetype == "application/scim+json", name
            body = response.get_json(force=True)
            assert body["schemas"] == [SCIM_ERROR] and body["status"] == "503", (name, body)
            assert "retry" in body["detail"].lower()
        elif name in ("token", "userinfo", "revoke", "introspect", "jwks"):
            assert response.mimetype == "application/json", name
            assert response.get_json()["error"] == "temporarily_unavailable", name
            assert response.headers["Cache-Control"] == "no-store"
        else:  # pages, the authorization endpoint included: its redirect URI cannot be checked without the database
            assert response.mimetype == "text/html", name
            assert "Location" not in response.headers, name
            assert "temporarily unavailable" in response.get_data(as_text=True), name
            assert response.headers["X-Frame-Options"] == "DENY", name


def assert_served(deployment: Deployment) -> None:
    responses = deployment.surfaces()
    assert responses["scim list"].status_code == 200, responses["scim list"].get_json()
    assert responses["scim create"].status_code == 201, responses["scim create"].get_json()
    for name, response in responses.items():
        assert response.status_code < 500, (name, response.status_code)


@pytest.fixture
def postgres_deployment(own_postgres):  # noqa: F811
    database = open_database(own_postgres.url)
    bind(database)
    database.execute_sql("DROP SCHEMA public CASCADE")
    database.execute_sql("CREATE SCHEMA public")
    upgrade()
    dispose(database)
    deployment = Deployment(own_postgres.url)
    yield deployment
    if not own_postgres.is_running():
        own_postgres.start()
    dispose(db.obj)


def test_postgresql_stopped_answers_503_everywhere_then_recovers_without_a_restart(own_postgres,  # noqa: F811
                                                                                   postgres_deployment):
    client = postgres_deployment.client
    assert client.get("/scim/v2/Users", headers=postgres_deployment.scim.headers).status_code == 200
    own_postgres.stop()
    assert_unavailable(postgres_deployment.surfaces())
    assert client.get("/health/ready").status_code == 503
    assert client.get("/healthz").status_code == 503
    assert client.get("/health/live").status_code == 200
    # the metrics still answer (what is happening matters most now), without the outbox figures they cannot read
    scraped = client.get("/metrics").get_data(as_text=True)
    assert 'status="503"' in scraped and "roster_outbox_backlog_messages" not in scraped
    own_postgres.start()
    # the very next requests are served: the pool drops the dead connections and opens new ones
    assert client.get("/health/ready").status_code == 200
    # what was refused while the database was away was not half-applied: the create made nothing
    listed = postgres_deployment.scim.get("/Users", filter='userName eq "away@acme.example"').get_json()
    assert listed["totalResults"] == 0
    assert_served(postgres_deployment)
    # and a refusal is still a refusal, not an outage
    again = postgres_deployment.scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "away@acme.example"})
    assert again.status_code == 409


def test_a_sqlite_file_locked_beyond_the_busy_timeout_answers_503_then_serves(tmp_path):
    url = f"sqlite:///{tmp_path}/roster.sqlite3"
    bind(open_database(url))
    upgrade()
    dispose(db.obj)
    deployment = Deployment(url)
    try:
        with deployment.app.app_context():
            db.connect(reuse_if_open=True)
            db.execute_sql("PRAGMA busy_timeout = 100")  # the app's kept connection waits 0.1 s, not 30
        other = sqlite3.connect(tmp_path / "roster.sqlite3", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            refused = deployment.scim.post("/Users", {"schemas": [USER_SCHEMA], "userName": "away@acme.example"})
            assert_unavailable({"scim create": refused})
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert_served(deployment)
    finally:
        dispose(db.obj)


def test_a_sqlite_file_that_cannot_be_opened_answers_503_then_serves_once_it_is_back(tmp_path):
    path = tmp_path / "roster.sqlite3"
    url = f"sqlite:///{path}"
    bind(open_database(url))
    upgrade()
    dispose(db.obj)
    deployment = Deployment(url)
    aside = tmp_path / "aside.sqlite3"
    try:
        path.rename(aside)
        path.mkdir()  # what stands at the path cannot be opened as a database
        assert_unavailable(deployment.surfaces())
        path.rmdir()
        aside.rename(path)
        assert_served(deployment)
    finally:
        dispose(db.obj)


# ------------------------------------------------------------------ a live server


def _request(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any, Any]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.mark.e2e
def test_a_live_server_answers_503_while_postgresql_is_stopped_and_serves_again_after(own_postgres,  # noqa: F811
                                                                                     tmp_path: Path):
    database = open_database(own_postgres.url)
    bind(database)
    database.execute_sql("DROP SCHEMA public CASCADE")
    database.execute_sql("CREATE SCHEMA public")
    dispose(database)
    with live_server.serve(own_postgres.url, workdir=tmp_path, workers=2) as server:
        root = server.base_url.removesuffix("/scim/v2")
        users = server.base_url + "/Users"
        bearer = {"Authorization": f"Bearer {server.token}"}
        assert _request(users, headers=bearer)[0] == 200
        own_postgres.stop()
        try:
            for _ in range(4):  # whichever worker answers
                status, headers, body = _request(users, headers=bearer)
                assert status == 503, body
                assert headers["Content-Type"].startswith("application/scim+json")
                assert json.loads(body)["status"] == "503" and int(headers["Retry-After"]) > 0
                status, headers, body = _request(root + "/oauth/token", data=b"grant_type=refresh_token&"
                                                 b"refresh_token=abc&client_id=x&client_secret=y")
                assert status == 503 and json.loads(body)["error"] == "temporarily_unavailable", body
                assert _request(root + "/health/ready")[0] == 503
                assert _request(root + "/health/live")[0] == 200
        finally:
            own_postgres.start()
        for _ in range(4):
            assert _request(users, headers=bearer)[0] == 200
            assert _request(root + "/health/ready")[0] == 200


# ------------------------------------------------------------------ generated traffic while the database is away

SCIM_PATHS = st.sampled_from(["/Users", "/Users/{id}", "/Groups", "/Groups/{id}", "/Users/.search", "/.search",
                              "/Bulk", "/Me", "/Schemas", "/ResourceTypes", "/ServiceProviderConfig"])
OAUTH_PATHS = st.sampled_from(["/oauth/token", "/oauth/userinfo", "/oauth/revoke", "/oauth/introspect",
                               "/oauth/authorize", "/oauth/logout", "/oauth/jwks"])
# raw query strings, hostile ones included (NUL, bytes that are not UTF-8, stray separators)
QUERIES = st.one_of(st.just(b""), st.binary(max_size=30),
                    st.lists(st.sampled_from([b"filter=", b"userName", b"%00", b"%ff", b"&", b"=", b"count=9999999999",
                                              b"startIndex=-1", b"client_id=", b"redirect_uri=", b"%20eq%20"]),
                             max_size=6).map(b"".join)).map(lambda raw: raw.decode("latin-1"))  # as WSGI carries it
BODIES = st.one_of(st.none(), st.dictionaries(st.text(max_size=12), st.one_of(st.text(max_size=20), st.integers(),
                                                                              st.booleans()), max_size=4))


@pytest.fixture(params=["sqlite", "postgres"])
def away(request, tmp_path):
    """A deployment whose database has just gone away: SQLite's file unopenable, or its own PostgreSQL stopped."""
    if request.param == "postgres":
        server = request.getfixturevalue("own_postgres")
        deployment = request.getfixturevalue("postgres_deployment")
        server.stop()
        yield deployment
        return
    path = tmp_path / "roster.sqlite3"
    bind(open_database(f"sqlite:///{path}"))
    upgrade()
    dispose(db.obj)
    deployment = Deployment(f"sqlite:///{path}")
    path.rename(tmp_path / "aside.sqlite3")
    path.mkdir()
    yield deployment
    dispose(db.obj)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_generated_requests_while_the_database_is_away_get_503_in_their_surfaces_format_never_500(away, data):
    client = away.client
    if data.draw(st.booleans(), label="scim"):
        path = "/scim/v2" + data.draw(SCIM_PATHS).format(id=data.draw(st.uuids()).hex)
        method = data.draw(st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]))
        response = client.open(path, method=method, json=data.draw(BODIES), headers=away.scim.headers,
                               query_string=data.draw(QUERIES))
        assert response.status_code in (503, 404, 405), (method, path, response.status_code)
        assert response.mimetype == "application/scim+json"
        if response.status_code == 503:
            assert int(response.headers["Retry-After"]) > 0
            assert response.get_json()["status"] == "503"
        return
    path = data.draw(OAUTH_PATHS)
    method = data.draw(st.sampled_from(["GET", "POST"]))
    fields = {k: str(v) for k, v in (data.draw(BODIES) or {}).items()}
    if data.draw(st.booleans(), label="known client"):
        fields.update(client_id=away.rp.client_id, redirect_uri=REDIRECT, response_type="code", scope="openid")
    if data.draw(st.booleans(), label="raw query"):
        response = client.open(path, method=method, query_string=data.draw(QUERIES), auth=away.rp.auth)
    else:
        response = (client.get(path, query_string=fields) if method == "GET"
                    else client.post(path, data=fields, auth=away.rp.auth))
    assert response.status_code < 500 or response.status_code == 503, (method, path, response.status_code)
    if response.status_code == 503:
        assert int(response.headers["Retry-After"]) > 0
        if path in ("/oauth/authorize", "/oauth/logout"):
            assert response.mimetype == "text/html" and "Location" not in response.headers
        else:
            assert response.get_json()["error"] == "temporarily_unavailable"
