"""``roster user create|list|update`` and ``roster invite send``: modules and sub-account scope (R7)."""

from __future__ import annotations

import pytest

from models import Membership, accounts, members
from tests.cli.test_cli import MEMBER_KEYS, PASSWORD, Roster, _runner, as_json, counts, ok, refused


@pytest.fixture
def roster(database, database_url, monkeypatch, tmp_path) -> Roster:
    """Runs ``roster …`` in-process against the test database (SQLite and PostgreSQL)."""
    return _runner(monkeypatch, tmp_path, database_url)


@pytest.fixture
def acme(roster) -> dict:
    """Acme, its admin and two sub-accounts, North and South; and Other, with a sub-account of its own."""
    account = as_json(roster("account", "create", "Acme", "--type", "reseller", "--json"))
    ok(roster("user", "create", "Acme", "boss@acme.example", "--role", "admin", "--password-stdin",
              input=PASSWORD + "\n"))
    for name, parent in (("North", "Acme"), ("South", "Acme"), ("Other", None), ("Other Branch", "Other")):
        ok(roster("account", "create", name, "--type", "reseller", *(["--parent", parent] if parent else [])))
    return account


def ids(*names: str) -> list[str]:
    return [accounts.get_account(n).id for n in names]


def member_of(email: str) -> Membership:
    return members.get_membership(accounts.get_account("Acme"), email)


def test_user_create_takes_modules_and_sub_accounts_by_id_or_name(roster, acme):
    north, south = ids("North", "South")
    data = as_json(roster("user", "create", "Acme", "mo@acme.example", "--module", "orders", "--module", "reports",
                          "--sub-account", "South", "--sub-account", north, "--password-stdin", "--json",
                          input=PASSWORD + "\n"))
    assert set(data["member"]) == MEMBER_KEYS
    member = data["member"]
    assert member["modules"] == member["permissions"] == ["orders", "reports"]
    assert member["preset"] is None
    assert member["sub_account_scope"] == [{"id": south, "name": "South"}, {"id": north, "name": "North"}]
    assert member_of("mo@acme.example").sub_account_scope == [south, north]


def test_user_list_shows_preset_modules_and_scope(roster, acme):
    ok(roster("user", "create", "Acme", "sue@acme.example", "--preset", "support", "--sub-account", "North",
              "--password-stdin", input=PASSWORD + "\n"))
    listed = {m["email"]: m for m in as_json(roster("user", "list", "Acme", "--json"))}
    assert all(set(m) == MEMBER_KEYS for m in listed.values())
    boss, sue = listed["boss@acme.example"], listed["sue@acme.example"]
    assert (boss["role"], boss["preset"], boss["sub_account_scope"]) == ("admin", None, None)
    assert (sue["preset"], sue["modules"]) == ("support", ["dashboard", "products", "subscriptions", "support"])
    assert sue["sub_account_scope"] == [{"id": ids("North")[0], "name": "North"}]
    table = ok(roster("user", "list", "Acme")).stdout
    assert "PRESET" in table and "SUB-ACCOUNTS" in table
    sue_line = next(line for line in table.splitlines() if line.startswith("sue@"))
    boss_line = next(line for line in table.splitlines() if line.startswith("boss@"))
    assert "support" in sue_line and sue_line.rstrip().endswith("North")
    assert boss_line.rstrip().endswith("all")


def test_invite_send_takes_modules_and_sub_accounts(roster, acme):
    results = as_json(roster("invite", "Acme", "a@acme.example", "b@acme.example", "--preset", "basics",
                             "--module", "reports", "--sub-account", "South", "--json"))
    assert [r["outcome"] for r in results] == ["invited", "invited"]
    for email in ("a@acme.example", "b@acme.example"):
        invited = member_of(email)
        assert invited.permissions == ["dashboard", "products", "reports"]
        assert invited.sub_account_scope == ids("South")


def test_user_update_changes_role_modules_and_scope(roster, acme):
    ok(roster("user", "create", "Acme", "ed@acme.example", "--password-stdin", input=PASSWORD + "\n"))
    data = as_json(roster("user", "update", "Acme", "ed@acme.example", "--module", "billing", "--sub-account",
                          "North", "--json"))
    assert (data["modules"], data["sub_account_scope"]) == (["billing"], [{"id": ids("North")[0], "name": "North"}])
    # only the scope: the modules stay
    ok(roster("user", "update", "Acme", "ed@acme.example", "--all-sub-accounts"))
    assert (member_of("ed@acme.example").permissions, member_of("ed@acme.example").sub_account_scope) == (
        ["billing"], None)
    text = ok(roster("user", "update", "Acme", "ed@acme.example", "--preset", "purchasing")).stdout
    assert "sub-accounts: all" in text and "orders" in text


@pytest.mark.parametrize("args, message", [
    (["--sub-account", "Other Branch"], "Not sub-accounts of Acme: 'Other Branch'"),
    (["--sub-account", "North", "--sub-account", "no-such-id"], "Not sub-accounts of Acme: 'no-such-id'"),
    (["--sub-account", "Acme"], "Not sub-accounts of Acme: 'Acme'"),
    (["--module", "pricing"], "for admins only"),
])
def test_a_scope_or_module_out_of_bounds_is_refused_and_nothing_changes(roster, acme, args, message):
    before = counts()
    refused(roster("user", "create", "Acme", "x@acme.example", *args, "--password-stdin", input=PASSWORD + "\n"),
            message)
    refused(roster("invite", "send", "Acme", "y@acme.example", *args), message)
    assert counts() == before
    ok(roster("user", "create", "Acme", "z@acme.example", "--password-stdin", input=PASSWORD + "\n"))
    snapshot = counts()
    refused(roster("user", "update", "Acme", "z@acme.example", *args), message)
    assert counts() == snapshot
    assert (member_of("z@acme.example").permissions, member_of("z@acme.example").sub_account_scope) == (
        ["dashboard", "products"], None)


def test_update_usage_errors(roster, acme):
    assert roster("user", "update", "Acme", "boss@acme.example").exit_code == 2
    assert roster("user", "update", "Acme", "boss@acme.example", "--all-sub-accounts", "--sub-account",
                  "North").exit_code == 2
    assert roster("user", "create", "Acme", "q@acme.example", "--module", "nonsense").exit_code == 2
    # R1: the last admin is not demoted, whatever else is asked
    refused(roster("user", "update", "Acme", "boss@acme.example", "--role", "user", "--sub-account", "North"),
            "must keep at least one active admin")
    assert (member_of("boss@acme.example").role, member_of("boss@acme.example").sub_account_scope) == ("admin", None)
