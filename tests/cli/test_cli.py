"""The ``roster`` command line: each command, its --json shape and its refusals (exit 1, nothing changed)."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import CliRunner, Result

from models import (
    Account,
    AuditEvent,
    GroupMember,
    Invitation,
    Membership,
    OutboxMessage,
    ScimToken,
    User,
    accounts,
    invitations,
    members,
    schema,
    scim_tokens,
)
from models.database import db
from scim_server.cli import cli
from tests.conftest import SECRET_KEY

BASE_URL = "http://roster.test"
PASSWORD = "correct horse battery staple"

Roster = Callable[..., Result]


def _release_database() -> None:
    """Give the connection back before the CLI binds its own database (a pool keeps it otherwise)."""
    if db.obj is None:
        return
    if not db.is_closed():
        db.close()
    if hasattr(db.obj, "close_all"):
        db.obj.close_all()


def _runner(monkeypatch: pytest.MonkeyPatch, tmp_path, url: str) -> Roster:
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("ROSTER_SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("ROSTER_BASE_URL", BASE_URL)
    monkeypatch.setenv("ROSTER_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ROSTER_MAIL_BACKEND", "log")
    monkeypatch.delenv("ROSTER_ADMIN_EMAIL", raising=False)
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        _release_database()
        # a crash must fail the test, not pass for an exit status of 1
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def roster(database, database_url, monkeypatch, tmp_path) -> Roster:
    """Runs ``roster …`` in-process against the test database (SQLite and PostgreSQL)."""
    return _runner(monkeypatch, tmp_path, database_url)


@pytest.fixture
def fresh_roster(monkeypatch, tmp_path) -> Roster:
    """Runs ``roster …`` against an SQLite file that has no schema yet."""
    yield _runner(monkeypatch, tmp_path, f"sqlite:///{tmp_path}/fresh.sqlite3")
    _release_database()


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    return result


def refused(result: Result, message: str) -> Result:
    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert "Traceback" not in result.output
    return result


def as_json(result: Result):
    return json.loads(ok(result).stdout)


@pytest.fixture
def acme(roster) -> dict:
    """An account made by the CLI with an active admin (boss@acme.example)."""
    account = as_json(roster("account", "create", "Acme", "--type", "reseller", "--json"))
    ok(roster("user", "create", "Acme", "boss@acme.example", "--role", "admin", "--password-stdin",
              input=PASSWORD + "\n"))
    return account


def counts() -> dict[str, int]:
    return {model.__name__: model.select().count()
            for model in (Account, User, Membership, Invitation, ScimToken, AuditEvent, OutboxMessage, GroupMember)}


# ----------------------------------------------------------------- help, configuration


COMMANDS = [
    ["init"], ["serve"], ["db", "upgrade"], ["db", "status"], ["outbox", "send"],
    ["account", "create"], ["account", "list"], ["account", "show"], ["account", "set-policy"],
    ["user", "create"], ["user", "list"], ["user", "update"], ["user", "deactivate"], ["user", "reactivate"],
    ["user", "remove"],
    ["invite"], ["invite", "send"], ["invite", "list"], ["invite", "resend"], ["invite", "revoke"], ["invite", "link"],
    ["group", "create"], ["group", "list"], ["group", "add"], ["group", "remove"],
    ["token", "create"], ["token", "list"], ["token", "revoke"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command):
    # a URL no command could open: help must not need the configuration or the database
    runner = CliRunner(env={"DATABASE_URL": "mysql://nowhere/roster"})
    result = runner.invoke(cli, [*command, "--help"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output


def test_a_bad_database_url_is_a_clear_error(fresh_roster, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "mysql://db/roster")
    refused(fresh_roster("account", "list"), "DATABASE_URL must start with sqlite:/// or postgresql://")


def test_a_missing_schema_is_a_clear_error(fresh_roster):
    refused(fresh_roster("account", "list"), "Database error")


def test_usage_errors_exit_2(roster):
    assert roster("account", "create", "X", "--type", "planet").exit_code == 2
    assert roster("user", "list").exit_code == 2
    assert roster("nonsense").exit_code == 2


# ----------------------------------------------------------------- init


def test_init_creates_the_account_its_admin_and_a_token(roster):
    data = as_json(roster("init", "--admin-email", "admin@acme.example", "--json"))
    assert set(data) == {"created", "account", "admin_email", "admin_link", "scim_base_url", "scim_token",
                         "migrations_applied"}
    assert data["created"] is True
    assert data["migrations_applied"] == []  # the fixture's database is migrated already
    assert data["account"]["name"] == "Default"
    account = Account.get_by_id(data["account"]["id"])
    assert account.type == "vendor"
    assert data["admin_email"] == "admin@acme.example"
    assert data["scim_base_url"] == BASE_URL + "/scim/v2"
    assert data["admin_link"].startswith(BASE_URL + "/invitations/")
    token = data["admin_link"].rsplit("/", 1)[1]
    view = invitations.lookup(token)
    assert view.status == "pending" and view.needs_registration
    membership = Membership.get_by_id(view.invitation.membership_id)
    assert (membership.role, membership.status, membership.created_via) == ("admin", "invited", "cli")
    assert scim_tokens.authenticate(data["scim_token"]).account_id == account.id
    assert AuditEvent.select().where(AuditEvent.actor_type == "cli").count() >= 3


def test_init_twice_changes_nothing_and_makes_no_second_token(roster):
    first = as_json(roster("init", "--account", "Acme", "--admin-email", "admin@acme.example", "--json"))
    before = counts()
    second = as_json(roster("init", "--account", "Acme", "--admin-email", "admin@acme.example", "--json"))
    assert counts() == before
    assert second["created"] is False
    assert second["scim_token"] is None
    assert second["account"] == first["account"]
    assert second["admin_email"] == "admin@acme.example"
    assert second["admin_link"] == first["admin_link"]  # still pending: the same link
    assert second["scim_base_url"] == first["scim_base_url"]
    text = ok(roster("init", "--account", "Acme")).stdout
    assert "nothing changed" in text and first["admin_link"] in text and "rst_" not in text
    assert counts() == before


def test_init_again_after_the_admin_registered_prints_no_link(roster, deployment):
    first = as_json(roster("init", "--admin-email", "admin@acme.example", "--json"))
    invitations.accept(first["admin_link"].rsplit("/", 1)[1], given_name="Ada", family_name="Admin",
                       password=PASSWORD, accept_terms=True, hasher=deployment.hasher)
    again = as_json(roster("init", "--json"))
    assert again["admin_email"] == "admin@acme.example"
    assert again["admin_link"] is None


def test_init_text_shows_link_scim_url_and_token(roster):
    text = ok(roster("init", "--admin-email", "admin@acme.example")).stdout
    assert "Created account Default" in text
    assert BASE_URL + "/invitations/" in text
    assert f"SCIM base URL: {BASE_URL}/scim/v2" in text
    assert "SCIM token (shown once, store it now): rst_" in text


def test_init_needs_an_admin_email_the_first_time(roster):
    result = roster("init")
    assert result.exit_code == 2
    assert "--admin-email" in result.stderr
    assert Account.select().count() == 0


def test_init_refuses_another_admin_once_initialised(roster):
    ok(roster("init", "--admin-email", "admin@acme.example"))
    before = counts()
    refused(roster("init", "--admin-email", "someone@acme.example"), "initialised already")
    assert counts() == before


def test_init_with_an_invalid_admin_email_creates_nothing(roster):
    refused(roster("init", "--admin-email", "not-an-email"), "not a valid email address")
    assert Account.select().count() == 0
    assert ScimToken.select().count() == 0


def test_init_creates_the_schema_of_an_empty_database(fresh_roster):
    data = as_json(fresh_roster("init", "--admin-email", "admin@acme.example", "--json"))
    assert data["created"] is True
    assert data["migrations_applied"] == list(schema.status())
    assert schema.is_current()


# ----------------------------------------------------------------- db, serve, outbox


def test_db_status_and_upgrade_on_an_empty_database(fresh_roster):
    status = as_json(fresh_roster("db", "status", "--json"))
    assert status["current"] is False
    assert status["migrations"] and all(m == {"name": m["name"], "applied": False} for m in status["migrations"])
    assert "pending" in ok(fresh_roster("db", "status")).stdout
    names = [m["name"] for m in status["migrations"]]
    assert f"Applied {len(names)} migration(s): {', '.join(names)}." in ok(fresh_roster("db", "upgrade")).stdout
    assert "up to date" in ok(fresh_roster("db", "upgrade")).stdout
    assert as_json(fresh_roster("db", "status", "--json"))["current"] is True


def test_serve_refuses_a_database_without_schema(fresh_roster):
    refused(fresh_roster("serve", "--port", "1"), "roster init")


def test_serve_refuses_an_out_of_date_schema(fresh_roster):
    first = as_json(fresh_roster("db", "status", "--json"))["migrations"][0]["name"]
    schema.upgrade(first)
    _release_database()
    refused(fresh_roster("serve", "--port", "1"), "roster db upgrade")


def test_db_status_on_a_migrated_database(roster):
    assert as_json(roster("db", "status", "--json"))["current"] is True
    assert "up to date" in ok(roster("db", "upgrade")).stdout


def test_outbox_send_once_delivers_what_is_due(roster, acme):
    ok(roster("invite", "Acme", "a@acme.example", "b@acme.example"))
    due = OutboxMessage.select().where(OutboxMessage.status == "pending").count()
    assert due >= 2
    assert ok(roster("outbox", "send", "--once")).stdout.strip() == f"Delivered {due} message(s)."
    assert OutboxMessage.select().where(OutboxMessage.status == "pending").count() == 0


def test_outbox_send_refuses_a_mail_backend_that_cannot_work(roster, monkeypatch):
    monkeypatch.setenv("ROSTER_MAIL_BACKEND", "pigeon")
    refused(roster("outbox", "send", "--once"), "MAIL_BACKEND")


# ----------------------------------------------------------------- accounts


def test_account_create_list_show(roster):
    parent = as_json(roster("account", "create", "Vendor Co", "--type", "vendor", "--json"))
    assert set(parent) == {"id", "name", "type", "parent_id", "mfa_required", "invitation_ttl_days",
                           "allowed_email_domains", "created_at"}
    assert (parent["name"], parent["type"], parent["parent_id"], parent["mfa_required"]) == (
        "Vendor Co", "vendor", None, False)
    child = as_json(roster("account", "create", "Reseller Co", "--type", "reseller", "--parent", "Vendor Co",
                           "--mfa-required", "--json"))
    assert child["parent_id"] == parent["id"] and child["mfa_required"] is True
    assert "Created distributor account Dist" in ok(roster("account", "create", "Dist", "--type",
                                                            "distributor")).stdout
    listed = as_json(roster("account", "list", "--json"))
    assert [a["name"] for a in listed] == ["Dist", "Reseller Co", "Vendor Co"]
    assert listed[1] == child
    assert "Reseller Co" in ok(roster("account", "list")).stdout
    shown = as_json(roster("account", "show", parent["id"], "--json"))
    assert shown == {**parent, "members": {"invited": 0, "active": 0, "deactivated": 0}}
    assert "name: Vendor Co" in ok(roster("account", "show", "Vendor Co")).stdout


def test_account_create_refuses_a_duplicate_name(roster):
    ok(roster("account", "create", "Acme", "--type", "vendor"))
    refused(roster("account", "create", "Acme", "--type", "reseller"), "exists already")
    assert Account.select().count() == 1


def test_account_refusals(roster):
    refused(roster("account", "show", "nope"), "No account with id or name 'nope'")
    refused(roster("account", "create", "Child", "--type", "reseller", "--parent", "nope"), "No account")
    assert Account.select().count() == 0


def test_account_set_policy(roster, acme):
    data = as_json(roster("account", "set-policy", "Acme", "--mfa-required", "--invitation-ttl", "3",
                          "--allowed-domain", "acme.example", "--allowed-domain", "@Acme.org", "--json"))
    assert (data["mfa_required"], data["invitation_ttl_days"], data["allowed_email_domains"]) == (
        True, 3, ["acme.example", "acme.org"])
    data = as_json(roster("account", "set-policy", "Acme", "--no-mfa-required", "--json"))
    assert (data["mfa_required"], data["invitation_ttl_days"]) == (False, 3)
    data = as_json(roster("account", "set-policy", acme["id"], "--any-domain", "--json"))
    assert data["allowed_email_domains"] == []
    assert "invitation_ttl_days: 3" in ok(roster("account", "set-policy", "Acme")).stdout


def test_account_set_policy_refusals(roster, acme):
    refused(roster("account", "set-policy", "Acme", "--invitation-ttl", "0"), "1 to 90")
    assert Account.get_by_id(acme["id"]).invitation_ttl_days == 7
    assert roster("account", "set-policy", "Acme", "--any-domain", "--allowed-domain", "x.example").exit_code == 2
    refused(roster("account", "set-policy", "Nope", "--mfa-required"), "No account")


# ----------------------------------------------------------------- users


MEMBER_KEYS = {"id", "account_id", "user_id", "email", "given_name", "family_name", "status", "role",
               "permissions", "created_via", "created_at", "preset", "modules", "sub_account_scope"}


def test_user_create_with_a_password_from_stdin(roster, acme, deployment):
    data = as_json(roster("user", "create", "Acme", "Ann@Acme.example", "--given-name", "Ann", "--family-name",
                          "Lee", "--preset", "support", "--password-stdin", "--json",
                          input="another fine passphrase\nignored\n"))
    assert set(data) == {"member", "created_user", "temporary_password_sent"}
    assert set(data["member"]) == MEMBER_KEYS
    assert data["created_user"] is True and data["temporary_password_sent"] is False
    member = data["member"]
    assert (member["email"], member["given_name"], member["status"], member["role"], member["created_via"]) == (
        "Ann@acme.example", "Ann", "active", "user", "cli")
    assert "support" in member["permissions"]
    user = User.get_by_id(member["user_id"])
    assert deployment.hasher.verify(user.password_hash, "another fine passphrase")
    assert not user.must_change_password


def test_user_create_with_a_temporary_password_mails_it(roster, acme):
    for flags in ([], ["--temporary-password"]):
        email = f"temp{len(flags)}@acme.example"
        result = ok(roster("user", "create", "Acme", email, *flags))
        assert "temporary password was mailed" in result.stdout
        assert User.get(User.email == email).must_change_password
        assert OutboxMessage.select().where((OutboxMessage.recipient == email)
                                            & (OutboxMessage.subject.contains("account for Acme"))).exists()


def test_user_create_refusals(roster, acme):
    before = counts()
    refused(roster("user", "create", "Acme", "not an email"), "not a valid email address")
    refused(roster("user", "create", "Acme", "boss@acme.example"), "already a member")
    refused(roster("user", "create", "Nope", "x@acme.example"), "No account with id or name 'Nope'")
    refused(roster("user", "create", "Acme", "weak@acme.example", "--password-stdin", input="short\n"), "")
    assert counts() == before
    assert roster("user", "create", "Acme", "x@acme.example", "--password-stdin", "--temporary-password",
                  input=PASSWORD + "\n").exit_code == 2
    assert roster("user", "create", "Acme", "x@acme.example", "--password-stdin", input="\n").exit_code == 2
    assert counts() == before


def test_user_list(roster, acme):
    ok(roster("user", "create", "Acme", "zoe@acme.example", "--password-stdin", input=PASSWORD + "\n"))
    ok(roster("user", "deactivate", "Acme", "zoe@acme.example"))
    listed = as_json(roster("user", "list", "Acme", "--json"))
    assert [(m["email"], m["status"], m["role"]) for m in listed] == [
        ("boss@acme.example", "active", "admin"), ("zoe@acme.example", "deactivated", "user")]
    assert all(set(m) == MEMBER_KEYS for m in listed)
    only = as_json(roster("user", "list", acme["id"], "--status", "deactivated", "--json"))
    assert [m["email"] for m in only] == ["zoe@acme.example"]
    assert "zoe@acme.example" in ok(roster("user", "list", "Acme")).stdout
    refused(roster("user", "list", "Nope"), "No account with id or name 'Nope'")


def test_user_deactivate_reactivate_remove(roster, acme):
    ok(roster("user", "create", "Acme", "zoe@acme.example", "--password-stdin", input=PASSWORD + "\n"))
    account = accounts.get_account("Acme")
    assert "Deactivated" in ok(roster("user", "deactivate", "Acme", "zoe@acme.example")).stdout
    assert members.get_membership(account, "zoe@acme.example").status == "deactivated"
    assert "Reactivated" in ok(roster("user", "reactivate", "Acme", "ZOE@acme.example")).stdout
    assert members.get_membership(account, "zoe@acme.example").status == "active"
    assert "Removed" in ok(roster("user", "remove", "Acme", "zoe@acme.example")).stdout
    assert User.select().where(User.email == "zoe@acme.example").exists()  # the person stays
    refused(roster("user", "remove", "Acme", "zoe@acme.example"), "not a member of Acme")


def test_the_last_admin_cannot_be_removed_or_deactivated(roster, acme):
    before = counts()
    for action in ("remove", "deactivate"):
        refused(roster("user", action, "Acme", "boss@acme.example"), "at least one active admin")
    assert counts() == before
    membership = members.get_membership(accounts.get_account("Acme"), "boss@acme.example")
    assert (membership.status, membership.role) == ("active", "admin")


def test_the_admin_roster_init_invited_cannot_be_removed_deactivated_or_uninvited(roster):
    as_json(roster("init", "--admin-email", "admin@acme.example", "--json"))
    before = counts()
    for command in (["user", "remove"], ["user", "deactivate"], ["invite", "revoke"]):
        refused(roster(*command, "Default", "admin@acme.example"), "at least one active or invited admin")
    assert counts() == before
    membership = members.get_membership(accounts.get_account("Default"), "admin@acme.example")
    assert (membership.status, membership.role) == ("invited", "admin")
    # with a second admin invited, the first may go
    ok(roster("invite", "Default", "deputy@acme.example", "--role", "admin"))
    assert "Revoked" in ok(roster("invite", "revoke", "Default", "admin@acme.example")).stdout
    refused(roster("user", "remove", "Default", "deputy@acme.example"), "at least one active or invited admin")


def test_every_invocation_audits_as_the_cli_with_its_own_request_id(roster, acme):
    ok(roster("group", "create", "Acme", "One"))
    ok(roster("group", "create", "Acme", "Two"))
    events = list(AuditEvent.select().where(AuditEvent.action == "group.created").order_by(AuditEvent.id))
    assert [e.actor_type for e in events] == ["cli", "cli"]
    assert all(len(e.request_id) == 32 for e in events)
    assert events[0].request_id != events[1].request_id


# ----------------------------------------------------------------- invitations


def test_invite_reports_each_email(roster, acme):
    ok(roster("account", "create", "Other", "--type", "vendor"))
    ok(roster("user", "create", "Other", "elsewhere@acme.example", "--password-stdin", input=PASSWORD + "\n"))
    ok(roster("invite", "Acme", "pending@acme.example"))
    ok(roster("group", "create", "Acme", "Sales"))
    results = as_json(roster(
        "invite", "Acme", "new@acme.example", "elsewhere@acme.example", "boss@acme.example",
        "pending@acme.example", "bad-email", "x@mailinator.com", "--group", "Sales", "--preset", "purchasing",
        "--json"))
    assert [(r["email"], r["outcome"]) for r in results] == [
        ("new@acme.example", "invited"), ("elsewhere@acme.example", "added"),
        ("boss@acme.example", "already_member"), ("pending@acme.example", "already_invited"),
        ("bad-email", "rejected"), ("x@mailinator.com", "rejected")]
    assert all(set(r) == {"email", "outcome", "reason", "membership_id", "invitation_id", "link"} for r in results)
    assert results[0]["link"].startswith(BASE_URL + "/invitations/")
    assert "disposable" in results[5]["reason"]
    new = Membership.get_by_id(results[0]["membership_id"])
    assert (new.status, new.created_via) == ("invited", "cli")
    assert "orders" in new.permissions
    assert GroupMember.select().where(GroupMember.membership == new.id).count() == 1


def test_invite_text_output_and_exit_status(roster, acme):
    result = ok(roster("invite", "Acme", "a@acme.example", "boss@acme.example"))
    lines = result.stdout.splitlines()
    assert lines[0].startswith("a@acme.example: invited, link " + BASE_URL)
    assert lines[1].startswith("boss@acme.example: already member:")
    before = counts()
    result = refused(roster("invite", "Acme", "boss@acme.example", "nope"), "Nobody was invited")
    assert "boss@acme.example: already member" in result.stdout and "nope: rejected" in result.stdout
    assert counts() == before
    failed = json.loads(refused(roster("invite", "Acme", "nope", "--json"), "Nobody was invited").stdout)
    assert failed[0]["outcome"] == "rejected"


def test_invite_refusals(roster, acme):
    before = counts()
    refused(roster("invite", "Nope", "a@acme.example"), "No account with id or name 'Nope'")
    refused(roster("invite", "Acme", "a@acme.example", "--group", "Missing"), "No group")
    assert counts() == before
    assert roster("invite", "Acme").exit_code == 2
    assert roster("invite", "Acme", "a@acme.example", "--role", "owner").exit_code == 2


def test_invite_send_is_the_explicit_form(roster, acme):
    results = as_json(roster("invite", "send", "Acme", "a@acme.example", "--json"))
    assert results[0]["outcome"] == "invited"


def test_invite_list_link_resend_revoke(roster, acme):
    [invited] = as_json(roster("invite", "Acme", "a@acme.example", "--json"))
    ok(roster("invite", "Acme", "b@acme.example"))
    listed = as_json(roster("invite", "list", "Acme", "--json"))
    assert {i["email"] for i in listed} == {"a@acme.example", "b@acme.example"}
    assert all(set(i) == {"id", "email", "given_name", "family_name", "status", "expires_at", "sent_count",
                          "last_sent_at", "created_at"} for i in listed)
    assert all(i["status"] == "pending" for i in listed)
    assert invited["link"] not in json.dumps(listed)

    assert ok(roster("invite", "link", "Acme", "a@acme.example")).stdout.strip() == invited["link"]
    assert as_json(roster("invite", "link", "Acme", "a@acme.example", "--json")) == {
        "email": "a@acme.example", "link": invited["link"]}

    resent = as_json(roster("invite", "resend", "Acme", "a@acme.example", "--json"))
    assert resent["link"] != invited["link"]
    assert invitations.lookup(invited["link"].rsplit("/", 1)[1]).status == "invalid"
    assert invitations.lookup(resent["link"].rsplit("/", 1)[1]).status == "pending"
    assert ok(roster("invite", "resend", "Acme", "a@acme.example")).stdout.strip().startswith(BASE_URL)

    assert "Revoked" in ok(roster("invite", "revoke", "Acme", "b@acme.example")).stdout
    assert [i["email"] for i in as_json(roster("invite", "list", "Acme", "--json"))] == ["a@acme.example"]
    everything = as_json(roster("invite", "list", "Acme", "--all", "--json"))
    assert {i["email"]: i["status"] for i in everything}["b@acme.example"] == "revoked"
    assert "b@acme.example" in ok(roster("invite", "list", "Acme", "--all")).stdout

    before = counts()
    refused(roster("invite", "link", "Acme", "b@acme.example"), "revoked")
    refused(roster("invite", "revoke", "Acme", "b@acme.example"), "revoked already")
    refused(roster("invite", "resend", "Acme", "nobody@acme.example"), "No invitation for nobody@acme.example")
    assert counts() == before


# ----------------------------------------------------------------- groups


def test_group_create_list_add_remove(roster, acme):
    ok(roster("user", "create", "Acme", "zoe@acme.example", "--password-stdin", input=PASSWORD + "\n"))
    group = as_json(roster("group", "create", "Acme", "Sales", "--json"))
    assert set(group) == {"id", "name", "external_id", "members"}
    assert (group["name"], group["members"]) == ("Sales", [])
    assert "Created group Support" in ok(roster("group", "create", "Acme", "Support")).stdout
    assert "Added 2 member(s)" in ok(roster("group", "add", "Acme", "Sales", "zoe@acme.example",
                                            "boss@acme.example")).stdout
    assert "Added 0 member(s)" in ok(roster("group", "add", "Acme", group["id"], "zoe@acme.example")).stdout
    listed = as_json(roster("group", "list", "Acme", "--json"))
    assert [(g["name"], g["members"]) for g in listed] == [
        ("Sales", ["boss@acme.example", "zoe@acme.example"]), ("Support", [])]
    assert "Sales" in ok(roster("group", "list", "Acme")).stdout
    assert "Removed 1 member(s)" in ok(roster("group", "remove", "Acme", "sales", "zoe@acme.example")).stdout
    assert as_json(roster("group", "list", "Acme", "--json"))[0]["members"] == ["boss@acme.example"]


def test_group_refusals(roster, acme):
    ok(roster("group", "create", "Acme", "Sales"))
    before = counts()
    refused(roster("group", "create", "Acme", "SALES"), "exists already")
    refused(roster("group", "add", "Acme", "Sales", "boss@acme.example", "stranger@acme.example"),
            "stranger@acme.example is not a member of Acme")
    refused(roster("group", "add", "Acme", "Nope", "boss@acme.example"), "No group")
    refused(roster("group", "list", "Nope"), "No account")
    assert counts() == before
    assert roster("group", "add", "Acme", "Sales").exit_code == 2


# ----------------------------------------------------------------- SCIM tokens


def test_token_create_list_revoke(roster, acme):
    created = as_json(roster("token", "create", "Acme", "--description", "Okta", "--json"))
    assert set(created) == {"id", "hint", "description", "created_at", "created_by", "last_used_at", "revoked_at",
                            "token"}
    secret = created["token"]
    assert secret.startswith(created["hint"]) and created["description"] == "Okta"
    assert scim_tokens.authenticate(secret).id == created["id"]
    text = ok(roster("token", "create", "Acme")).stdout
    assert "shown once" in text and "rst_" in text

    listing = roster("token", "list", "Acme", "--json")
    listed = as_json(listing)
    assert secret not in listing.stdout
    assert [t["id"] for t in listed][0] == created["id"]
    assert all(set(t) == set(created) - {"token"} for t in listed)
    assert listed[0]["last_used_at"] is not None  # authenticate() above used it
    assert secret not in ok(roster("token", "list", "Acme")).stdout

    assert "Revoked SCIM token" in ok(roster("token", "revoke", "Acme", created["id"])).stdout
    assert scim_tokens.authenticate(secret) is None
    revoked = [t for t in as_json(roster("token", "list", "Acme", "--json")) if t["id"] == created["id"]]
    assert revoked[0]["revoked_at"] is not None


def test_token_refusals(roster, acme):
    other = as_json(roster("account", "create", "Other", "--type", "vendor", "--json"))
    foreign = as_json(roster("token", "create", other["id"], "--json"))
    refused(roster("token", "revoke", "Acme", foreign["id"]), "No SCIM token")
    refused(roster("token", "revoke", "Acme", "missing"), "No SCIM token")
    refused(roster("token", "create", "Nope"), "No account")
    assert scim_tokens.authenticate(foreign["token"]) is not None
    assert "no SCIM tokens" in ok(roster("token", "list", "Acme")).stdout
