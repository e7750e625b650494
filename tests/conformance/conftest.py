"""A live Roster server for the suites that speak HTTP, on each database of tests/conftest.py."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from conformance.live_server import LiveServer, ServerError, serve
from tests.conftest import IN_CI, SECRET_KEY


def require(tool: str, found: bool, how: str) -> None:
    """A missing tool skips the test locally (visible with -ra) and fails it in CI."""
    if found:
        return
    message = f"{tool} is missing: {how}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def require_node() -> None:
    require("node", shutil.which("node") is not None, "install Node.js ≥ 20.18")


@pytest.fixture
def live_server(database_url, tmp_path, monkeypatch) -> Iterator[LiveServer]:
    """`roster init --json` for a fresh account, then `roster serve` on a free port.

    The database is the one of ``database_url``: a new SQLite file, or TEST_DATABASE_URL
    emptied the way every PostgreSQL test empties it.
    """
    monkeypatch.setenv("ROSTER_SECRET_KEY", SECRET_KEY)
    try:
        with serve(database_url, workdir=tmp_path) as server:
            yield server
    except ServerError as exc:
        pytest.fail(str(exc))
