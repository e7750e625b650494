"""Issue 13, points 4 and 6 through the real app on both databases: a pending invitation edited in the
console (groups, permissions, a corrected email with a new link), dead-link pages that offer a way on,
and a registration that ends signed in."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from models import Actor, accounts, groups, invitations, members
from models.ops import AuditEvent, OutboxMessage
from models.tenancy import Invitation, Membership, User
from oidc.web_session import COOKIE

# the shared fixtures are imported by name; tests naming them as arguments is how pytest works
# ruff: noqa: F811
from .flow import csrf
from .test_console_base import PASSWORD, console  # noqa: F401


def text(response) -> str:
    return response.get_data(as_text=True)


def path_of(link: str) -> str:
    return "/invitations/" + link.rsplit("/", 1)[1]


# ----------------------------------------------------------------- point 4: the console's invitation page


def test_the_invitation_page_shows_and_edits_role_privileges_and_groups(console, account, cli_actor, deployment):
    sales = groups.create_group(account, "Sales", by=cli_actor)
    support = groups.create_group(account, "Support", by=cli_actor)
    invited = invitations.invite(account, "nia@acme.example", groups=[sales.id], by=cli_actor,
                                 deployment=deployment)
    page = text(console.get(f"/invitations/{invited.invitation_id}"))
    assert "<dt>Role</dt><dd>user</dd>" in page and "<dt>Groups</dt><dd>Sales</dd>" in page
    assert 'name="role"' in page and 'name="preset"' in page and f'value="{support.id}"' in page
    assert re.search(r'name="send_new_link"[^>]*checked', page) or re.search(r'checked[^>]*name="send_new_link"',
                                                                            page)

    before = AuditEvent.select().count()
    response = console.post(f"/invitations/{invited.invitation_id}", {
        "email": "nia@acme.example", "given_name": "Nia", "family_name": "", "role": "user",
        "preset": "support", "groups": [support.id], "send_new_link": "y"})

    assert response.status_code == 302
    shown = text(console.client.get(response.headers["Location"]))
    assert "its link is unchanged" in shown and "<dt>Groups</dt><dd>Support</dd>" in shown
    membership = Membership.get_by_id(invited.membership_id)
    assert "support" in membership.permissions and membership.status == "invited"
    assert groups.group_member_emails(support) == ["nia@acme.example"]
    events = [(e.action, e.actor_label) for e in AuditEvent.select().order_by(AuditEvent.id)][before:]
    assert events == [("invitation.edited", "admin@acme.example"), ("membership.role_changed", "admin@acme.example"),
                      ("membership.groups_changed", "admin@acme.example")]


def test_a_corrected_email_gets_a_new_link_at_once(client, console, account, cli_actor, deployment):
    invited = invitations.invite(account, "nia@acme.exmaple", by=cli_actor, deployment=deployment)
    response = console.post(f"/invitations/{invited.invitation_id}", {
        "email": "nia@acme.example", "given_name": "", "family_name": "", "role": "user", "preset": "",
        "send_new_link": "y"})
    shown = text(console.client.get(response.headers["Location"]))
    assert "a new link was sent to nia@acme.example; the old link no longer works" in shown
    [mail] = OutboxMessage.select().where(OutboxMessage.recipient == "nia@acme.example")
    assert "/invitations/" in mail.body
    assert "invitation.resent" in [e.action for e in AuditEvent.select()]

    old = client.get(path_of(invited.link))
    assert old.status_code == 410
    page = text(old)
    assert "replaced by a newer one" in page and "ask an admin of Acme Vendor" in page
    assert 'href="/login' in page and ">Sign in</a>" in page
    new_link = re.search(r"http://roster\.test(/invitations/\S+)", mail.body).group(1)
    assert client.get(new_link).status_code == 200


def test_a_corrected_email_without_the_box_keeps_the_link_and_says_so(client, console, account, cli_actor,
                                                                       deployment):
    invited = invitations.invite(account, "kim@acme.exmaple", by=cli_actor, deployment=deployment)
    response = console.post(f"/invitations/{invited.invitation_id}", {
        "email": "kim@acme.example", "given_name": "", "family_name": "", "role": "user", "preset": ""})
    shown = text(console.client.get(response.headers["Location"]))
    assert "nothing was sent to kim@acme.example" in shown
    assert not OutboxMessage.select().where(OutboxMessage.recipient == "kim@acme.example").exists()
    assert client.get(path_of(invited.link)).status_code == 200


def test_a_refused_edit_says_why_and_changes_nothing(console, account, cli_actor, deployment):
    """All or nothing (R5 on an edit): an email with a pending invitation already refuses the role change too."""
    invited = invitations.invite(account, "boss@acme.example", role="admin", by=cli_actor, deployment=deployment)
    invitations.invite(account, "taken@acme.example", by=cli_actor, deployment=deployment)
    response = console.post(f"/invitations/{invited.invitation_id}", {
        "email": "taken@acme.example", "given_name": "", "family_name": "", "role": "user", "preset": "",
        "send_new_link": "y"})
    assert response.status_code == 400 and "has a pending invitation already" in text(response)
    assert Membership.get_by_id(invited.membership_id).role == "admin"
    assert Invitation.get_by_id(invited.invitation_id).email == "boss@acme.example"
    assert not OutboxMessage.select().where(OutboxMessage.recipient == "taken@acme.example").count() > 1


# ----------------------------------------------------------------- point 4: dead links offer a way on


@pytest.mark.parametrize(("spoil", "status", "says"), [
    ("expire", 410, "has expired"), ("revoke", 410, "was revoked"), ("use", 410, "used already"),
    ("resend", 410, "replaced by a newer one"), ("garble", 404, "not valid")])
def test_every_dead_link_page_offers_sign_in_and_whom_to_ask(frozen_clock, client, account, admin, deployment,
                                                             spoil, status, says):
    by = Actor.for_user(admin[1])
    invited = invitations.invite(account, "dead@acme.example", by=by, deployment=deployment)
    path = path_of(invited.link)
    invitation = Invitation.get_by_id(invited.invitation_id)
    if spoil == "expire":
        frozen_clock.advance(days=8)
    elif spoil == "revoke":
        invitations.revoke(invitation, by=by)
    elif spoil == "use":
        invitations.accept(invited.link.rsplit("/", 1)[1], given_name="D", family_name="Ead", password=PASSWORD,
                           accept_terms=True, hasher=deployment.hasher)
    elif spoil == "resend":
        invitations.resend(invitation, by=by, deployment=deployment)
    else:
        path = "/invitations/" + "t" * 43
    response = client.get(path)
    page = text(response)
    assert response.status_code == status and says in page
    assert ">Sign in</a>" in page
    if spoil == "garble":
        assert "ask the admin who invited you" in page
    elif spoil != "use":
        assert "an admin of Acme Vendor" in page


# ----------------------------------------------------------------- point 6: registration signs you in


def register(client, path, **overrides):
    page = client.get(path)
    form = {"csrf_token": csrf(text(page)), "given_name": "Nia", "family_name": "Newcomer", "password": PASSWORD,
            "confirm": PASSWORD, "accept_terms": "y", **overrides}
    return client.post(path, data=form)


def session_cookie(client):
    return client.get_cookie(COOKIE)


def test_registering_signs_in_and_lands_on_the_profile(client, account, admin, deployment):
    invited = invitations.invite(account, "nia@acme.example", by=Actor.for_user(admin[1]), deployment=deployment)
    response = register(client, path_of(invited.link))
    assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/"
    assert session_cookie(client) is not None
    landing = client.get("/", follow_redirects=True)
    html = text(landing)
    assert landing.status_code == 200 and landing.request.path.startswith("/profile")
    assert "Welcome to Acme Vendor" in html
    assert "you can sign in" not in html.lower()
    event = AuditEvent.get(AuditEvent.action == "invitation.accepted")
    assert event.actor_label == "nia@acme.example"


def test_an_invited_admin_lands_in_the_accounts_console(client, account, admin, deployment):
    invited = invitations.invite(account, "second@acme.example", role="admin", by=Actor.for_user(admin[1]),
                                 deployment=deployment)
    response = register(client, path_of(invited.link))
    assert response.headers["Location"].endswith(f"/console/{account.id}/users")
    assert client.get(response.headers["Location"]).status_code == 200


def test_an_account_that_requires_mfa_sends_the_new_person_to_enrol(client, account, admin, cli_actor,
                                                                    deployment):
    accounts.set_policy(account, mfa_required=True, by=cli_actor)
    invited = invitations.invite(account, "nia@acme.example", by=Actor.for_user(admin[1]), deployment=deployment)
    response = register(client, path_of(invited.link))
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login/mfa/enrol" and parse_qs(location.query)["next"] == ["/"]
    enrol = client.get(response.headers["Location"])
    assert enrol.status_code == 200 and "Welcome to Acme Vendor" in text(enrol)


def test_a_wrong_form_does_not_sign_in(client, account, admin, deployment):
    invited = invitations.invite(account, "nia@acme.example", by=Actor.for_user(admin[1]), deployment=deployment)
    response = register(client, path_of(invited.link), confirm="something else entirely")
    assert response.status_code == 400 and session_cookie(client) is None


def test_a_signed_in_person_with_a_user_just_joins(client, account, cli_actor, deployment, sign_in):
    pending = invitations.invite(account, "newbie@acme.example", by=cli_actor, deployment=deployment)
    # the pending person registers elsewhere meanwhile, signs in, then follows the invitation
    members.add_user(accounts.create_account("Third", "vendor", by=cli_actor), "newbie@acme.example",
                     password=PASSWORD, by=cli_actor, deployment=deployment)
    newbie = User.get(User.email_key == "newbie@acme.example")
    User.update(must_change_password=False, terms_accepted_at=User.created_at).where(User.id == newbie.id).execute()
    sign_in(client, User.get_by_id(newbie.id))
    page = client.get(path_of(pending.link))
    response = client.post(path_of(pending.link), data={"csrf_token": csrf(text(page))})
    assert response.status_code == 302 and urlsplit(response.headers["Location"]).path == "/"
    assert Membership.get_by_id(pending.membership_id).status == "active"


def test_a_person_with_a_user_who_is_not_signed_in_joins_then_is_sent_to_sign_in(client, account, cli_actor,
                                                                                 deployment):
    pending = invitations.invite(account, "later@acme.example", by=cli_actor, deployment=deployment)
    members.add_user(accounts.create_account("Third", "vendor", by=cli_actor), "later@acme.example",
                     password=PASSWORD, by=cli_actor, deployment=deployment)
    page = client.get(path_of(pending.link))
    response = client.post(path_of(pending.link), data={"csrf_token": csrf(text(page))})
    assert response.status_code == 200 and "Sign in to use it" in text(response)
    assert "login_hint=later@acme.example" in text(response)
    assert session_cookie(client) is None
    assert Membership.get_by_id(pending.membership_id).status == "active"
