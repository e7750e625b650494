"""Issue 13 point 5: a person who is refused is told why, on a page, before the application hears access_denied.

Deactivated (R6), not a member (never, or removed), an invitation expired or
not accepted yet (R3), a second factor the person cannot give (R10): each gets
a page that says which and what to do; its "Return to" link takes
access_denied, a short error_description and the request's state to the
relying party. prompt=none still answers at once, without a page.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from models import Actor, accounts, clock, invitations, members, mfa, signin
from models.tenancy import User

from .flow import (
    PASSWORD,
    REDIRECT,
    RelyingParty,
    authorization,
    code_from,
    csrf,
    follow,
    hidden,
    ready_person,
    redirect_error,
    sign_in_page,
    submit,
)


def refused(page) -> str:
    """The refusal page's reason, after checking it is one: a page for the person, not a redirect."""
    assert page.status_code == 403, (page.status_code, page.headers.get("Location"))
    assert "Location" not in page.headers
    found = re.search(r'data-reason="([a-z_]+)"', page.text)
    assert found, page.text[:2000]
    return found.group(1)


def return_link(page) -> str:
    found = re.search(r'id="return" href="([^"]+)"', page.text)
    assert found, page.text[:2000]
    return html.unescape(found.group(1))


def returned_error(page) -> dict[str, str]:
    """What the relying party receives when the person presses "Return to …"."""
    link = return_link(page)
    assert link.startswith(REDIRECT + "?"), link
    return {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}


def text_of(page) -> str:
    """The page's words, tags and runs of white space taken out."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())


@pytest.fixture
def admin_named(account, cli_actor, deployment):
    """An active admin of ``account`` with a name the refusal page may give."""
    added = members.add_user(account, "ada@acme.example", given_name="Ada", family_name="Admin", role="admin",
                             password=PASSWORD, by=cli_actor, via="cli", deployment=deployment)
    return added.user


@pytest.fixture
def strict_account(database, cli_actor):
    account = accounts.create_account("Strict Distributor", "distributor", by=cli_actor)
    accounts.set_policy(account, mfa_required=True, by=cli_actor)
    return accounts.get_account(account.id)


# --------------------------------------------------------------------------- deactivated (R6)


def test_a_deactivated_member_is_told_why_before_the_application_hears_access_denied(client, account, admin_named,
                                                                                    cli_actor, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    members.deactivate(members.get_membership(account, person.email), by=cli_actor)
    rp = RelyingParty.register(account)
    request = authorization(rp)
    page = sign_in_page(client, client.get(request.url), person.email)
    assert refused(page) == "deactivated"
    words = text_of(page)
    assert "Your access to Acme Vendor is deactivated" in words
    assert "ask an administrator of Acme Vendor (Ada Admin) to reactivate you" in words
    assert "Return to Partner portal" in words and "Sign in with another user" in words
    error = returned_error(page)
    assert error == {"error": "access_denied", "state": request.params["state"],
                     "error_description": "The person's membership in the account is deactivated."}
    # the page is shown again on a reload; no code was issued on the way
    assert refused(client.get(request.url)) == "deactivated"
    assert "code=" not in return_link(page)


def test_prompt_none_still_answers_the_application_at_once_without_a_page(client, account, cli_actor, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    other = accounts.create_account("Other Reseller", "reseller", by=cli_actor)
    members.add_user(other, person.email, by=cli_actor, via="cli", deployment=deployment)
    # signed in for the other account: that session outlives the deactivation in this one (R6, R11)
    assert code_from(sign_in_page(client, client.get(authorization(RelyingParty.register(other)).url),
                                  person.email))
    members.deactivate(members.get_membership(account, person.email), by=cli_actor)
    rp = RelyingParty.register(account)
    silent = authorization(rp, prompt="none")
    error = redirect_error(client.get(silent.url))
    assert error["error"] == "access_denied" and error["state"] == silent.params["state"]
    assert error["error_description"] == signin.REFUSAL_DESCRIPTIONS["deactivated"]
    # without prompt=none the same session gets the page
    assert refused(follow(client, client.get(authorization(rp).url))) == "deactivated"


# --------------------------------------------------------------------------- not a member, removed


def test_a_person_of_another_account_learns_nothing_about_the_clients_account(client, account, cli_actor,
                                                                             deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    theirs = accounts.create_account("Secret Reseller", "reseller", by=cli_actor)
    members.add_user(theirs, "boss@secret.example", given_name="Sidonie", family_name="Secretive", role="admin",
                     password=PASSWORD, by=cli_actor, via="cli", deployment=deployment)
    rp = RelyingParty.register(theirs)
    request = authorization(rp)
    page = sign_in_page(client, client.get(request.url), person.email)
    assert refused(page) == "not_member"
    words = text_of(page)
    assert "You are not a member of the account that uses Partner portal" in words
    assert "signed in as pat@acme.example" in words
    # tenant isolation: neither the account's name nor its people
    assert "Secret Reseller" not in page.text and "Secretive" not in page.text and "secret.example" not in page.text
    assert "Acme Vendor" not in page.text  # nor the person's own other account: it is not the question
    assert returned_error(page) == {
        "error": "access_denied", "state": request.params["state"],
        "error_description": "The person is not an active member of an account this client admits."}


def test_a_removed_member_is_told_they_are_not_a_member_and_can_sign_in_as_someone_else(client, account, cli_actor,
                                                                                        deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    colleague = ready_person(account, "cam@acme.example", deployment=deployment)
    members.remove(members.get_membership(account, person.email), by=cli_actor)
    rp = RelyingParty.register(account)
    request = authorization(rp)
    page = sign_in_page(client, client.get(request.url), person.email)
    assert refused(page) == "not_member"
    assert "you were removed from it" in text_of(page)
    # "Sign in with another user": signed out, then the sign-in page for the same request
    switched = submit(client, page, "/login/switch")
    assert switched.status_code == 302 and urlsplit(switched.headers["Location"]).path == "/login"
    login = follow(client, switched)
    assert login.request.path == "/login"
    assert hidden(login.text, "next") == request.url
    done = follow(client, submit(client, login, "/login", email=colleague.email, password=PASSWORD))
    assert code_from(done)


def test_switching_user_takes_a_csrf_token_and_stays_on_the_site(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    page = client.get("/login")
    follow(client, submit(client, page, "/login", email=person.email, password=PASSWORD))
    assert client.post("/login/switch", data={"next": "/"}).status_code == 400  # no CSRF token: nothing happens
    assert "/login" not in client.get("/").headers["Location"]  # still signed in: home sends to the profile
    away = client.post("/login/switch", data={"csrf_token": csrf(client.get("/login").text),
                                              "next": "https://evil.example/"})
    assert away.status_code == 302 and away.headers["Location"].startswith("/login")
    assert "evil.example" not in away.headers["Location"]


# --------------------------------------------------------------------------- invitations (R3)


def _invited_to_two(first, second, email: str, cli_actor, deployment) -> User:
    """A new person invited to ``first`` and ``second`` who registers through ``first``'s link only."""
    link = invitations.invite(first, email, given_name="Ivy", family_name="Invited", by=cli_actor, via="cli",
                              deployment=deployment).link
    invitations.invite(second, email, given_name="Ivy", family_name="Invited", by=cli_actor, via="cli",
                       deployment=deployment)
    assert link
    invitations.accept(link.rsplit("/", 1)[1], password=PASSWORD, accept_terms=True, hasher=deployment.hasher)
    user = members.find_user(email)
    assert user is not None and user.status == "active"
    return user


def test_an_invitation_that_expired_is_named_with_when_and_whom_to_ask(client, account, cli_actor, frozen_clock,
                                                                       deployment):
    second = accounts.create_account("Second Reseller", "reseller", by=cli_actor)
    frozen_clock.advance(days=1)  # the invitations were sent on 6 January, 09:00 UTC
    person = _invited_to_two(account, second, "ivy@invited.example", cli_actor, deployment)
    frozen_clock.advance(days=8)
    rp = RelyingParty.register(second)
    request = authorization(rp)
    page = sign_in_page(client, client.get(request.url), person.email)
    assert refused(page) == "invitation_expired"
    words = text_of(page)
    assert "Your invitation to Second Reseller has expired" in words
    assert "expired on 2026-01-13 09:00" in words
    assert "Ask an administrator of Second Reseller to send the invitation again" in words
    assert returned_error(page)["error_description"] == "The person's invitation to the account has expired."
    # the account the person did join lets them in
    assert code_from(follow(client, client.get(authorization(RelyingParty.register(account)).url)))


def test_an_invitation_not_accepted_yet_says_where_the_link_is(client, account, cli_actor, frozen_clock,
                                                              deployment):
    second = accounts.create_account("Second Reseller", "reseller", by=cli_actor)
    person = _invited_to_two(account, second, "ivy@invited.example", cli_actor, deployment)
    request = authorization(RelyingParty.register(second))
    page = sign_in_page(client, client.get(request.url), person.email)
    assert refused(page) == "invitation_pending"
    words = text_of(page)
    assert "Accept your invitation to Second Reseller first" in words
    assert "Open the link in the invitation mail sent to ivy@invited.example (it works until 2026-01-12 09:00" in words
    assert returned_error(page)["state"] == request.params["state"]


def test_a_platform_wide_client_names_only_the_accounts_the_person_belongs_to(client, account, cli_actor,
                                                                             deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    accounts.create_account("Unrelated Reseller", "reseller", by=cli_actor)
    members.deactivate(members.get_membership(account, person.email), by=cli_actor)
    page = sign_in_page(client, client.get(authorization(RelyingParty.register(None)).url), person.email)
    assert refused(page) == "deactivated"
    assert "Acme Vendor" in page.text and "Unrelated Reseller" not in page.text


# --------------------------------------------------------------------------- the account's MFA policy (R10)


def test_a_person_who_cannot_enrol_a_second_factor_is_told_the_policy_and_can_enrol_later(client, strict_account,
                                                                                         frozen_clock, deployment):
    person = ready_person(strict_account, "sam@strict.example", deployment=deployment)
    rp = RelyingParty.register(strict_account)
    request = authorization(rp)
    enrol = sign_in_page(client, client.get(request.url), person.email)
    assert enrol.request.path == "/login/mfa/enrol"
    assert "I cannot do this now" in enrol.text
    declined = submit(client, enrol, "/login/mfa/decline")
    assert declined.status_code == 302 and declined.headers["Location"] == request.url
    page = client.get(declined.headers["Location"])
    assert refused(page) == "mfa"
    words = text_of(page)
    assert "A second factor is required" in words
    assert "Strict Distributor requires a second factor at sign-in" in words
    assert "Set up a second factor" in words and "Return to Partner portal" in words
    assert returned_error(page) == {
        "error": "access_denied", "state": request.params["state"],
        "error_description": "The person did not complete the second factor the sign-in requires."}
    # "Set up a second factor" leads back to the enrolment of the same request, and then to a code
    setup = re.search(r'class="button" href="([^"]+)">Set up a second factor', page.text)
    assert setup
    enrol = client.get(html.unescape(setup.group(1)))
    assert enrol.request.path == "/login/mfa/enrol" and enrol.status_code == 200
    secret = enrol.text.split('id="totp-secret">')[1].split("<")[0]
    codes = submit(client, enrol, "/login/mfa/enrol", code=pyotp.TOTP(secret).at(
        frozen_clock.current.replace(tzinfo=dt.UTC)))
    assert codes.status_code == 200
    next_url = codes.text.split('class="button" href="')[1].split('"')[0]
    assert code_from(follow(client, client.get(html.unescape(next_url))))


def test_a_step_up_the_person_cannot_give_offers_to_try_again(client, account, strict_account, frozen_clock,
                                                              deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    members.add_user(strict_account, person.email, by=Actor.cli("tests"), via="cli", deployment=deployment)
    loose = authorization(RelyingParty.register(account))
    assert code_from(sign_in_page(client, client.get(loose.url), person.email))
    credential, uri = mfa.begin_totp(person, deployment=deployment)
    mfa.confirm_totp(person, credential.id, pyotp.parse_uri(uri).at(clock.now().replace(tzinfo=dt.UTC)),
                     secrets=deployment.secrets)
    request = authorization(RelyingParty.register(strict_account))
    step_up = follow(client, client.get(request.url))
    assert step_up.request.path == "/login/mfa" and "I cannot do this now" in step_up.text
    page = follow(client, submit(client, step_up, "/login/mfa/decline"))
    assert refused(page) == "mfa"
    assert "Try again" in page.text and "recovery codes" in page.text
    # asked once: the request goes back to the second factor after the page
    assert follow(client, client.get(request.url)).request.path == "/login/mfa"


def test_the_way_out_is_offered_only_where_an_application_waits(client, strict_account, account, deployment):
    # the password was just checked: the person's own factor is asked, whatever the application; no way out
    person = ready_person(strict_account, "sam@strict.example", deployment=deployment)
    credential, uri = mfa.begin_totp(person, deployment=deployment)
    mfa.confirm_totp(person, credential.id, pyotp.parse_uri(uri).at(clock.now().replace(tzinfo=dt.UTC)),
                     secrets=deployment.secrets)
    pending = sign_in_page(client, client.get(authorization(RelyingParty.register(strict_account)).url),
                           person.email)
    assert pending.request.path == "/login/mfa" and "I cannot do this now" not in pending.text
    # the console's or profile's enrolment is no application's sign-in
    other = ready_person(account, "pat@acme.example", deployment=deployment)
    browser = client.application.test_client()
    follow(browser, submit(browser, browser.get("/login"), "/login", email=other.email, password=PASSWORD))
    enrol = browser.get("/login/mfa/enrol?next=/profile")
    assert enrol.status_code == 200 and "I cannot do this now" not in enrol.text
    # declining outside an authorization request only goes back there
    declined = browser.post("/login/mfa/decline", data={"csrf_token": csrf(enrol.text), "next": "/profile"})
    assert declined.status_code == 302 and declined.headers["Location"] == "/profile"


def test_declining_needs_a_session_and_a_csrf_token(client):
    assert client.post("/login/mfa/decline", data={"next": "/oauth/authorize"}).status_code == 400
    page = client.get("/login")
    signed_out = client.post("/login/mfa/decline", data={"csrf_token": csrf(page.text), "next": "/oauth/authorize"})
    assert signed_out.status_code == 302 and urlsplit(signed_out.headers["Location"]).path == "/login"


# --------------------------------------------------------------------------- the domain's answer


def test_refusal_for_picks_the_most_telling_membership(account, cli_actor, deployment, frozen_clock):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    other = accounts.create_account("Other Reseller", "reseller", by=cli_actor)
    assert signin.refusal_for(person, other.id) == signin.Refusal("not_member")
    members.deactivate(members.get_membership(account, person.email), by=cli_actor)
    refusal = signin.refusal_for(person, account.id)
    assert refusal.reason == "deactivated" and refusal.account is not None and refusal.account.id == account.id
    assert refusal.admins == ()  # the account's only admin is the CLI here: nobody to name
    assert signin.refusal_for(person, None).reason == "deactivated"
    assert signin.refusal_for(person, other.id).account is None
    for description in signin.REFUSAL_DESCRIPTIONS.values():  # RFC 6749 §4.1.2.1's characters
        assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in description)
