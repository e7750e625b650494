"""``roster domain add|verify|list|remove``: the contract of issue 14 point 7, against a real DNS server on loopback."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from models import AuditEvent
from models.federation import Domain
from scim_server.cli import cli
from tests.cli.test_cli import Roster, _runner, as_json, ok, refused
from tests.dns_server import LoopbackDns


@pytest.fixture
def loopback_dns():
    with LoopbackDns() as server:
        yield server


@pytest.fixture
def roster(database, database_url, monkeypatch, tmp_path, loopback_dns) -> Roster:
    """``roster …`` in-process against the test database, its DNS the loopback server (ROSTER_DNS_NAMESERVERS)."""
    monkeypatch.setenv("ROSTER_DNS_NAMESERVERS", loopback_dns.nameserver)
    monkeypatch.setenv("ROSTER_DNS_TIMEOUT", "2")
    return _runner(monkeypatch, tmp_path, database_url)


@pytest.fixture
def acme(roster) -> dict:
    return as_json(roster("account", "create", "Acme", "--type", "reseller", "--json"))


@pytest.mark.parametrize("command", [["domain"], ["domain", "add"], ["domain", "verify"], ["domain", "list"],
                                     ["domain", "remove"]], ids=" ".join)
def test_every_domain_command_has_help(command):
    result = CliRunner(env={"DATABASE_URL": "mysql://nowhere/roster"}).invoke(cli, [*command, "--help"],
                                                                              catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output


def test_add_json_gives_the_record_to_publish_and_again_the_same(roster, acme):
    data = as_json(roster("domain", "add", "Acme", "Acme.Example.", "--json"))

    assert {"domain", "status", "record", "value"} <= set(data)
    assert (data["domain"], data["status"], data["record"]) == ("acme.example", "pending",
                                                                "_roster-challenge.acme.example")
    assert data["value"].startswith("roster-verification=")
    assert as_json(roster("domain", "add", acme["id"], "acme.example", "--json"))["value"] == data["value"]
    text = ok(roster("domain", "add", "Acme", "acme.example")).stdout
    assert "_roster-challenge.acme.example" in text and data["value"] in text


def test_verify_with_the_record_published_makes_the_domain_verified(roster, acme, loopback_dns):
    added = as_json(roster("domain", "add", "Acme", "acme.example", "--json"))
    loopback_dns.publish(added["record"], added["value"])

    data = as_json(roster("domain", "verify", "Acme", "acme.example", "--json"))

    assert (data["domain"], data["status"], data["verified"], data["reason"]) == ("acme.example", "verified", True,
                                                                                  None)
    assert data["verified_at"].endswith("Z")
    assert "is verified for Acme" in ok(roster("domain", "verify", "Acme", "acme.example")).stdout
    listed = as_json(roster("domain", "list", "Acme", "--json"))
    assert [(d["domain"], d["status"]) for d in listed] == [("acme.example", "verified")]


def test_verify_without_the_record_exits_1_with_the_reason(roster, acme, loopback_dns):
    added = as_json(roster("domain", "add", "Acme", "acme.example", "--json"))
    loopback_dns.publish(added["record"])  # the name exists, without a TXT record

    result = refused(roster("domain", "verify", "Acme", "acme.example"), "No TXT record at _roster-challenge")
    assert "acme.example is not verified" in result.stderr

    failed = roster("domain", "verify", "Acme", "acme.example", "--json")
    assert failed.exit_code == 1
    data = json.loads(failed.stdout)  # the JSON comes before the exit status that says it failed
    assert (data["status"], data["verified"], data["reason"]) == ("pending", False, "record_missing")
    assert added["value"] in data["message"]
    assert Domain.get(Domain.name == "acme.example").status == "pending"


def test_verify_with_a_wrong_value_or_no_name_says_so(roster, acme, loopback_dns):
    added = as_json(roster("domain", "add", "Acme", "acme.example", "--json"))
    refused(roster("domain", "verify", "Acme", "acme.example"), "NXDOMAIN")
    loopback_dns.publish(added["record"], "roster-verification=not-this-one")
    refused(roster("domain", "verify", "Acme", "acme.example"), "'roster-verification=not-this-one'")


def test_verify_when_dns_fails_exits_1_quickly_without_a_traceback(roster, acme, loopback_dns):
    added = as_json(roster("domain", "add", "Acme", "acme.example", "--json"))
    loopback_dns.publish(added["record"], added["value"])
    loopback_dns.failing = True
    refused(roster("domain", "verify", "Acme", "acme.example"), "DNS could not answer")


def test_a_domain_verified_by_another_account_is_refused_at_verification(roster, acme, loopback_dns):
    as_json(roster("account", "create", "Globex", "--type", "vendor", "--json"))
    theirs = as_json(roster("domain", "add", "Globex", "shared.example", "--json"))
    loopback_dns.publish(theirs["record"], theirs["value"])
    ok(roster("domain", "verify", "Globex", "shared.example"))
    mine = as_json(roster("domain", "add", "Acme", "shared.example", "--json"))
    assert mine["status"] == "pending"
    loopback_dns.publish(theirs["record"], theirs["value"], mine["value"])
    refused(roster("domain", "verify", "Acme", "shared.example"), "verified by another account")


@pytest.mark.parametrize(("name", "message"), [
    ("gmail.com", "free email provider"), ("10minutemail.com", "disposable"), ("*.acme.example", "wildcard"),
    ("10.0.0.1", "IP address"), ("intranet", "single label"), ("bad_name.example", "not a valid domain name"),
])
def test_refused_names_exit_1_and_add_nothing(roster, acme, name, message):
    refused(roster("domain", "add", "Acme", name), message)
    assert Domain.select().count() == 0


def test_list_and_remove(roster, acme, loopback_dns):
    assert "Acme has no domains." in ok(roster("domain", "list", "Acme")).stdout
    assert as_json(roster("domain", "list", "Acme", "--json")) == []
    for name in ("b.example", "a.example"):
        ok(roster("domain", "add", "Acme", name))
    text = ok(roster("domain", "list", "Acme")).stdout
    assert text.index("a.example") < text.index("b.example") and "pending" in text and "_roster-challenge." in text

    assert "Removed a.example from Acme." in ok(roster("domain", "remove", "Acme", "A.Example")).stdout
    assert [d["domain"] for d in as_json(roster("domain", "list", "Acme", "--json"))] == ["b.example"]
    refused(roster("domain", "remove", "Acme", "a.example"), "Acme has no domain a.example")
    refused(roster("domain", "list", "Nobody"), "No account with id or name 'Nobody'")
    assert AuditEvent.select().where(AuditEvent.action == "domain.removed").count() == 1


def test_a_bad_nameserver_setting_is_refused_with_its_name(database, database_url, monkeypatch, tmp_path):
    monkeypatch.setenv("ROSTER_DNS_NAMESERVERS", "dns.example")
    result = _runner(monkeypatch, tmp_path, database_url)("domain", "list", "Acme")
    refused(result, "dns_nameservers")
