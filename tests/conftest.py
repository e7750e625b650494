"""Fixtures shared by every test: the database (SQLite and PostgreSQL), a clock, actors, the app."""

from __future__ import annotations

import datetime as dt
import os

import peewee
import pytest

from models import Actor, accounts, clock, members
from models.database import bind, db, open_database
from models.deployment import Deployment
from models.schema import upgrade
from models.settings import Settings
from models.tenancy import Account
from oidc.links import PageLinks

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
SECRET_KEY = "test-secret-key-for-roster-tests-only"
BASE_URL = "http://roster.test"


def _postgres_url() -> str:
    if not TEST_DATABASE_URL:
        if IN_CI:
            pytest.fail("CI must test PostgreSQL: set TEST_DATABASE_URL")
        pytest.skip("PostgreSQL not configured: set TEST_DATABASE_URL=postgresql://… to run these")
    return TEST_DATABASE_URL


_postgres_ready: dict[str, bool] = {}


def dispose(database: peewee.Database) -> None:
    """Close every connection, pooled ones included (an unclosed one is a ResourceWarning)."""
    if not database.is_closed():
        database.close()
    if hasattr(database, "close_all"):
        database.close_all()


def _reset_postgres(url: str) -> peewee.Database:
    database = open_database(url)
    try:
        database.connect()
    except peewee.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {url} is unreachable: {exc}")
    bind(database)
    if url not in _postgres_ready:
        database.execute_sql("DROP SCHEMA public CASCADE")
        database.execute_sql("CREATE SCHEMA public")
        upgrade()
        _postgres_ready[url] = True
    else:
        tables = [t for t in database.get_tables() if t != "schema_migration"]
        database.execute_sql("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
    return database


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request, tmp_path) -> str:
    """A URL to an empty, migrated database of each kind."""
    if request.param == "postgres":
        url = _postgres_url()
        dispose(_reset_postgres(url))
        return url
    url = f"sqlite:///{tmp_path}/roster.sqlite3"
    bind(open_database(url))
    upgrade()
    db.close()
    return url


@pytest.fixture
def database(database_url):
    """The domain bound to a fresh database of each kind (SQLite, PostgreSQL)."""
    bind(open_database(database_url))
    db.connect(reuse_if_open=True)
    yield db.obj
    dispose(db.obj)


class Clock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        self.current = dt.datetime(2026, 1, 5, 9, 0, 0)

    def __call__(self) -> dt.datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += dt.timedelta(**delta)


@pytest.fixture
def frozen_clock():
    fake = Clock()
    clock.set_source(fake)
    yield fake
    clock.set_source(None)


@pytest.fixture
def cli_actor() -> Actor:
    return Actor.cli("tests")


@pytest.fixture
def account(database, cli_actor) -> Account:
    return accounts.create_account("Acme Vendor", "vendor", by=cli_actor)


@pytest.fixture(scope="session")
def deployment() -> Deployment:
    """What the domain is handed in tests: the ``app`` fixture's secret key and base URL, and the page links."""
    return Deployment(Settings(secret_key=SECRET_KEY, base_url=BASE_URL), PageLinks(BASE_URL))


@pytest.fixture
def admin(account, cli_actor, deployment):
    """An active admin of ``account`` with a real password; returns (membership, user)."""
    added = members.add_user(account, "admin@acme.example", given_name="Ada", family_name="Admin", role="admin",
                             password="correct horse battery staple", by=cli_actor, via="cli",
                             deployment=deployment)
    return added.membership, added.user


@pytest.fixture
def app(database_url):
    """The real Flask app on a fresh database of each kind."""
    from scim_server.app import create_app

    application = create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY, "TESTING": True,
                              "BASE_URL": "http://roster.test"})
    yield application
    dispose(db.obj)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def make_app(database_url, database):
    """Real apps on the test's database, each with its own settings, as instances of one deployment are.

    The models stay bound to ``database`` (the fixture that closes its
    connections): each app's own binding to the same URL is dropped.
    """
    from scim_server.app import create_app

    made = []

    def make(**config):
        try:
            return create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY, "TESTING": True,
                               "BASE_URL": "http://roster.test", **config})
        finally:
            made.append(db.obj)
            bind(database)

    yield make
    for unused in made:
        dispose(unused)


@pytest.fixture
def sign_in():
    """Give a test client a live session for ``user``, as a completed sign-in would (amr defaults to a password)."""
    from models import sessions
    from oidc.web_session import COOKIE

    def sign_in(test_client, user, *, amr=("pwd",), account_id=None):
        row, raw = sessions.start(user, account_id=account_id, amr=list(amr), ip="127.0.0.1", user_agent="pytest")
        test_client.set_cookie(COOKIE, raw, domain="localhost")
        return row

    return sign_in
