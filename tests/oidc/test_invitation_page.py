"""Accepting an invitation in a page (R2, R3): real app, real CSRF, both databases."""

from __future__ import annotations

import pytest

from models import Actor, Invitation, Membership, User, accounts, invitations, members

from .flow import csrf

PASSWORD = "a long and unusual passphrase"


@pytest.fixture
def invited(app, account, admin, deployment):
    result = invitations.invite(account, "newcomer@acme.example", given_name="Nia", family_name="Newcomer",
                                by=Actor.for_user(admin[1]), deployment=deployment)
    return result, "/invitations/" + result.link.rsplit("/", 1)[1]


def register(client, path, **overrides):
    page = client.get(path)
    form = {"csrf_token": csrf(page.get_data(as_text=True)), "given_name": "Nia", "family_name": "Newcomer",
            "password": PASSWORD, "confirm": PASSWORD, "accept_terms": "y", **overrides}
    return client.post(path, data=form)


def test_the_page_offers_registration_with_the_invited_name(client, invited):
    _, path = invited
    page = client.get(path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Join Acme Vendor" in html and "newcomer@acme.example" in html
    assert 'value="Nia"' in html and 'autocomplete="new-password"' in html
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]


def test_registering_activates_the_person_and_the_membership(client, invited):
    result, path = invited
    response = register(client, path)
    # issue 13 point 6: registering signs in and goes on (no "you can sign in" page)
    assert response.status_code == 302
    assert "Welcome to Acme Vendor" in client.get(response.headers["Location"], follow_redirects=True).get_data(
        as_text=True)
    assert User.get(User.email_key == "newcomer@acme.example").status == "active"
    assert Membership.get_by_id(result.membership_id).status == "active"


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(client, invited):
    result, path = invited
    response = client.post(path, data={"given_name": "X", "family_name": "Y", "password": PASSWORD,
                                       "confirm": PASSWORD, "accept_terms": "y"})
    assert response.status_code == 400
    assert Membership.get_by_id(result.membership_id).status == "invited"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [({"password": "short", "confirm": "short"}, "at least 12 characters"),
     ({"password": "password1234", "confirm": "password1234"}, "commonly used"),
     ({"confirm": "something else entirely"}, "The two passwords differ."),
     ({"accept_terms": ""}, "Accept the terms of use"),
     ({"given_name": ""}, "This field is required.")],
)
def test_errors_show_next_to_the_field_and_keep_what_was_typed(client, invited, overrides, message):
    result, path = invited
    response = register(client, path, family_name="Typed Name", **overrides)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in html and 'class="error"' in html
    assert 'value="Typed Name"' in html
    assert Membership.get_by_id(result.membership_id).status == "invited"


@pytest.mark.parametrize(
    ("spoil", "status", "says"),
    [("expire", 410, "has expired"), ("revoke", 410, "was revoked"), ("use", 410, "used already"),
     ("garble", 404, "not valid")],
)
def test_an_unusable_link_says_which_way_it_failed_and_changes_nothing(frozen_clock, client, invited, spoil,
                                                                      status, says, admin):
    result, path = invited
    if spoil == "expire":
        frozen_clock.advance(days=8)
    elif spoil == "revoke":
        invitations.revoke(Invitation.get_by_id(result.invitation_id), by=Actor.for_user(admin[1]))
    elif spoil == "use":
        assert register(client, path).status_code == 302
    else:
        path += "x"
    before = User.get(User.email_key == "newcomer@acme.example").password_hash
    response = client.get(path)
    assert response.status_code == status and says in response.get_data(as_text=True)
    posted = client.post(path, data={"given_name": "Evil", "family_name": "Twin", "password": PASSWORD,
                                     "confirm": PASSWORD, "accept_terms": "y"})
    assert posted.status_code in (status, 400)
    assert User.get(User.email_key == "newcomer@acme.example").password_hash == before


def test_a_person_who_registered_meanwhile_joins_with_one_click(client, invited, cli_actor, deployment):
    result, path = invited
    other = accounts.create_account("Elsewhere", "vendor", by=cli_actor)
    members.add_user(other, "newcomer@acme.example", password=PASSWORD, by=cli_actor, deployment=deployment)
    page = client.get(path)
    assert "join with one click" in page.get_data(as_text=True)
    response = client.post(path, data={"csrf_token": csrf(page.get_data(as_text=True))})
    assert response.status_code == 200
    assert Membership.get_by_id(result.membership_id).status == "active"
