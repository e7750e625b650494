"""Role, modules, presets and sub-account scope (R7): shown on the member and invitation pages, edited there by
an admin in one form, and offered on every way in (the wizard, Invite many, a temporary password)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models import accounts, invitations, members, permissions
from models.errors import InvalidInputError
from models.ops import AuditEvent
from models.tenancy import Account, Membership
from oidc.console_forms import MODULE_CHOICES

# the shared fixtures are imported by name; tests naming them as arguments is how pytest works
# ruff: noqa: F811
from .flow import csrf
from .test_console_base import PASSWORD, console, other, ready  # noqa: F401


def text(response) -> str:
    return response.get_data(as_text=True)


def summary(page: str, term: str) -> str:
    """The text of one <dt>term</dt><dd>…</dd> of a page's summary, tags stripped."""
    found = re.search(rf"<dt>{re.escape(term)}</dt><dd>(.*?)</dd>", page, re.S)
    assert found, f"no {term!r} in the summary"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def selected(page: str, name: str) -> str:
    select = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select, f"no select {name!r}"
    chosen = re.findall(r'<option[^>]*\bselected\b[^>]*>', select.group(1))
    assert len(chosen) == 1, chosen
    value = re.search(r'value="([^"]*)"', chosen[0])
    assert value
    return value.group(1)


def ticked(page: str, name: str) -> set[str]:
    return set(re.findall(rf'<input type="checkbox" name="{name}" value="([^"]+)"[^>]*checked', page))


@pytest.fixture
def branches(account, cli_actor):
    """Two sub-accounts of ``account``: North and South."""
    return (accounts.create_account("North Branch", "reseller", parent=account.id, by=cli_actor),
            accounts.create_account("South Branch", "reseller", parent=account.id, by=cli_actor))


@pytest.fixture
def member(account, cli_actor, deployment):
    return members.add_user(account, "mo@acme.example", preset="support", password=PASSWORD, by=cli_actor,
                            deployment=deployment).membership


def stored(membership: Membership) -> tuple:
    fresh = Membership.get_by_id(membership.id)
    return fresh.role, fresh.permissions, fresh.sub_account_scope


# ----------------------------------------------------------------- the member page


def test_the_forms_offer_every_module_but_the_admin_only_ones():
    assert [m for m, _ in MODULE_CHOICES] == [m for m in permissions.MODULES if m not in permissions.ADMIN_ONLY_MODULES]


def test_the_member_page_shows_role_preset_modules_and_scope(console, member, branches):
    page = text(console.get(f"/members/{member.id}"))
    assert summary(page, "Role") == "user"
    assert summary(page, "Privileges") == "Support"
    assert summary(page, "Modules") == "dashboard, products, subscriptions, support"
    assert summary(page, "Sub-accounts") == "All sub-accounts"
    assert ticked(page, "modules") == {"dashboard", "products", "subscriptions", "support"}
    assert "North Branch" in page and "South Branch" in page and ticked(page, "sub_accounts") == set()
    # admin-only modules are never offered to the user role
    assert 'value="pricing"' not in page and 'value="user_management"' not in page


def test_an_admin_changes_modules_and_scope_in_one_form(console, account, member, branches):
    north, south = branches
    response = console.post(f"/members/{member.id}/role", {
        "role": "user", "preset": "", "modules": ["dashboard", "orders", "reports"], "sub_accounts": [south.id]})
    assert response.status_code == 302
    assert stored(member) == ("user", ["dashboard", "orders", "reports"], [south.id])
    page = text(console.client.get(response.headers["Location"]))
    assert "Saved: mo@acme.example is a user, with the modules and sub-accounts shown." in page
    assert summary(page, "Privileges") == "Custom"
    assert summary(page, "Modules") == "dashboard, orders, reports"
    assert summary(page, "Sub-accounts") == "South Branch"
    assert ticked(page, "sub_accounts") == {south.id}
    event = AuditEvent.select().where(AuditEvent.action == "membership.role_changed").order_by(AuditEvent.id.desc()
                                                                                             ).first()
    assert event.target_id == member.id and event.actor_id == console.user.id
    assert event.detail["previous_permissions"] == ["dashboard", "products", "subscriptions", "support"]
    assert event.detail["permissions"] == ["dashboard", "orders", "reports"]
    assert event.detail["previous_sub_account_scope"] is None and event.detail["sub_account_scope"] == [south.id]
    # a preset replaces the ticked modules; ticking no sub-account gives every one back
    console.post(f"/members/{member.id}/role", {"role": "user", "preset": "purchasing", "modules": ["reports"]})
    assert stored(member) == ("user", list(permissions.resolve("user", preset="purchasing")), None)
    assert summary(text(console.get(f"/members/{member.id}")), "Privileges") == "Purchasing"


def test_no_module_and_no_preset_is_a_clear_error(console, member, branches):
    before = stored(member)
    response = console.post(f"/members/{member.id}/role", {"role": "user", "preset": "", "sub_accounts": []})
    assert response.status_code == 400
    assert "Tick at least one module, or choose a preset." in text(response)
    assert stored(member) == before


@pytest.mark.parametrize("field", ["sub_accounts", "modules"])
def test_hostile_choices_are_refused_and_change_nothing(console, member, branches, other, cli_actor, field):
    theirs = accounts.create_account("Their Branch", "reseller", parent=other.account.id, by=cli_actor)
    before = stored(member)
    for value in ([theirs.id], ["no-such-account"], ["pricing"], ["North Branch"]):
        data = {"role": "user", "preset": "", "modules": ["dashboard"], "sub_accounts": [branches[0].id],
                field: value}
        response = console.post(f"/members/{member.id}/role", data)
        assert response.status_code == 400, value
        assert "not a valid choice" in text(response)
        assert stored(member) == before


def test_the_domain_refuses_another_accounts_sub_account(account, member, branches, other, cli_actor):
    theirs = accounts.create_account("Their Branch", "reseller", parent=other.account.id, by=cli_actor)
    before = stored(member)
    for scope in ([theirs.id], [branches[0].id, "Their Branch"], ["random-id"], [other.account.id]):
        with pytest.raises(InvalidInputError, match="Not sub-accounts of Acme Vendor") as refused:
            members.set_role(member, "user", sub_account_scope=scope, by=cli_actor)
        assert refused.value.field == "sub_accounts"
    assert stored(member) == before
    # by id or by name, once each, in the order given
    assert permissions.check_scope(account, ["South Branch", branches[0].id, branches[1].id]) == [
        branches[1].id, branches[0].id]
    assert permissions.check_scope(account, []) is None


def test_a_non_admin_cannot_change_access(client, account, member, branches, cli_actor, sign_in, deployment):
    plain = members.add_user(account, "plain@acme.example", password=PASSWORD, by=cli_actor, deployment=deployment)
    sign_in(client, ready(plain.user))
    before = stored(member)
    page = client.get(f"/console/{account.id}/members/{member.id}")
    assert page.status_code == 403
    # a valid CSRF token of their own session (from their profile): only the role check stands in the way
    token = csrf(client.get("/profile").get_data(as_text=True))
    response = client.post(f"/console/{account.id}/members/{member.id}/role", data={
        "csrf_token": token, "role": "admin", "preset": "", "modules": ["dashboard"],
        "sub_accounts": [branches[0].id]})
    assert response.status_code == 403
    assert stored(member) == before
    assert not AuditEvent.select().where(AuditEvent.action == "membership.role_changed").exists()


def test_the_last_admin_keeps_their_role_whatever_the_scope(console, branches):
    me = Membership.get(Membership.user == console.user.id)
    response = console.post(f"/members/{me.id}/role", {"role": "user", "preset": "basics",
                                                       "sub_accounts": [branches[0].id]}, follow_redirects=True)
    assert "must keep at least one active admin" in text(response)
    assert stored(me) == ("admin", list(permissions.MODULES), None)


def test_without_sub_accounts_no_scope_is_offered_and_none_is_touched(console, account, member, cli_actor):
    for path in (f"/members/{member.id}", "/users/new", "/users/bulk", "/users/create"):
        page = text(console.get(path))
        assert 'name="sub_accounts"' not in page, path
    # a scope stored while the account had sub-accounts stays when the form (which has no such field) is saved
    Membership.update(sub_account_scope=["gone"]).where(Membership.id == member.id).execute()
    page = text(console.get(f"/members/{member.id}"))
    assert summary(page, "Sub-accounts") == "gone (no longer a sub-account)"
    console.post(f"/members/{member.id}/role", {"role": "user", "preset": "basics"})
    assert stored(member)[2] == ["gone"]


# ----------------------------------------------------------------- every way in


def test_the_wizard_offers_the_scope_and_shows_it_in_the_summary(console, account, branches):
    general = {"given_name": "Nia", "family_name": "New", "email": "nia@acme.example", "role": "user",
               "preset": "support", "sub_accounts": [branches[0].id]}
    first = text(console.get("/users/new"))
    assert first.index('name="role"') < first.index('name="preset"') < first.index('name="sub_accounts"')
    step2 = text(console.post("/users/new", {"step": "general", **general}))
    assert f'<input type="hidden" name="sub_accounts" value="{branches[0].id}">' in step2
    step3 = text(console.post("/users/new", {"step": "groups", **general}))
    assert summary(step3, "Sub-accounts") == "North Branch"
    done = console.post("/users/new", {"step": "summary", **general})
    assert done.status_code == 302
    invited = members.get_membership(account, "nia@acme.example")
    assert (invited.status, invited.sub_account_scope) == ("invited", [branches[0].id])


def test_the_wizard_refuses_a_foreign_scope_on_the_general_step(console, account, other, cli_actor):
    theirs = accounts.create_account("Their Branch", "reseller", parent=other.account.id, by=cli_actor)
    response = console.post("/users/new", {"step": "summary", "given_name": "A", "family_name": "B",
                                           "email": "ab@acme.example", "role": "user", "preset": "basics",
                                           "sub_accounts": [theirs.id]})
    assert response.status_code == 400 and "not a valid choice" in text(response)
    assert not Membership.select().where(Membership.account == account.id).where(
        Membership.status == "invited").exists()


def test_a_temporary_password_user_gets_the_scope(console, account, branches):
    page = text(console.get("/users/create"))
    assert page.index('name="role"') < page.index('name="preset"') < page.index('name="sub_accounts"')
    response = console.post("/users/create", {"given_name": "Tea", "family_name": "Mp", "email": "t@acme.example",
                                              "role": "user", "preset": "basics",
                                              "sub_accounts": [branches[0].id, branches[1].id]})
    assert response.status_code == 200 and "temporary password was mailed" in text(response)
    created = members.get_membership(account, "t@acme.example")
    assert created.sub_account_scope == [branches[0].id, branches[1].id]


def test_bulk_invite_stores_the_scope_and_clears_the_form(console, account, branches, cli_actor):
    from models import groups

    groups.create_group(account, "Sales", by=cli_actor)
    page = text(console.get("/users/bulk"))
    # the same order as the wizard: role, privileges, sub-accounts, then groups
    assert page.index('name="role"') < page.index('name="preset"') < page.index('name="sub_accounts"') \
        < page.index('name="groups"')
    response = console.post("/users/bulk", {"emails": "b1@acme.example\nb2@acme.example", "role": "user",
                                            "preset": "purchasing", "sub_accounts": [branches[1].id]})
    assert response.status_code == 200
    html = text(response)
    assert "2 of 2 invited" in html
    textarea = re.search(r"<textarea[^>]*>(.*?)</textarea>", html, re.S)
    assert textarea and textarea.group(1).strip() == ""  # the results table lists them; the form is empty
    assert ticked(html, "sub_accounts") == set() and selected(html, "preset") == "basics"
    assert [members.get_membership(account, e).sub_account_scope for e in ("b1@acme.example", "b2@acme.example")] \
        == [[branches[1].id]] * 2
    # a refused invite keeps what was typed, to correct it
    again = console.post("/users/bulk", {"emails": "", "role": "user", "preset": "basics"})
    assert again.status_code == 400


# ----------------------------------------------------------------- a pending invitation


def test_the_invitation_page_shows_and_edits_the_scope(console, account, branches, cli_actor, deployment):
    north, south = branches
    invited = invitations.invite(account, "inv@acme.example", sub_account_scope=[north.id], by=cli_actor,
                                 deployment=deployment)
    page = text(console.get(f"/invitations/{invited.invitation_id}"))
    assert summary(page, "Sub-accounts") == "North Branch" and ticked(page, "sub_accounts") == {north.id}
    base = {"email": "inv@acme.example", "given_name": "", "family_name": "", "role": "user", "preset": ""}
    response = console.post(f"/invitations/{invited.invitation_id}", {**base, "sub_accounts": [south.id]})
    assert response.status_code == 302
    membership = Membership.get_by_id(invited.membership_id)
    assert membership.sub_account_scope == [south.id]
    assert summary(text(console.get(f"/invitations/{invited.invitation_id}")), "Sub-accounts") == "South Branch"
    # a post of the email and name alone leaves the scope as it is
    console.post(f"/invitations/{invited.invitation_id}", {"email": "inv@acme.example", "given_name": "I",
                                                          "family_name": ""})
    assert Membership.get_by_id(invited.membership_id).sub_account_scope == [south.id]
    # a scope outside the account: refused, nothing changed
    theirs = accounts.create_account("Elsewhere Branch", "reseller", by=cli_actor)
    refused = console.post(f"/invitations/{invited.invitation_id}", {**base, "sub_accounts": [theirs.id]})
    assert refused.status_code == 400
    assert Membership.get_by_id(invited.membership_id).sub_account_scope == [south.id]
    with pytest.raises(InvalidInputError):
        invitations.edit(invitations.find_invitation(account, "inv@acme.example"), sub_account_scope=[theirs.id],
                         by=cli_actor, deployment=deployment)
    assert Membership.get_by_id(invited.membership_id).sub_account_scope == [south.id]


def test_a_scope_names_only_this_accounts_sub_accounts(account, branches, cli_actor):
    moved = accounts.create_account("Moved Away", "reseller", by=cli_actor)
    assert permissions.scope_accounts(account, [branches[0].id, moved.id]) == [
        (branches[0].id, "North Branch"), (moved.id, None)]
    assert permissions.scope_accounts(account, None) is None
    assert Account.get_by_id(moved.id).parent_id is None


junk = st.one_of(st.sampled_from(["", " ", "pricing", "user_management", "admin", "all", "North Branch", "\u2028",
                                  "<script>alert(1)</script>", "a" * 5000, "[]", "null"]),
                 st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=20))


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(role=junk, preset=junk, modules=st.lists(junk, max_size=3), scope=st.lists(junk, max_size=3))
def test_any_post_is_saved_whole_or_refused_whole(console, member, branches, role, preset, modules, scope):
    before = stored(member)
    response = console.post(f"/members/{member.id}/role", {"role": role, "preset": preset, "modules": modules,
                                                           "sub_accounts": scope})
    assert response.status_code in (302, 400)
    if response.status_code == 400:
        assert stored(member) == before
    else:
        assert stored(member)[0] in ("admin", "user")
    Membership.update(role=before[0], permissions=before[1], sub_account_scope=before[2]).where(
        Membership.id == member.id).execute()
