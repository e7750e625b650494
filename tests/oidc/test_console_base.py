"""Admin console basics: who gets in (R7, R8, R10), tenant isolation, CSRF, no change by GET, local times.

The fixtures here (``console``, ``other``) are shared by the other console test modules.
"""

from __future__ import annotations

import dataclasses

import pytest

from models import Actor, accounts, clock, directory_groups, groups, invitations, members
from models.ops import AuditEvent
from models.tenancy import Account, Membership, User

from .flow import csrf

PASSWORD = "a long and unusual passphrase"


@dataclasses.dataclass
class Console:
    """A signed-in admin's browser on the console of ``account``."""

    client: object
    account: Account
    user: User

    def url(self, path: str = "") -> str:
        return f"/console/{self.account.id}{path}"

    def get(self, path: str = "", **kwargs):
        return self.client.get(self.url(path), **kwargs)

    def token(self) -> str:
        return csrf(self.get("/groups").get_data(as_text=True))

    def post(self, path: str, data: dict | None = None, *, account_id: str | None = None, **kwargs):
        form = {"csrf_token": self.token(), **(data or {})}
        base = f"/console/{account_id}" if account_id else self.url()
        return self.client.post(base + path, data=form, **kwargs)


def ready(user: User) -> User:
    """No first-login step (R8) in the way."""
    User.update(must_change_password=False, terms_accepted_at=clock.now()).where(User.id == user.id).execute()
    return User.get_by_id(user.id)


@pytest.fixture
def console(client, account, admin, sign_in) -> Console:
    user = ready(admin[1])
    sign_in(client, user)
    return Console(client, account, user)


@pytest.fixture
def other(account, cli_actor, deployment):
    """Another tenant, with its own admin, member, group and invitation: what an attacker in ``account`` aims at."""
    other_account = accounts.create_account("Other Reseller", "reseller", by=cli_actor)
    boss = members.add_user(other_account, "boss@other.example", role="admin", password=PASSWORD, by=cli_actor,
                            deployment=deployment)
    staff = members.add_user(other_account, "staff@other.example", password=PASSWORD, by=cli_actor,
                             deployment=deployment)
    group = groups.create_group(other_account, "Other team", by=cli_actor)
    invited = invitations.invite(other_account, "pending@other.example", by=cli_actor, deployment=deployment)
    return dataclasses.make_dataclass("Other", ["account", "boss", "staff", "group", "invitation"])(
        other_account, boss.membership, staff.membership, group, invited)


# ----------------------------------------------------------------- who gets in


def test_index_leads_an_admin_to_their_account(console):
    response = console.client.get("/console")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/console/{console.account.id}/users")
    page = console.get("/users")
    assert page.status_code == 200
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "Admin console" in page.get_data(as_text=True)


def test_signed_out_people_go_to_the_sign_in_page(client, account):
    response = client.get(f"/console/{account.id}/users")
    assert response.status_code == 302 and "/login?next=" in response.headers["Location"]


def test_a_member_who_is_not_an_admin_gets_403(client, account, cli_actor, sign_in, deployment):
    added = members.add_user(account, "plain@acme.example", password=PASSWORD, by=cli_actor, deployment=deployment)
    sign_in(client, ready(added.user))
    assert client.get("/console").status_code == 403
    assert client.get(f"/console/{account.id}/users").status_code == 403


def test_a_deactivated_admin_gets_403(console, account, cli_actor, deployment):
    members.add_user(account, "second@acme.example", role="admin", password=PASSWORD, by=cli_actor,
                     deployment=deployment)
    members.deactivate(Membership.get(Membership.user == console.user.id), by=cli_actor)
    assert console.get("/users").status_code == 403


def test_an_admin_of_several_accounts_can_switch(console, other, cli_actor, deployment):
    members.add_user(other.account, console.user.email, role="admin", by=cli_actor, deployment=deployment)
    html = console.get("/users").get_data(as_text=True)
    assert "Switch account" in html and f"/console/{other.account.id}/users" in html
    assert console.client.get(f"/console/{other.account.id}/users").status_code == 200


def test_first_login_comes_first(client, account, admin, sign_in):
    sign_in(client, admin[1])  # created with no terms accepted
    User.update(terms_accepted_at=None).where(User.id == admin[1].id).execute()
    response = client.get(f"/console/{account.id}/users")
    assert response.status_code == 302 and "/login/first" in response.headers["Location"]


def test_an_account_that_requires_mfa_asks_for_a_second_factor(console, cli_actor):
    accounts.set_policy(console.account, mfa_required=True, by=cli_actor)
    response = console.get("/users")
    assert response.status_code == 302 and "/login/mfa" in response.headers["Location"]


def test_a_session_with_a_second_factor_enters_an_mfa_account(client, account, admin, sign_in, cli_actor):
    accounts.set_policy(account, mfa_required=True, by=cli_actor)
    sign_in(client, ready(admin[1]), amr=("pwd", "otp", "mfa"))
    assert client.get(f"/console/{account.id}/users").status_code == 200


# ----------------------------------------------------------------- R7 from the attacker's side


def test_another_accounts_console_is_refused(console, other):
    for path in ("/users", "/users?tab=pending", "/groups", "/settings", "/audit", "/users/new"):
        assert console.client.get(f"/console/{other.account.id}{path}").status_code == 403, path


def test_ids_of_another_account_are_not_found_through_my_console(console, other):
    paths = [f"/members/{other.staff.id}", f"/invitations/{other.invitation.invitation_id}",
             f"/invitations/{other.invitation.invitation_id}/link", f"/groups/{other.group.id}",
             f"/members/{other.staff.id}/remove", f"/groups/{other.group.id}/delete"]
    for path in paths:
        assert console.get(path).status_code == 404, path


def test_changes_to_another_accounts_things_are_refused_and_change_nothing(console, other):
    before = AuditEvent.select().count()
    attempts = [
        (f"/members/{other.staff.id}/deactivate", {}),
        (f"/members/{other.boss.id}/remove", {}),
        (f"/members/{other.staff.id}/role", {"role": "admin"}),
        (f"/members/{other.staff.id}/groups", {"groups": other.group.id}),
        (f"/invitations/{other.invitation.invitation_id}/revoke", {}),
        (f"/invitations/{other.invitation.invitation_id}/resend", {}),
        (f"/invitations/{other.invitation.invitation_id}", {"email": "mine@acme.example"}),
        (f"/groups/{other.group.id}/rename", {"display_name": "Pwned"}),
        (f"/groups/{other.group.id}/delete", {}),
    ]
    for path, data in attempts:
        assert console.post(path, data).status_code == 404, path
    for path, data in [("/users/new", {}), ("/settings/policy", {"invitation_ttl_days": "3"}),
                       ("/settings/tokens", {}), (f"/members/{other.staff.id}/deactivate", {})]:
        assert console.post(path, data, account_id=other.account.id).status_code == 403, path
    assert Membership.get_by_id(other.staff.id).status == "active"
    assert Membership.get_by_id(other.boss.id).role == "admin"
    assert Account.get_by_id(other.account.id).invitation_ttl_days == 7
    assert invitations.find_invitation(other.account, "pending@other.example").status == "pending"
    assert directory_groups.find_group(other.account, other.group.id).display_name == "Other team"
    assert AuditEvent.select().count() == before


def test_my_groups_cannot_take_another_accounts_member(console, other):
    mine = groups.create_group(console.account, "Mine", by=Actor.cli())
    response = console.post(f"/groups/{mine.id}/members", {"email": "staff@other.example"})
    assert response.status_code == 400 and "is not a member of" in response.get_data(as_text=True)
    assert groups.group_member_emails(mine) == []


# ----------------------------------------------------------------- CSRF, no change by GET


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(console, account, cli_actor, deployment):
    added = members.add_user(account, "victim@acme.example", password=PASSWORD, by=cli_actor, deployment=deployment)
    for path in (f"/members/{added.membership.id}/deactivate", f"/members/{added.membership.id}/remove"):
        assert console.client.post(console.url(path)).status_code == 400
    assert console.client.post(console.url("/groups"), data={"display_name": "X"}).status_code == 400
    assert Membership.get_by_id(added.membership.id).status == "active"
    assert groups.list_groups(account) == []


def test_no_get_changes_anything(console, account, cli_actor, deployment):
    added = members.add_user(account, "victim@acme.example", password=PASSWORD, by=cli_actor, deployment=deployment)
    invited = invitations.invite(account, "invitee@acme.example", by=cli_actor, deployment=deployment)
    before = AuditEvent.select().count()
    for path in (f"/members/{added.membership.id}/deactivate", f"/members/{added.membership.id}/remove",
                 f"/invitations/{invited.invitation_id}/revoke", f"/invitations/{invited.invitation_id}/resend",
                 f"/invitations/{invited.invitation_id}/link", "/settings/tokens"):
        assert console.get(path).status_code in (200, 405), path
    assert Membership.get_by_id(added.membership.id).status == "active"
    assert invitations.find_invitation(account, "invitee@acme.example").sent_count == 1
    assert AuditEvent.select().count() == before


# ----------------------------------------------------------------- times in the person's zone and format


def test_times_show_in_the_persons_timezone_and_date_format(console, account, cli_actor, frozen_clock, deployment):
    User.update(timezone="Asia/Tokyo", date_format="DD/MM/YYYY").where(User.id == console.user.id).execute()
    invitations.invite(account, "late@acme.example", by=cli_actor, deployment=deployment)  # sent 2026-01-05 09:00 UTC
    html = console.get("/users?tab=pending").get_data(as_text=True)
    assert "05/01/2026 18:00" in html  # 09:00 UTC is 18:00 in Tokyo


def test_audit_log_filters_and_pages(console, account, cli_actor, frozen_clock):
    import html
    import re

    for n in range(55):
        groups.create_group(account, f"Team {n:02}", by=cli_actor)
        frozen_clock.advance(minutes=1)
    frozen_clock.advance(days=2)
    groups.create_group(account, "Later", by=Actor.for_user(console.user))
    first = console.get("/audit?action=group.created").get_data(as_text=True)
    assert first.count('">Group created</span>') == 50 and 'rel="next"' in first
    older = html.unescape(re.search(r'<a href="([^"]+)" rel="next">', first).group(1))
    assert "action=group.created" in older and "before=" in older and "page=" not in older
    second = console.client.get(older).get_data(as_text=True)
    assert second.count('">Group created</span>') == 6
    mine = console.get("/audit?actor=admin@acme").get_data(as_text=True)
    assert "Name: Later" in mine and "Team 00" not in mine
    dated = console.get("/audit?action=group.created&since=2026-01-05&until=2026-01-05").get_data(as_text=True)
    assert "Name: Team 54" in dated and "Name: Later" not in dated
    assert console.get("/audit?since=not-a-date").status_code == 400
