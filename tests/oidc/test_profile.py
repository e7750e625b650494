"""Profile → General, Accounts, Sessions over HTTP through the real app (real CSRF), on both databases."""

from __future__ import annotations

import pytest

from models import Actor, AuditEvent, Membership, User, accounts, clock, groups, members, sessions
from models.security import Session

from .flow import csrf

PASSWORD = "correct horse battery staple"
CHROME_WINDOWS = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/131.0.0.0 Safari/537.36")
FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def ready(user: User) -> User:
    """A person past R8: terms accepted, own password."""
    User.update(must_change_password=False, terms_accepted_at=clock.now()).where(User.id == user.id).execute()
    return User.get_by_id(user.id)


@pytest.fixture
def person(admin):
    return ready(admin[1])


@pytest.fixture
def signed_in(client, person, sign_in):
    """``client`` signed in as ``person``; returns the session row."""
    return sign_in(client, person)


def post_form(client, page: str, action: str, data: dict | None = None, **kwargs):
    """POST ``data`` to ``action`` with the CSRF token of ``page``, as the browser would."""
    token = csrf(client.get(page).get_data(as_text=True))
    return client.post(action, data={"csrf_token": token, **(data or {})}, **kwargs)


def html_of(response) -> str:
    return response.get_data(as_text=True)


def other_person(account, deployment, email="bea@acme.example", role="user"):
    added = members.add_user(account, email, given_name="Bea", family_name="Other", role=role,
                             password=PASSWORD, by=Actor.cli("tests"), via="cli", deployment=deployment)
    return ready(added.user)


# --- access ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/profile", "/profile/accounts", "/profile/security", "/profile/sessions",
                                  "/profile/delete"])
def test_every_page_needs_a_signed_in_person(client, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=" + path.replace("/", "%2F")) or \
        response.headers["Location"].startswith("/login?next=" + path)


def test_r8_comes_first(client, admin, sign_in):
    _, user = admin
    User.update(must_change_password=True).where(User.id == user.id).execute()
    sign_in(client, user)
    response = client.get("/profile")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login/first")


def test_pages_refuse_framing_and_caching(client, signed_in):
    response = client.get("/profile")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_the_navigation_links_the_profile(client, signed_in):
    html = html_of(client.get("/profile/sessions"))
    assert 'href="/profile"' in html and 'aria-current="page">Sessions' in html


# --- General ------------------------------------------------------------------------


def test_general_shows_the_persons_settings(client, signed_in, person):
    html = html_of(client.get("/profile"))
    assert 'value="Ada"' in html and 'value="Admin"' in html
    assert '<option selected value="UTC">' in html
    assert "Europe/Berlin" in html


def test_general_saves_every_setting(client, signed_in, person):
    response = post_form(client, "/profile", "/profile", {
        "given_name": " Ada  Grace ", "family_name": "Lovelace", "display_name": "Countess",
        "timezone": "Europe/Berlin", "date_format": "DD.MM.YYYY", "locale": "de", "news_opt_in": "y",
        "notify_security": "y", "notify_invitations": "y"}, follow_redirects=True)
    assert response.status_code == 200
    assert "Ihre Einstellungen sind gespeichert." in html_of(response)  # in the language just chosen
    user = User.get_by_id(person.id)
    assert (user.given_name, user.family_name, user.display_name) == ("Ada Grace", "Lovelace", "Countess")
    assert (user.timezone, user.date_format, user.locale, user.news_opt_in) == ("Europe/Berlin", "DD.MM.YYYY",
                                                                                 "de", True)
    assert user.email_notifications == {"security": True, "memberships": False, "invitations": True}
    event = AuditEvent.select().where(AuditEvent.action == "user.profile_updated").get()
    assert event.actor_id == person.id and "timezone" in event.detail["fields"]


def test_general_keeps_typed_values_and_shows_errors_by_the_field(client, signed_in, person):
    response = post_form(client, "/profile", "/profile", {
        "given_name": "", "family_name": "Typed", "timezone": "Mars/Olympus_Mons", "date_format": "YYYY-MM-DD",
        "locale": "en"})
    html = html_of(response)
    assert response.status_code == 400
    assert 'id="given_name-error">Enter your first name.' in html
    assert 'id="timezone-error">' in html
    assert 'value="Typed"' in html
    assert User.get_by_id(person.id).family_name == "Admin"


def test_general_refuses_an_unknown_date_format_and_language(client, signed_in):
    response = post_form(client, "/profile", "/profile", {
        "given_name": "Ada", "timezone": "UTC", "date_format": "%Y", "locale": "xx"})
    html = html_of(response)
    assert response.status_code == 400
    assert 'id="date_format-error"' in html and 'id="locale-error"' in html


def test_general_without_csrf_changes_nothing(client, signed_in, person):
    response = client.post("/profile", data={"given_name": "Mallory", "timezone": "UTC",
                                             "date_format": "YYYY-MM-DD", "locale": "en"})
    assert response.status_code == 400
    assert User.get_by_id(person.id).given_name == "Ada"


def test_update_settings_checks_values_in_the_domain(person):
    from models import profile
    from models.errors import InvalidInputError

    with pytest.raises(InvalidInputError) as refused:
        profile.update_settings(person, given_name="Ada", family_name="", timezone="Nowhere/Land",
                                date_format="YYYY-MM-DD", locale="en", news_opt_in=False, email_notifications={})
    assert refused.value.field == "timezone"
    with pytest.raises(InvalidInputError) as refused:
        profile.update_settings(person, given_name="Ada", family_name="", timezone="UTC",
                                date_format="YYYY-MM-DD", locale="en", news_opt_in=False,
                                email_notifications={"spam": True})
    assert refused.value.field == "email_notifications"


def test_times_follow_the_persons_zone_and_date_format(client, person, sign_in, frozen_clock):
    User.update(timezone="Europe/Berlin", date_format="DD.MM.YYYY").where(User.id == person.id).execute()
    sign_in(client, person)
    html = html_of(client.get("/profile/sessions"))
    # 09:00 UTC on 5 January is 10:00 in Berlin (CET)
    assert "05.01.2026 10:00 CET" in html
    User.update(timezone="America/New_York", date_format="MM/DD/YYYY").where(User.id == person.id).execute()
    assert "01/05/2026 04:00 EST" in html_of(client.get("/profile/sessions"))


# --- Accounts -------------------------------------------------------------------------


@pytest.fixture
def second_account(person, deployment):
    account = accounts.create_account("Beta Reseller", "reseller", by=Actor.cli("tests"))
    members.add_user(account, "boss@beta.example", role="admin", password=PASSWORD, by=Actor.cli("tests"),
                     via="cli", deployment=deployment)
    members.add_user(account, person.email, by=Actor.cli("tests"), via="cli", deployment=deployment)
    return account


def test_accounts_lists_type_role_and_groups(client, signed_in, account, admin, second_account):
    group = groups.create_group(account, "Sales team", by=Actor.cli("tests"))
    groups.add_members(group, [admin[0].id], by=Actor.cli("tests"))
    html = html_of(client.get("/profile/accounts"))
    acme = html.index("Acme Vendor")
    beta = html.index("Beta Reseller")
    assert acme < beta
    assert "Vendor" in html[acme:beta] and "Admin" in html[acme:beta] and "Sales team" in html[acme:beta]
    assert "Reseller" in html[beta:] and "User" in html[beta:] and "none" in html[beta:]


def test_leaving_asks_first_then_leaves(client, signed_in, person, second_account):
    page = client.get(f"/profile/accounts/{second_account.id}/leave")
    assert page.status_code == 200 and "Leave Beta Reseller?" in html_of(page)
    assert Membership.select().where(Membership.user == person.id).count() == 2

    response = post_form(client, f"/profile/accounts/{second_account.id}/leave",
                         f"/profile/accounts/{second_account.id}/leave", follow_redirects=True)
    assert "You left Beta Reseller." in html_of(response)
    assert not Membership.select().where((Membership.user == person.id)
                                         & (Membership.account == second_account.id)).exists()


def test_the_last_admin_cannot_leave(client, signed_in, person, account):
    response = post_form(client, "/profile", f"/profile/accounts/{account.id}/leave",
                         follow_redirects=True)
    html = html_of(response)
    assert "must keep at least one active admin" in html and 'class="notice notice-error"' in html
    assert Membership.select().where((Membership.user == person.id) & (Membership.account == account.id)).exists()


def test_leaving_needs_csrf(client, signed_in, person, second_account):
    response = client.post(f"/profile/accounts/{second_account.id}/leave")
    assert response.status_code == 400
    assert Membership.select().where(Membership.user == person.id).count() == 2


def test_leaving_an_account_one_is_not_in(client, signed_in, person):
    elsewhere = accounts.create_account("Gamma Provider", "provider", by=Actor.cli("tests"))
    response = post_form(client, "/profile", f"/profile/accounts/{elsewhere.id}/leave",
                         follow_redirects=True)
    assert "You are not a member of that account." in html_of(response)


# --- Sessions ---------------------------------------------------------------------------


def test_sessions_show_device_ip_times_and_methods(client, signed_in, person):
    sessions.start(person, account_id=None, amr=["pwd", "otp", "mfa"], ip="203.0.113.9", user_agent=CHROME_WINDOWS)
    other, _ = sessions.start(person, account_id=None, amr=["pwd", "hwk", "mfa"], ip="198.51.100.7",
                              user_agent=FIREFOX_LINUX)
    sessions.end(other.id, "signed_out")
    html = html_of(client.get("/profile/sessions"))
    assert "Chrome on Windows" in html and "203.0.113.9" in html
    assert "password, authenticator app or recovery code" in html
    assert "Firefox on Linux" in html and "password, security key" in html and "signed out" in html
    assert "this device" in html and "Sign out all other sessions (1)" in html


def test_device_names_from_user_agents():
    from oidc.profile import device

    assert device(CHROME_WINDOWS) == "Chrome on Windows"
    assert device(FIREFOX_LINUX) == "Firefox on Linux"
    assert device("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                  "Version/17.5 Mobile/15E148 Safari/604.1") == "Safari on iOS"
    assert device("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0") == "Edge on macOS"
    assert device("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 "
                  "Mobile Safari/537.36") == "Chrome on Android"
    assert device("pytest") == "Unknown device"


def test_ending_another_session_signs_that_browser_out(app, client, signed_in, person):
    other_browser = app.test_client()
    from oidc.web_session import COOKIE

    other, raw = sessions.start(person, account_id=None, amr=["pwd"], ip="198.51.100.7", user_agent=FIREFOX_LINUX)
    other_browser.set_cookie(COOKIE, raw, domain="localhost")
    assert other_browser.get("/profile").status_code == 200

    response = post_form(client, "/profile/sessions", f"/profile/sessions/{other.id}/end", follow_redirects=True)
    assert "The session is ended" in html_of(response)
    assert Session.get_by_id(other.id).end_reason == "ended_by_user"
    refused = other_browser.get("/profile")
    assert refused.status_code == 302 and refused.headers["Location"].startswith("/login")
    assert client.get("/profile").status_code == 200


def test_ending_all_other_sessions(app, client, signed_in, person):
    from oidc.web_session import COOKIE

    browsers = []
    for _ in range(2):
        _, raw = sessions.start(person, account_id=None, amr=["pwd"], ip="198.51.100.7", user_agent=FIREFOX_LINUX)
        browser = app.test_client()
        browser.set_cookie(COOKIE, raw, domain="localhost")
        browsers.append(browser)
    response = post_form(client, "/profile/sessions", "/profile/sessions/end-others", follow_redirects=True)
    assert "2 other sessions ended" in html_of(response)
    assert all(b.get("/profile/sessions").status_code == 302 for b in browsers)
    assert Session.get_by_id(signed_in.id).ended_at is None
    again = post_form(client, "/profile", "/profile/sessions/end-others", follow_redirects=True)
    assert "There were no other sessions to end." in html_of(again)


def test_ending_this_session_signs_out(client, signed_in):
    response = post_form(client, "/profile", f"/profile/sessions/{signed_in.id}/end")
    assert response.status_code == 302 and response.headers["Location"] == "/login"
    assert Session.get_by_id(signed_in.id).ended_at is not None
    assert client.get("/profile").status_code == 302


def test_a_person_cannot_end_someone_elses_session(client, signed_in, account, deployment):
    bea = other_person(account, deployment)
    theirs, _ = sessions.start(bea, account_id=None, amr=["pwd"], ip="192.0.2.1", user_agent=FIREFOX_LINUX)
    response = post_form(client, "/profile", f"/profile/sessions/{theirs.id}/end", follow_redirects=True)
    assert "That session was not found" in html_of(response)
    assert Session.get_by_id(theirs.id).ended_at is None
    assert theirs.id not in html_of(client.get("/profile/sessions"))


def test_ending_sessions_needs_csrf(app, client, signed_in, person):
    other, _ = sessions.start(person, account_id=None, amr=["pwd"], ip="198.51.100.7", user_agent=FIREFOX_LINUX)
    assert client.post(f"/profile/sessions/{other.id}/end").status_code == 400
    assert client.post("/profile/sessions/end-others").status_code == 400
    assert Session.get_by_id(other.id).ended_at is None


def test_no_action_by_get(client, signed_in, person):
    other, _ = sessions.start(person, account_id=None, amr=["pwd"], ip="198.51.100.7", user_agent=FIREFOX_LINUX)
    assert client.get(f"/profile/sessions/{other.id}/end").status_code == 405
    assert client.get("/profile/sessions/end-others").status_code == 405
    assert Session.get_by_id(other.id).ended_at is None
