"""The app factory: configuration order, /healthz, request ids and JSON logs."""

from __future__ import annotations

import io
import json
import logging
import socket

import pytest

from models import Actor
from models.database import db
from models.deployment import Deployment
from scim_server import logs
from scim_server.app import create_app, load_config

from ..conftest import SECRET_KEY, dispose


def test_config_defaults_then_environment_then_overrides(monkeypatch):
    monkeypatch.setenv("ROSTER_BASE_URL", "https://id.example.com")
    monkeypatch.setenv("ROSTER_SECRET_KEY", "from-environment")
    assert load_config()["BASE_URL"] == "https://id.example.com"
    assert load_config({"BASE_URL": "http://override"})["BASE_URL"] == "http://override"
    assert load_config()["MAIL_BACKEND"] == "log"


def test_factory_hands_the_domain_its_settings(app):
    assert Deployment.of(app).settings.secret_key == SECRET_KEY


def test_healthz_is_ok_with_the_database_reachable(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_healthz_is_503_when_the_database_is_unreachable():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    app = create_app({"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{closed_port}/none",
                      "SECRET_KEY": SECRET_KEY})
    try:
        response = app.test_client().get("/healthz")
    finally:
        dispose(db.obj)
    assert response.status_code == 503
    assert response.get_json()["database"] == "unreachable"


def test_every_response_carries_a_request_id(client):
    generated = client.get("/healthz").headers["X-Request-ID"]
    assert len(generated) == 32
    assert client.get("/healthz", headers={"X-Request-ID": "lb-1234"}).headers["X-Request-ID"] == "lb-1234"
    assert client.get("/healthz", headers={"X-Request-ID": "x" * 500}).headers["X-Request-ID"] != "x" * 500


def test_logs_are_one_json_object_per_line_with_the_request_id(client):
    stream = io.StringIO()
    logs.configure("INFO", stream)
    try:
        client.get("/healthz", headers={"X-Request-ID": "trace-me"})
    finally:
        logging.getLogger().handlers.clear()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [entry for entry in lines if entry.get("path") == "/healthz"]
    assert access and access[0]["request_id"] == "trace-me" and access[0]["status"] == 200


@pytest.mark.parametrize(
    "text",
    [
        "Authorization: Bearer rst_abcdefSECRET",
        'login with {"password": "hunter2-hunter2"}',
        "client_secret=verysecret&x=1",
        "token=abc.def.ghi",
    ],
)
def test_secrets_never_reach_the_logs(text):
    redacted = logs.redact(text)
    for secret in ("abcdefSECRET", "hunter2-hunter2", "verysecret", "abc.def.ghi"):
        assert secret not in redacted



def test_sql_parameters_never_reach_the_logs_even_at_debug(account, cli_actor, deployment):
    from models import invitations

    stream = io.StringIO()
    logs.configure("DEBUG", stream)
    try:
        invited = invitations.invite(account, "new@example.com", by=cli_actor, deployment=deployment)
    finally:
        logging.getLogger().handlers.clear()
    token = invited.link.rsplit("/", 1)[1]
    assert token not in stream.getvalue()


def test_the_audit_rows_of_a_request_carry_its_id_and_the_log_names_the_canonical_path(client, account):
    from models import AuditEvent, scim_tokens
    from models.audit import request_id

    _, token = scim_tokens.create_token(account, by=Actor.cli("tests"))
    stream = io.StringIO()
    logs.configure("INFO", stream)
    try:
        response = client.post("/scim/v2/users/", json={"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                                                        "userName": "traced@example.com"},
                               headers={"Authorization": f"Bearer {token}", "X-Request-ID": "trace-audit"})
    finally:
        logging.getLogger().handlers.clear()
    assert response.status_code == 201 and response.headers["X-Request-ID"] == "trace-audit"
    created = AuditEvent.select().where(AuditEvent.action == "directory_record.created").get()
    assert created.request_id == "trace-audit"
    assert request_id.get() == ""  # nothing of the request stays behind
    access = [json.loads(line) for line in stream.getvalue().splitlines() if '"status"' in line]
    assert access[-1]["path"] == "/scim/v2/Users" and access[-1]["status"] == 201
    assert access[-1]["request_id"] == "trace-audit"
