"""``roster connection create|set|list|delete``: the contract (names, flags, JSON keys), secrets kept out of sight,
SAML metadata from a file and from a URL on loopback, and refusals that change nothing."""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest
from click.testing import CliRunner, Result

from models import AuditEvent, connections
from models.connections import Connection, client_secret
from models.crypto import Secrets
from models.database import db
from models.settings import Settings
from scim_server.cli import cli
from tests.cli.test_cli import PASSWORD, Roster, _runner, as_json, ok, refused
from tests.conftest import SECRET_KEY
from tests.dns_server import LoopbackDns
from tests.idp.metadata import ENTITY_ID, MetadataServer, idp_metadata

SECRET = "upstream-client-secret-Xq7!v9"
BASE = "http://roster.test/sso"
OIDC_KEYS = {"id", "kind", "redirect_uri"}
SAML_KEYS = {"id", "kind", "entity_id", "acs_url", "metadata_url"}
LISTED = {"id", "account_id", "kind", "name", "enabled", "sso_required", "jit", "default_role", "default_groups",
          "trust_upstream_mfa", "claim_mapping", "start_url", "linked_identities", "created_at", "updated_at"}


@pytest.fixture
def loopback_dns():
    with LoopbackDns() as server:
        yield server


@pytest.fixture
def roster(database, database_url, monkeypatch, tmp_path, loopback_dns) -> Roster:
    monkeypatch.setenv("ROSTER_DNS_NAMESERVERS", loopback_dns.nameserver)
    monkeypatch.setenv("ROSTER_DNS_TIMEOUT", "2")
    return _runner(monkeypatch, tmp_path, database_url)


@pytest.fixture
def acme(roster) -> dict[str, Any]:
    """Acme with one active admin, boss@acme.example."""
    account: dict[str, Any] = as_json(roster("account", "create", "Acme", "--type", "reseller", "--json"))
    ok(roster("user", "create", "Acme", "boss@acme.example", "--role", "admin", "--password-stdin",
              input=PASSWORD + "\n"))
    return account


@pytest.fixture
def metadata_file(tmp_path):
    path = tmp_path / "idp-metadata.xml"
    path.write_text(idp_metadata(), encoding="utf-8")
    return path


def oidc(roster: Roster, *extra: str, account: str = "Acme", secret: str | None = SECRET) -> Result:
    args = ["connection", "create", account, "--oidc", "--issuer", "https://idp.acme.example/",
            "--client-id", "roster-client", *extra]
    if secret is not None:
        args.append("--client-secret-stdin")
    return roster(*args, input=None if secret is None else secret + "\n")


def registered(connection_id: str) -> connections.Urls:
    return connections.urls(connection_id, Settings(secret_key=SECRET_KEY, base_url="http://roster.test"))


def usage(result: Result, message: str) -> Result:
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    return result


def shown(result: Result) -> str:
    return result.stdout + result.stderr


def connection_row(connection_id: str) -> Connection:
    return Connection.get_by_id(connection_id)


@pytest.mark.parametrize("command", [["connection"], ["connection", "create"], ["connection", "set"],
                                     ["connection", "list"], ["connection", "delete"]], ids=" ".join)
def test_every_connection_command_has_help(command):
    result = CliRunner(env={"DATABASE_URL": "mysql://nowhere/roster"}).invoke(cli, [*command, "--help"],
                                                                              catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output


# ----------------------------------------------------------------- create


def test_create_oidc_json_is_the_contract_and_the_secret_is_stored_encrypted(roster, acme):
    result = oidc(roster, "--scope", "email", "--scope", "groups", "--name", "Acme Okta", "--json")
    data = as_json(result)

    assert set(data) == OIDC_KEYS
    assert data["kind"] == "oidc"
    assert data["redirect_uri"] == registered(data["id"]).redirect_uri and data["redirect_uri"].startswith(BASE)
    assert SECRET not in shown(result)
    row = connection_row(data["id"])
    assert (row.name, row.issuer, row.client_id, row.enabled) == ("Acme Okta", "https://idp.acme.example",
                                                                  "roster-client", False)
    assert row.scopes == ["openid", "email", "groups"]
    stored = db.execute_sql(f"SELECT client_secret FROM connection WHERE id = {db.param}", (data["id"],)).fetchone()[0]
    assert stored and SECRET not in stored
    assert client_secret(row, Secrets(SECRET_KEY)) == SECRET
    event = AuditEvent.get(AuditEvent.action == "connection.created")
    assert (event.actor_type, event.target_id) == ("cli", data["id"])
    assert SECRET not in json.dumps(event.detail)


def test_create_oidc_text_says_what_to_register_and_that_it_is_disabled(roster, acme):
    result = ok(oidc(roster))
    row = Connection.get()
    assert registered(row.id).redirect_uri in result.stdout
    assert "disabled" in result.stdout and f"roster connection set {row.id} --enabled" in result.stdout
    assert row.name == "idp.acme.example" and row.scopes == ["openid", "email", "profile"]
    assert SECRET not in shown(result)


def test_create_saml_from_a_file(roster, acme, metadata_file):
    data = as_json(roster("connection", "create", "Acme", "--saml", "--metadata-file", str(metadata_file),
                          "--name", "Acme SAML", "--json"))

    assert set(data) == SAML_KEYS
    assert data["kind"] == "saml"
    urls = registered(data["id"])
    assert data["entity_id"] == data["metadata_url"] == urls.entity_id == f"{BASE}/saml/{data['id']}/metadata"
    assert data["acs_url"] == urls.acs_url == f"{BASE}/saml/{data['id']}/acs"
    row = connection_row(data["id"])
    assert (row.kind, row.name, row.idp_entity_id, row.idp_metadata_url) == ("saml", "Acme SAML", ENTITY_ID, "")
    assert row.idp_metadata_xml == metadata_file.read_text() and not row.enabled
    text = ok(roster("connection", "create", "Acme", "--saml", "--metadata-file", str(metadata_file))).stdout
    other = Connection.select().where(Connection.id != data["id"]).get()
    assert f"{BASE}/saml/{other.id}/acs" in text and f"{BASE}/saml/{other.id}/metadata" in text


def test_create_saml_from_a_url_fetches_it_and_keeps_the_url(roster, acme):
    with MetadataServer(idp_metadata()) as server:
        data = as_json(roster("connection", "create", "Acme", "--saml", "--metadata-url", server.url, "--json"))

    assert set(data) == SAML_KEYS
    row = connection_row(data["id"])
    assert (row.idp_entity_id, row.idp_metadata_url) == (ENTITY_ID, server.url)
    assert row.idp_metadata_xml == idp_metadata()
    assert row.name == "idp.acme.example"


# ----------------------------------------------------------------- list


def test_list_json_has_the_policy_and_urls_and_never_the_secret(roster, acme, metadata_file):
    made_oidc = as_json(oidc(roster, "--name", "B OIDC", "--json"))
    made_saml = as_json(roster("connection", "create", "Acme", "--saml", "--metadata-file", str(metadata_file),
                               "--name", "A SAML", "--json"))
    result = roster("connection", "list", "Acme", "--json")
    listed = as_json(result)

    assert SECRET not in shown(result)
    assert [c["id"] for c in listed] == [made_saml["id"], made_oidc["id"]]  # by name
    saml, oidc_one = listed
    assert set(saml) == LISTED | {"idp_entity_id", "idp_metadata_url", "mfa_contexts", "entity_id", "acs_url",
                                  "metadata_url"}
    assert set(oidc_one) == LISTED | {"issuer", "client_id", "scopes", "redirect_uri"}
    assert (oidc_one["issuer"], oidc_one["client_id"], oidc_one["redirect_uri"]) == (
        "https://idp.acme.example", "roster-client", made_oidc["redirect_uri"])
    assert saml["idp_entity_id"] == ENTITY_ID
    assert {k: saml[k] for k in ("entity_id", "acs_url", "metadata_url")} == {k: made_saml[k] for k in
                                                                             ("entity_id", "acs_url", "metadata_url")}
    assert (oidc_one["enabled"], oidc_one["sso_required"], oidc_one["jit"], oidc_one["default_role"],
            oidc_one["default_groups"], oidc_one["trust_upstream_mfa"]) == (False, False, False, "user", [], False)
    assert oidc_one["start_url"] == f"{BASE}/{made_oidc['id']}/start"
    assert oidc_one["linked_identities"] == 0 and oidc_one["created_at"].endswith("Z")


def test_list_text_and_empty(roster, acme):
    assert "Acme has no connections." in ok(roster("connection", "list", "Acme")).stdout
    assert as_json(roster("connection", "list", acme["id"], "--json")) == []
    made = as_json(oidc(roster, "--json"))
    result = ok(roster("connection", "list", "Acme"))
    assert made["id"] in result.stdout and "https://idp.acme.example" in result.stdout and "disabled" in result.stdout
    assert SECRET not in shown(result)


# ----------------------------------------------------------------- set


def test_set_changes_each_switch_and_leaves_the_rest(roster, acme):
    made = as_json(oidc(roster, "--json"))
    ok(roster("group", "create", "Acme", "Engineering"))
    ok(roster("group", "create", "Acme", "Sales"))
    sales = next(g for g in as_json(roster("group", "list", "Acme", "--json")) if g["name"] == "Sales")

    ok(roster("connection", "set", made["id"], "--enabled", "--jit", "--default-role", "admin",
              "--default-group", "engineering", "--default-group", sales["id"], "--trust-upstream-mfa"))
    [listed] = as_json(roster("connection", "list", "Acme", "--json"))
    assert (listed["enabled"], listed["jit"], listed["default_role"], listed["trust_upstream_mfa"],
            listed["sso_required"]) == (True, True, "admin", True, False)
    assert listed["default_groups"] == ["Engineering", "Sales"]

    result = ok(roster("connection", "set", made["id"], "--disabled", "--no-jit", "--no-trust-upstream-mfa",
                       "--default-role", "user"))
    assert "disabled" in result.stdout and "JIT off" in result.stdout
    [listed] = as_json(roster("connection", "list", "Acme", "--json"))
    assert (listed["enabled"], listed["jit"], listed["default_role"], listed["trust_upstream_mfa"]) == (
        False, False, "user", False)
    assert listed["default_groups"] == ["Engineering", "Sales"]  # not given: kept
    ok(roster("connection", "set", made["id"], "--sso-required"))
    assert connection_row(made["id"]).sso_required
    ok(roster("connection", "set", made["id"], "--no-sso-required"))
    assert not connection_row(made["id"]).sso_required
    events = AuditEvent.select().where(AuditEvent.action == "connection.updated").order_by(AuditEvent.id)
    assert events.count() == 4 and all(e.actor_type == "cli" for e in events)
    assert SECRET == client_secret(connection_row(made["id"]), Secrets(SECRET_KEY))  # untouched


def test_set_refusals_change_nothing(roster, acme):
    made = as_json(oidc(roster, "--json"))
    before = connection_row(made["id"])

    refused(roster("connection", "set", made["id"], "--enabled", "--default-group", "Nobody"),
            "No group 'Nobody' in Acme.")
    refused(roster("connection", "set", "no-such-connection", "--enabled"), "No connection no-such-connection.")
    usage(roster("connection", "set", made["id"]), "Nothing to change")
    usage(roster("connection", "set", made["id"], "--default-role", "owner"), "'owner' is not one of")

    after = connection_row(made["id"])
    assert (after.enabled, after.default_groups, after.updated_at) == (before.enabled, before.default_groups,
                                                                       before.updated_at)
    assert not AuditEvent.select().where(AuditEvent.action == "connection.updated").exists()


def test_switching_sso_required_on_warns_who_loses_their_password(roster, acme, loopback_dns):
    added = as_json(roster("domain", "add", "Acme", "acme.example", "--json"))
    loopback_dns.publish(added["record"], added["value"])
    ok(roster("domain", "verify", "Acme", "acme.example"))
    ok(roster("user", "create", "Acme", "ann@acme.example", "--password-stdin", input=PASSWORD + "\n"))
    made = as_json(oidc(roster, "--json"))

    alone = ok(roster("connection", "set", made["id"], "--sso-required"))
    assert ("2 member(s) with an email in the account's verified domains can no longer use a password"
            in alone.stderr)
    assert "0 active admin(s) outside those domains" in alone.stderr
    assert "No admin can get in without the IdP" in alone.stderr
    assert "takes effect when the connection is enabled" in alone.stderr

    ok(roster("user", "create", "Acme", "rescue@elsewhere.example", "--role", "admin", "--password-stdin",
              input=PASSWORD + "\n"))
    enabling = ok(roster("connection", "set", made["id"], "--enabled"))  # now it is in force: said again
    assert "1 active admin(s) outside those domains keep their password" in enabling.stderr
    assert "No admin can get in" not in enabling.stderr and "takes effect" not in enabling.stderr

    assert ok(roster("connection", "set", made["id"], "--jit")).stderr == ""  # already required: no warning
    ok(roster("connection", "set", made["id"], "--no-sso-required"))
    assert "Warning" not in ok(roster("connection", "set", made["id"], "--no-jit")).stderr


# ----------------------------------------------------------------- delete


def test_delete(roster, acme):
    made = as_json(oidc(roster, "--name", "Old IdP", "--json"))
    result = ok(roster("connection", "delete", made["id"]))
    assert f"Deleted the connection Old IdP ({made['id']})" in result.stdout
    assert Connection.select().count() == 0
    event = AuditEvent.get(AuditEvent.action == "connection.deleted")
    assert (event.actor_type, event.target_id) == ("cli", made["id"])
    refused(roster("connection", "delete", made["id"]), f"No connection {made['id']}.")


# ----------------------------------------------------------------- bad input


@pytest.mark.parametrize(("args", "message"), [
    (["--oidc", "--saml"], "Give --oidc or --saml (one of them)."),
    ([], "Give --oidc or --saml (one of them)."),
    (["--oidc", "--issuer", "https://idp.acme.example", "--client-id", "c"], "needs --client-secret-stdin"),
    (["--oidc", "--issuer", "https://idp.acme.example", "--client-id", "c", "--client-secret", SECRET],
     "No such option '--client-secret'"),
    (["--oidc", "--metadata-url", "https://idp.acme.example/md"], "--metadata-file and --metadata-url are for --saml"),
    (["--saml", "--issuer", "https://idp.acme.example"], "are for --oidc"),
    (["--saml"], "Give --metadata-file or --metadata-url (one of them)."),
    (["--saml", "--metadata-file", "x.xml", "--metadata-url", "https://idp.acme.example/md"],
     "Give --metadata-file or --metadata-url (one of them)."),
])
def test_usage_errors_exit_2_and_create_nothing(roster, acme, args, message):
    usage(roster("connection", "create", "Acme", *args, input=SECRET + "\n"), message)
    assert Connection.select().count() == 0


def test_an_empty_secret_line_is_refused(roster, acme):
    usage(oidc(roster, secret=""), "read an empty line")
    assert Connection.select().count() == 0


@pytest.mark.parametrize(("issuer", "message"), [
    ("idp.acme.example", "The issuer must be an https:// URL."),
    ("http://idp.acme.example", "plain http only on this machine"),
    ("https://user:pw@idp.acme.example", "cannot carry a user name"),
    ("", "The issuer is required."),
])
def test_a_bad_issuer_is_refused(roster, acme, issuer, message):
    result = roster("connection", "create", "Acme", "--oidc", "--issuer", issuer, "--client-id", "c",
                    "--client-secret-stdin", input=SECRET + "\n")
    refused(result, message)
    assert SECRET not in shown(result)
    assert Connection.select().count() == 0


def test_an_unknown_account_is_refused(roster, acme, metadata_file):
    refused(oidc(roster, account="Nobody"), "No account with id or name 'Nobody'")
    refused(roster("connection", "create", "Nobody", "--saml", "--metadata-file", str(metadata_file)),
            "No account with id or name 'Nobody'")
    refused(roster("connection", "list", "Nobody"), "No account with id or name 'Nobody'")
    assert Connection.select().count() == 0


@pytest.mark.parametrize(("xml", "message"), [
    ("not xml at all", "This is not SAML metadata Roster can read"),
    (idp_metadata(signing=False), "no signing certificate"),
    (idp_metadata(binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP"), "no SingleSignOnService"),
    ('<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://x.example"/>',
     "no identity provider"),
    ("", "Paste the IdP's metadata XML"),
])
def test_bad_metadata_is_refused_from_a_file_and_from_a_url(roster, acme, tmp_path, xml, message):
    path = tmp_path / "bad.xml"
    path.write_text(xml, encoding="utf-8")
    refused(roster("connection", "create", "Acme", "--saml", "--metadata-file", str(path)), message)
    with MetadataServer(xml) as server:
        refused(roster("connection", "create", "Acme", "--saml", "--metadata-url", server.url), message)
    assert Connection.select().count() == 0


def test_a_metadata_file_that_is_not_text_or_not_there_is_refused(roster, acme, tmp_path):
    binary = tmp_path / "binary.xml"
    binary.write_bytes(b"\xff\xfe\x00<")
    refused(roster("connection", "create", "Acme", "--saml", "--metadata-file", str(binary)), "is not UTF-8 text")
    refused(roster("connection", "create", "Acme", "--saml", "--metadata-file", str(tmp_path / "none.xml")),
            "Cannot read")
    assert Connection.select().count() == 0


@pytest.mark.parametrize(("url", "message"), [
    ("not a url", "The metadata URL is not a URL Roster can use."),
    ("ftp://idp.acme.example/md", "The metadata URL must be an https:// URL."),
    ("http://idp.acme.example/md", "plain http only on this machine"),
])
def test_a_bad_metadata_url_is_refused_before_anything_is_fetched(roster, acme, url, message):
    refused(roster("connection", "create", "Acme", "--saml", "--metadata-url", url), message)
    assert Connection.select().count() == 0


def test_a_metadata_url_answering_404_is_refused_and_its_connection_closed(roster, acme):
    with MetadataServer(idp_metadata()) as server:
        missing = server.url.replace("/metadata", "/nothing")
        refused(roster("connection", "create", "Acme", "--saml", "--metadata-url", missing),
                "The metadata URL answered HTTP 404.")
    assert Connection.select().count() == 0
    # an HTTPError left open is a ResourceWarning when collected: here, not in whichever test runs next
    gc.collect()


def test_a_metadata_url_nobody_listens_at_is_refused(roster, acme):
    with MetadataServer(idp_metadata()) as server:
        url = server.url
    refused(roster("connection", "create", "Acme", "--saml", "--metadata-url", url), "The metadata URL did not answer")
    assert Connection.select().count() == 0
