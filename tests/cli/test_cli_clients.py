"""``roster client create|list|rotate-secret|delete``: the contract of issue 4 and its refusals."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from models import AuditEvent, OAuthClient, clients
from scim_server.cli import cli
from tests.cli.test_cli import Roster, _runner, as_json, ok, refused

APP = "https://app.example/callback"


@pytest.fixture
def roster(database, database_url, monkeypatch, tmp_path) -> Roster:
    """Runs ``roster …`` in-process against the test database (SQLite and PostgreSQL)."""
    return _runner(monkeypatch, tmp_path, database_url)


@pytest.fixture
def acme(roster) -> dict:
    return as_json(roster("account", "create", "Acme", "--type", "reseller", "--json"))


def _stored(client_id: str) -> OAuthClient:
    found = clients.get_client(client_id)
    assert found is not None
    return found


@pytest.mark.parametrize("command", [["client", "create"], ["client", "list"], ["client", "rotate-secret"],
                                     ["client", "delete"]], ids=" ".join)
def test_every_client_command_has_help(command):
    runner = CliRunner(env={"DATABASE_URL": "mysql://nowhere/roster"})
    result = runner.invoke(cli, [*command, "--help"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output


def test_create_confidential_json_prints_the_secret_once_and_stores_its_hash(roster, acme):
    data = as_json(roster("client", "create", "Acme", "--redirect-uri", APP,
                          "--backchannel-logout-uri", "https://app.example/bc", "--json"))

    assert {"client_id", "client_secret", "account", "redirect_uris", "public", "backchannel_logout_uri"} <= set(data)
    assert data["account"] == acme["id"]
    assert (data["redirect_uris"], data["public"], data["backchannel_logout_uri"]) == (
        [APP], False, "https://app.example/bc")
    stored = _stored(data["client_id"])
    assert data["client_secret"] and clients.check_secret(stored, data["client_secret"])
    assert data["client_secret"] not in (stored.secret_hash or "")
    listed = as_json(roster("client", "list", "Acme", "--json"))
    assert [c["client_id"] for c in listed] == [data["client_id"]]
    assert "client_secret" not in listed[0]


def test_create_public_json_has_a_null_secret(roster, acme):
    data = as_json(roster("client", "create", acme["id"], "--redirect-uri", "http://localhost:3000/cb",
                          "--redirect-uri", "https://spa.example/cb", "--public", "--json"))

    assert data["client_secret"] is None and data["public"] is True
    assert data["redirect_uris"] == ["http://localhost:3000/cb", "https://spa.example/cb"]
    assert data["backchannel_logout_uri"] is None
    assert _stored(data["client_id"]).secret_hash is None


def test_create_text_output_shows_client_id_and_secret_with_a_warning(roster, acme):
    output = ok(roster("client", "create", "Acme", "--redirect-uri", APP, "--name", "Shop",
                       "--third-party")).stdout

    [client] = OAuthClient.select()
    assert f"client_id: {client.client_id}" in output
    secret = output.split("client_secret: ", 1)[1].split()[0]
    assert clients.check_secret(client, secret)
    assert "shown this once" in output
    assert (client.name, client.first_party) == ("Shop", False)


def test_create_text_output_of_a_public_client_has_no_secret(roster, acme):
    output = ok(roster("client", "create", "Acme", "--redirect-uri", APP, "--public")).stdout

    assert "client_id: " in output and "client_secret" not in output


def test_create_refuses_an_unknown_account(roster, acme):
    refused(roster("client", "create", "Nope", "--redirect-uri", APP), "No account with id or name 'Nope'")
    refused(roster("client", "list", "Nope"), "No account with id or name 'Nope'")

    assert OAuthClient.select().count() == 0


@pytest.mark.parametrize(("uri", "message"), [("http://app.example/cb", "https://"),
                                              ("https://app.example/cb#x", "fragment"),
                                              ("/cb", "absolute")])
def test_create_refuses_a_bad_redirect_uri(roster, acme, uri, message):
    refused(roster("client", "create", "Acme", "--redirect-uri", uri), message)

    assert OAuthClient.select().count() == 0


def test_create_refuses_a_bad_backchannel_uri(roster, acme):
    refused(roster("client", "create", "Acme", "--redirect-uri", APP, "--backchannel-logout-uri", "nope"),
            "absolute http:// or https://")


def test_create_requires_a_redirect_uri(roster, acme):
    result = roster("client", "create", "Acme")

    assert result.exit_code == 2
    assert "--redirect-uri" in result.output


def test_list_text_shows_a_table(roster, acme):
    ok(roster("client", "create", "Acme", "--redirect-uri", APP, "--name", "Shop"))

    output = ok(roster("client", "list", "Acme")).stdout
    assert "CLIENT ID" in output and "Shop" in output and "confidential" in output and APP in output


def test_list_of_an_account_without_clients_says_so(roster, acme):
    assert "has no clients" in ok(roster("client", "list", "Acme")).stdout
    assert as_json(roster("client", "list", "Acme", "--json")) == []


def test_rotate_secret_prints_a_new_secret_and_the_old_one_stops_working(roster, acme):
    created = as_json(roster("client", "create", "Acme", "--redirect-uri", APP, "--json"))

    rotated = as_json(roster("client", "rotate-secret", created["client_id"], "--json"))

    assert rotated["client_id"] == created["client_id"]
    assert rotated["client_secret"] != created["client_secret"]
    stored = _stored(created["client_id"])
    assert clients.check_secret(stored, rotated["client_secret"])
    assert not clients.check_secret(stored, created["client_secret"])
    text = ok(roster("client", "rotate-secret", created["client_id"])).stdout
    assert "client_secret: " in text and "shown this once" in text


def test_rotate_secret_refuses_a_public_or_unknown_client(roster, acme):
    public = as_json(roster("client", "create", "Acme", "--redirect-uri", APP, "--public", "--json"))

    refused(roster("client", "rotate-secret", public["client_id"]), "public client has no secret")
    refused(roster("client", "rotate-secret", "nope"), "No client with id 'nope'")


def test_delete_removes_the_client(roster, acme):
    created = as_json(roster("client", "create", "Acme", "--redirect-uri", APP, "--json"))

    output = ok(roster("client", "delete", created["client_id"])).stdout

    assert created["client_id"] in output
    assert clients.get_client(created["client_id"]) is None
    refused(roster("client", "delete", created["client_id"]), "No client with id")


def test_every_change_is_audited_as_the_cli_without_secrets(roster, acme):
    created = as_json(roster("client", "create", "Acme", "--redirect-uri", APP, "--json"))
    rotated = as_json(roster("client", "rotate-secret", created["client_id"], "--json"))
    ok(roster("client", "delete", created["client_id"]))

    events = list(AuditEvent.select().where(AuditEvent.target_type == "oauth_client").order_by(AuditEvent.id))
    assert [e.action for e in events] == ["client.created", "client.secret_rotated", "client.deleted"]
    assert {e.actor_type for e in events} == {"cli"}
    text = " ".join(str(e.detail) for e in AuditEvent.select())
    assert created["client_secret"] not in text and rotated["client_secret"] not in text
