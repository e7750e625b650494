"""The PostgreSQL pool: no ping for a connection handed back moments ago, a ping for one idle longer."""

from __future__ import annotations

import time

import pytest

from models.database import open_database
from tests.conftest import _postgres_url, dispose


@pytest.fixture
def pool():
    database = open_database(_postgres_url())
    pings: list[int] = []
    adapter_check = database._adapter.is_connection_closed

    def counted(conn):
        pings.append(1)
        return adapter_check(conn)

    database._adapter.is_connection_closed = counted
    yield database, pings
    dispose(database)


def backend_pid(database) -> int:
    return database.execute_sql("SELECT pg_backend_pid()").fetchone()[0]


def hand_back_and_terminate(database) -> int:
    """A connection used and handed back to the pool, then ended by the server; its backend's pid."""
    database.connect()
    dropped = backend_pid(database)
    database.close()
    killer = open_database(_postgres_url())
    killer.connect()
    killer.execute_sql("SELECT pg_terminate_backend(%s)", (dropped,))
    dispose(killer)
    return dropped


def test_a_connection_handed_back_moments_ago_is_reused_without_a_round_trip(pool):
    database, pings = pool
    database.connect()
    first = backend_pid(database)
    database.close()
    database.connect()
    assert backend_pid(database) == first
    database.close()
    assert pings == []


def test_a_connection_idle_longer_is_pinged_and_replaced_when_the_server_dropped_it(pool, monkeypatch):
    database, pings = pool
    dropped = hand_back_and_terminate(database)

    monkeypatch.setattr(type(database), "TRUSTED_FOR_SECONDS", 0.0)
    database.connect()
    assert backend_pid(database) != dropped  # a fresh connection, not an error
    database.close()
    assert pings == [1]


def test_a_connection_the_server_dropped_moments_ago_is_replaced_not_used(pool):
    """A restart within the no-ping window: the server's goodbye is on the socket, so it is pinged."""
    database, pings = pool
    dropped = hand_back_and_terminate(database)
    time.sleep(0.05)  # the backend's termination notice reaches the socket

    database.connect()
    assert backend_pid(database) != dropped  # a fresh connection, not "terminating connection"
    database.close()
    assert pings == [1]
