"""Probes: /health/live answers while the process does; /health/ready only with the database and every migration."""

from __future__ import annotations

from conformance.live_server import free_port
from models.database import db
from models.schema import runner
from scim_server.app import create_app

from ..conftest import SECRET_KEY, dispose


def test_live_and_ready_with_a_reachable_current_database(client):
    live = client.get("/health/live")
    assert live.status_code == 200 and live.get_json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.get_json() == {"status": "ok", "database": "ok", "migrations": "current"}
    for response in (live, ready):
        assert response.headers["Cache-Control"] == "no-store"  # a cached "ok" would hide an outage


def test_ready_is_503_while_a_migration_is_pending_and_live_stays_200(client):
    run = runner()
    last = max(run.applied())
    run.History.delete().where(run.History.name == last).execute()  # as if new code met an older schema
    db.close()
    ready = client.get("/health/ready")
    assert ready.status_code == 503
    assert ready.get_json() == {"status": "unavailable", "database": "ok", "migrations": "pending"}
    assert client.get("/health/live").status_code == 200
    run.History.create(name=last)  # as `roster db upgrade` records it once applied
    db.close()
    assert client.get("/health/ready").status_code == 200


def test_live_answers_and_ready_is_503_without_a_database():
    app = create_app({"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{free_port()}/none", "SECRET_KEY": SECRET_KEY})
    try:
        client = app.test_client()
        live, ready, healthz = client.get("/health/live"), client.get("/health/ready"), client.get("/healthz")
    finally:
        dispose(db.obj)
    assert live.status_code == 200
    assert ready.status_code == 503
    assert ready.get_json() == {"status": "unavailable", "database": "unreachable", "migrations": "unknown"}
    assert healthz.status_code == 503 and healthz.get_json()["database"] == "unreachable"
