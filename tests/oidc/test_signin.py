"""Sign-in policy through the pages: MFA per account (R10), step-up, prompts, first login (R8), throttling, cookies."""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest

from models import Actor, accounts, clock, members, mfa
from models.deployment import Deployment
from models.security import Session
from models.tenancy import User
from oidc.web_session import COOKIE

from .flow import (
    PASSWORD,
    RelyingParty,
    authorization,
    code_from,
    exchange,
    follow,
    hidden,
    id_token_claims,
    ready_person,
    redirect_error,
    sign_in_for_tokens,
    sign_in_page,
    submit,
)


def totp_for(user: User, deployment: Deployment) -> pyotp.TOTP:
    credential, uri = mfa.begin_totp(user, deployment=deployment)
    totp = pyotp.parse_uri(uri)
    mfa.confirm_totp(user, credential.id, totp.at(clock.now().replace(tzinfo=dt.UTC)), secrets=deployment.secrets)
    return totp


def next_code(totp: pyotp.TOTP, clock) -> str:
    """A code of a time step not used yet (each step works once)."""
    clock.advance(seconds=30)
    return totp.at(clock.current.replace(tzinfo=dt.UTC))


def claims_after(client, rp, request, response):
    tokens = exchange(client, rp, code_from(response), request.verifier).get_json()
    return id_token_claims(client, tokens["id_token"])


@pytest.fixture
def strict_account(database, cli_actor):
    account = accounts.create_account("Strict Distributor", "distributor", by=cli_actor)
    accounts.set_policy(account, mfa_required=True, by=cli_actor)
    return accounts.get_account(account.id)


def test_r10_an_account_that_requires_mfa_demands_the_second_factor(client, strict_account, frozen_clock, deployment):
    person = ready_person(strict_account, "pat@strict.example", deployment=deployment)
    totp = totp_for(person, deployment)
    rp = RelyingParty.register(strict_account)
    request = authorization(rp)
    page = sign_in_page(client, client.get(request.url), person.email)
    assert page.request.path == "/login/mfa" and page.status_code == 200
    wrong = submit(client, page, "/login/mfa", code="000000")
    assert wrong.status_code == 400 and "not right" in wrong.get_data(as_text=True)
    done = follow(client, submit(client, page, "/login/mfa", code=next_code(totp, frozen_clock)))
    claims = claims_after(client, rp, request, done)
    assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["acr"] == "mfa"


def test_r10_a_person_without_a_second_factor_enrols_during_the_sign_in(client, strict_account, frozen_clock,
                                                                        deployment):
    person = ready_person(strict_account, "new@strict.example", deployment=deployment)
    rp = RelyingParty.register(strict_account)
    request = authorization(rp)
    page = sign_in_page(client, client.get(request.url), person.email)
    assert page.request.path == "/login/mfa/enrol"
    assert "<svg" in page.get_data(as_text=True)
    secret = page.get_data(as_text=True).split('id="totp-secret">')[1].split("<")[0]
    codes_page = submit(client, page, "/login/mfa/enrol", code=pyotp.TOTP(secret).at(
        frozen_clock.current.replace(tzinfo=dt.UTC)))
    assert codes_page.status_code == 200 and codes_page.get_data(as_text=True).count("<li><code>") == 10
    assert mfa.remaining_recovery_codes(person) == 10
    next_url = codes_page.get_data(as_text=True).split('class="button" href="')[1].split('"')[0]
    done = follow(client, client.get(next_url.replace("&amp;", "&")))
    assert claims_after(client, rp, request, done)["acr"] == "mfa"


def test_r10_without_the_policy_no_second_factor_is_asked_of_someone_without_one(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    rp = RelyingParty.register(account)
    request = authorization(rp)
    done = sign_in_page(client, client.get(request.url), person.email)
    assert claims_after(client, rp, request, done)["amr"] == ["pwd"]


def test_r10_without_the_policy_an_enrolled_second_factor_is_still_used(client, account, frozen_clock, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    totp = totp_for(person, deployment)
    rp = RelyingParty.register(account)
    request = authorization(rp)
    page = sign_in_page(client, client.get(request.url), person.email)
    assert page.request.path == "/login/mfa"
    done = follow(client, submit(client, page, "/login/mfa", code=next_code(totp, frozen_clock)))
    assert claims_after(client, rp, request, done)["acr"] == "mfa"


def test_r10_a_session_from_another_account_steps_up_for_the_strict_one(client, account, strict_account,
                                                                          frozen_clock, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    members.add_user(strict_account, person.email, role="user", by=Actor.cli("tests"), via="cli", deployment=deployment)
    loose_rp, strict_rp = RelyingParty.register(account), RelyingParty.register(strict_account)
    request = authorization(loose_rp)
    assert claims_after(client, loose_rp, request, sign_in_page(client, client.get(request.url), person.email))
    # the same browser session now asks for the strict account: the second factor is demanded there
    totp = totp_for(person, deployment)
    strict_request = authorization(strict_rp)
    page = follow(client, client.get(strict_request.url))
    assert page.request.path == "/login/mfa"
    done = follow(client, submit(client, page, "/login/mfa", code=next_code(totp, frozen_clock)))
    assert claims_after(client, strict_rp, strict_request, done)["amr"] == ["pwd", "otp", "mfa"]


def test_r10_acr_values_mfa_forces_a_step_up(client, account, frozen_clock, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    rp = RelyingParty.register(account)
    first = authorization(rp)
    claims_after(client, rp, first, sign_in_page(client, client.get(first.url), person.email))
    totp = totp_for(person, deployment)
    request = authorization(rp, acr_values="mfa")
    page = follow(client, client.get(request.url))
    assert page.request.path == "/login/mfa"
    done = follow(client, submit(client, page, "/login/mfa", code=next_code(totp, frozen_clock)))
    assert claims_after(client, rp, request, done)["acr"] == "mfa"


def test_r10_a_recovery_code_works_once_as_the_second_factor(client, strict_account, deployment):
    person = ready_person(strict_account, "pat@strict.example", deployment=deployment)
    credential, uri = mfa.begin_totp(person, deployment=deployment)
    codes = mfa.confirm_totp(person, credential.id, pyotp.parse_uri(uri).at(clock.now().replace(tzinfo=dt.UTC)),
                             secrets=deployment.secrets)
    rp = RelyingParty.register(strict_account)
    request = authorization(rp)
    page = sign_in_page(client, client.get(request.url), person.email)
    done = follow(client, submit(client, page, "/login/mfa", code=codes[0]))
    assert claims_after(client, rp, request, done)["acr"] == "mfa"
    client.delete_cookie(COOKIE, domain="localhost")
    again = authorization(rp)
    page = sign_in_page(client, client.get(again.url), person.email)
    assert submit(client, page, "/login/mfa", code=codes[0]).status_code == 400


def test_a_totp_code_cannot_be_replayed(client, strict_account, frozen_clock, deployment):
    person = ready_person(strict_account, "pat@strict.example", deployment=deployment)
    totp = totp_for(person, deployment)
    rp = RelyingParty.register(strict_account)
    code = next_code(totp, frozen_clock)
    page = sign_in_page(client, client.get(authorization(rp).url), person.email)
    follow(client, submit(client, page, "/login/mfa", code=code))
    client.delete_cookie(COOKIE, domain="localhost")
    page = sign_in_page(client, client.get(authorization(rp).url), person.email)
    replay = submit(client, page, "/login/mfa", code=code)
    assert replay.status_code == 400 and "not right" in replay.get_data(as_text=True)


def test_second_factor_attempts_are_throttled_and_the_lockout_is_shown(client, strict_account, frozen_clock,
                                                                       deployment):
    person = ready_person(strict_account, "pat@strict.example", deployment=deployment)
    totp = totp_for(person, deployment)
    page = sign_in_page(client, client.get(authorization(RelyingParty.register(strict_account)).url), person.email)
    for _ in range(5):
        submit(client, page, "/login/mfa", code="000000")
    locked = submit(client, page, "/login/mfa", code=next_code(totp, frozen_clock))
    assert locked.status_code == 400 and "Too many attempts" in locked.get_data(as_text=True)


def test_failed_passwords_lock_the_email_for_a_while_and_the_page_says_until_when(client, account, frozen_clock,
                                                                                  deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    page = client.get("/login")
    for _ in range(5):
        failed = submit(client, page, "/login", email=person.email, password="wrong password!")
        assert failed.status_code == 400
    locked = submit(client, page, "/login", email=person.email, password=PASSWORD)
    assert locked.status_code == 400 and "Too many attempts; try again after" in locked.get_data(as_text=True)
    assert COOKIE not in (locked.headers.get("Set-Cookie") or "")
    frozen_clock.advance(minutes=16)
    assert submit(client, page, "/login", email=person.email, password=PASSWORD).status_code == 302


def test_failed_passwords_from_one_address_are_throttled_across_emails(client, account, deployment):
    page = client.get("/login")
    for n in range(5):
        submit(client, page, "/login", email=f"nobody{n}@acme.example", password="wrong password!")
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    locked = submit(client, page, "/login", email=person.email, password=PASSWORD)
    assert "Too many attempts" in locked.get_data(as_text=True)


def test_a_wrong_password_and_an_unknown_email_get_the_same_answer(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    page = client.get("/login")
    wrong = submit(client, page, "/login", email=person.email, password="wrong password!")
    unknown = submit(client, page, "/login", email="nobody@acme.example", password="wrong password!")
    assert wrong.status_code == unknown.status_code == 400
    assert "The email or password is not right." in wrong.get_data(as_text=True)
    assert "The email or password is not right." in unknown.get_data(as_text=True)


def test_r8_a_temporary_password_leads_to_terms_and_a_new_password_before_any_code(client, account, deployment):
    added = members.add_user(account, "temp@acme.example", given_name="Tim", family_name="Temp",
                             temporary_password=True, by=Actor.cli("tests"), via="console", deployment=deployment)
    temporary = added.temporary_password
    assert temporary and added.user.must_change_password
    rp = RelyingParty.register(account)
    request = authorization(rp)
    page = sign_in_page(client, client.get(request.url), "temp@acme.example", temporary)
    assert page.request.path == "/login/first"
    assert 'name="new_password"' in page.get_data(as_text=True)
    same = submit(client, page, "/login/first", new_password=temporary, confirm=temporary, accept_terms="y")
    assert same.status_code == 400 and "other than the temporary one" in same.get_data(as_text=True)
    new = "a brand new passphrase 42"
    no_terms = submit(client, page, "/login/first", new_password=new, confirm=new)
    assert no_terms.status_code == 400 and "terms" in no_terms.get_data(as_text=True)
    done = follow(client, submit(client, page, "/login/first", new_password=new, confirm=new, accept_terms="y"))
    assert code_from(done)
    user = User.get_by_id(added.user.id)
    assert not user.must_change_password and user.terms_accepted_at is not None


def test_r8_a_password_set_by_the_operator_asks_for_the_terms_only(client, account, deployment):
    # what `roster user create --password-stdin` does: the person's real password, terms still to accept
    added = members.add_user(account, "set@acme.example", given_name="Sam", family_name="Set", password=PASSWORD,
                             by=Actor.cli("tests"), via="cli", deployment=deployment)
    assert not added.user.must_change_password and added.user.terms_accepted_at is None
    rp = RelyingParty.register(account)
    request = authorization(rp)
    page = sign_in_page(client, client.get(request.url), "set@acme.example")
    assert page.request.path == "/login/first"
    html = page.get_data(as_text=True)
    assert 'name="new_password"' not in html and "temporary" not in html and "Accept the terms of use" in html
    no_terms = submit(client, page, "/login/first")
    assert no_terms.status_code == 400 and "Accept the terms of use" in no_terms.get_data(as_text=True)
    done = follow(client, submit(client, page, "/login/first", accept_terms="y"))
    assert code_from(done)
    user = User.get_by_id(added.user.id)
    assert user.terms_accepted_at is not None and user.password_hash == added.user.password_hash
    assert client.get("/login/first").status_code == 302  # done: the page sends the person on


def test_prompt_none_without_a_session_answers_login_required(client, account):
    rp = RelyingParty.register(account)
    request = authorization(rp, prompt="none")
    error = redirect_error(client.get(request.url))
    assert error["error"] == "login_required" and error["state"] == request.params["state"]


def test_prompt_none_with_a_session_gives_a_code_without_any_page(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    rp = RelyingParty.register(account)
    first = authorization(rp)
    sign_in_page(client, client.get(first.url), person.email)
    assert code_from(client.get(authorization(rp, prompt="none").url))


def test_prompt_login_and_max_age_ask_for_the_password_again(client, account, frozen_clock, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    rp = RelyingParty.register(account)
    first = authorization(rp)
    first_claims = claims_after(client, rp, first, sign_in_page(client, client.get(first.url), person.email))
    forced = authorization(rp, prompt="login")
    page = follow(client, client.get(forced.url))
    assert page.request.path == "/login"
    frozen_clock.advance(minutes=5)
    again = follow(client, submit(client, page, "/login", email=person.email, password=PASSWORD))
    assert claims_after(client, rp, forced, again)["sid"] != first_claims["sid"]
    frozen_clock.advance(minutes=5)
    assert follow(client, client.get(authorization(rp, max_age="60").url)).request.path == "/login"
    assert code_from(client.get(authorization(rp, max_age="3600").url))


def test_account_choice_when_the_person_belongs_to_several_accounts(client, account, cli_actor, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    other = accounts.create_account("Other Reseller", "reseller", by=cli_actor)
    members.add_user(other, person.email, by=cli_actor, via="cli", deployment=deployment)
    rp = RelyingParty.register(None)  # a platform-wide client admits every account of the person
    request = authorization(rp)
    page = sign_in_page(client, client.get(request.url), person.email)
    assert page.request.path == "/login/account"
    text = page.get_data(as_text=True)
    assert account.name in text and other.name in text
    done = follow(client, submit(client, page, "/login/account", account=other.id))
    assert claims_after(client, rp, request, done)["account"]["id"] == other.id
    # prompt=none cannot choose for the person when it is not the session's account
    assert code_from(client.get(authorization(rp, prompt="none").url))
    select = follow(client, client.get(authorization(rp, prompt="select_account").url))
    assert select.request.path == "/login/account"


def test_third_party_clients_ask_for_consent(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    rp = RelyingParty.register(account, first_party=False)
    request = authorization(rp)
    page = sign_in_page(client, client.get(request.url), person.email)
    assert "Allow Partner portal?" in page.get_data(as_text=True)
    denied = submit(client, page, request.url, decision="deny")
    assert redirect_error(denied)["error"] == "access_denied"
    page = follow(client, client.get(request.url))
    assert code_from(submit(client, page, request.url, decision="allow"))
    assert redirect_error(client.get(authorization(rp, prompt="none").url))["error"] == "consent_required"


def test_the_session_cookie_is_httponly_lax_and_rotated_at_sign_in(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    page = client.get("/login")
    first = submit(client, page, "/login", email=person.email, password=PASSWORD)
    cookie = first.headers["Set-Cookie"]
    assert cookie.startswith(f"{COOKIE}=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    second = submit(client, client.get("/login"), "/login", email=person.email, password=PASSWORD)
    assert second.headers["Set-Cookie"].split(";")[0] != cookie.split(";")[0]
    assert Session.select().where(Session.user == person.id).count() == 2


def test_cookies_are_secure_when_roster_is_served_over_https(database_url, account, deployment):
    from models.database import db
    from scim_server.app import create_app

    from ..conftest import dispose

    person = ready_person(account, "pat@acme.example", deployment=deployment)
    dispose(db.obj)
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "k" * 40, "BASE_URL": "https://id.example"})
    https = app.test_client()
    page = https.get("/login", base_url="https://localhost")
    response = https.post("/login", base_url="https://localhost", data={
        "csrf_token": page.get_data(as_text=True).split('name="csrf_token" type="hidden" value="')[1].split('"')[0],
        "email": person.email, "password": PASSWORD})
    assert all("Secure" in c for c in response.headers.getlist("Set-Cookie"))
    dispose(db.obj)


def test_sign_in_pages_refuse_framing_and_carry_csrf_tokens(client):
    page = client.get("/login")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert client.post("/login", data={"email": "x@y.example", "password": "z"}).status_code == 400


def test_next_never_leaves_the_site(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    page = client.get("/login?next=https://evil.example/")
    assert hidden(page.get_data(as_text=True), "next") == "/"
    response = submit(client, page, "/login", email=person.email, password=PASSWORD)
    assert response.headers["Location"] == "/"


def test_login_hint_fills_in_the_email(client, account):
    rp = RelyingParty.register(account)
    page = follow(client, client.get(authorization(rp, login_hint="pat@acme.example").url))
    assert 'value="pat@acme.example"' in page.get_data(as_text=True)


def test_sign_in_pages_let_forms_redirect_to_the_application_but_other_pages_do_not(client):
    # browsers apply form-action to the redirects after a post; a sign-in ends at the application's URI
    assert "form-action" not in client.get("/login").headers["Content-Security-Policy"]
    assert "form-action 'self'" in client.get("/invitations/nope").headers["Content-Security-Policy"]


def test_api_calls_get_no_session_cookie_and_pages_read_theirs_among_other_cookies(client, account, deployment):
    person = ready_person(account, "pat@acme.example", deployment=deployment)
    rp = RelyingParty.register(account)
    tokens = sign_in_for_tokens(client, rp, person.email)
    client.set_cookie("tracking", "session-like-value", domain="localhost")  # another cookie that names "session"
    for response in (client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}),
                     client.post("/oauth/introspect", data={"token": tokens["access_token"]}, auth=rp.auth)):
        assert response.status_code == 200 and "Set-Cookie" not in response.headers
    # prompt=login keeps "this request's fresh sign-in" in Flask's signed session: without it, no code
    browser = client.application.test_client()
    browser.set_cookie("tracking", "x", domain="localhost")
    finished = sign_in_page(browser, browser.get(authorization(rp, prompt="login").url), person.email)
    assert code_from(finished)
