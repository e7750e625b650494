"""The other sign-in pages in headless Chromium: password reset by mail, consent, RP-initiated logout, lockout."""

from __future__ import annotations

import mailbox
import subprocess
import urllib.parse

import pytest

from .conftest import ROSTER, screenshot
from .test_webauthn_signin_browser import Callback, authorize_url, callback  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser

PASSWORD = "a long and unusual passphrase"


@pytest.fixture(scope="module")
def person(localhost_server):
    localhost_server.roster("account", "create", "Pages Ltd", "--type", "reseller")
    subprocess.run([str(ROSTER), "user", "create", "Pages Ltd", "pia@pages.example", "--given-name", "Pia",
                    "--password-stdin"], input=PASSWORD + "\n", env=localhost_server.env, capture_output=True,
                   text=True, timeout=60, check=True)
    return "pia@pages.example"


def sign_in(page, email: str, password: str) -> None:
    """Identifier first (F1): the email and Continue, then the password step."""
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def mailed_link(server, to: str, marker: str) -> str:
    box = mailbox.mbox(server.env["ROSTER_MAIL_FILE"])
    try:
        bodies = [m.get_payload(decode=True).decode() for m in box if m["To"] == to]
    finally:
        box.close()
    line = [b for b in bodies if marker in b][-1]
    return line.split(marker, 1)[1].split()[0]


@pytest.fixture(scope="module")
def resetting_person(localhost_server, person):
    """A person of their own for the reset, so the others keep PASSWORD whatever the order."""
    subprocess.run([str(ROSTER), "user", "create", "Pages Ltd", "rex@pages.example", "--given-name", "Rex",
                    "--password-stdin"], input=PASSWORD + "\n", env=localhost_server.env, capture_output=True,
                   text=True, timeout=60, check=True)
    return "rex@pages.example"


def test_password_reset_by_mailed_link(localhost_server, browser, resetting_person):
    person = resetting_person
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{localhost_server.base_url}/login")
        page.get_by_role("link", name="Forgot your password?").click()
        screenshot(page, "signin-password-forgot")
        page.get_by_label("Email").fill(person)
        page.get_by_role("button", name="Mail me a link").click()
        assert "Check your mail" in page.locator("h1").inner_text()
        link = None
        for _ in range(100):  # the outbox sender delivers within a second or two
            try:
                link = mailed_link(localhost_server, person, "Choose a new password: ")
                break
            except (IndexError, FileNotFoundError):
                page.wait_for_timeout(100)
        assert link, "the reset mail arrived"
        page.goto(link)
        screenshot(page, "signin-password-reset")
        page.get_by_label("New password", exact=True).fill("short")
        page.get_by_label("Repeat the new password").fill("short")
        page.get_by_role("button", name="Save the new password").click()
        assert "at least 12 characters" in page.locator(".error").first.inner_text()
        new = "a fresh and long passphrase"
        page.get_by_label("New password", exact=True).fill(new)
        page.get_by_label("Repeat the new password").fill(new)
        page.get_by_role("button", name="Save the new password").click()
        assert "Your password is changed" in page.locator("h1").inner_text()
        page.goto(link)
        assert "not valid" in page.locator("h1").inner_text()
        page.goto(f"{localhost_server.base_url}/login")
        sign_in(page, person, new)
        if "/login/first" in page.url:  # R8: the terms only, the password is the person's own
            page.get_by_label("I accept the terms of use").check()
            page.get_by_role("button", name="Continue").click()
        assert "/login" not in page.url.split("?")[0]
    finally:
        context.close()


def test_consent_for_a_third_party_application_and_rp_initiated_logout(localhost_server, browser, person,
                                                                        callback):  # noqa: F811
    client = localhost_server.roster("client", "create", "Pages Ltd", "--redirect-uri", callback, "--third-party",
                                     "--name", "Partner Shop", "--post-logout-redirect-uri", callback)
    context = browser.new_context()
    try:
        page = context.new_page()
        url, _ = authorize_url(localhost_server, client["client_id"], callback)
        page.goto(url)
        sign_in(page, person, PASSWORD)
        if "/login/first" in page.url:  # R8: the terms only, the operator set the person's real password
            page.get_by_label("I accept the terms of use").check()
            page.get_by_role("button", name="Continue").click()
        assert page.locator("h1").inner_text() == "Allow Partner Shop?"
        screenshot(page, "signin-consent")
        page.get_by_role("button", name="Deny").click()
        page.wait_for_url(f"{callback}**")
        assert urllib.parse.parse_qs(urllib.parse.urlsplit(Callback.seen[-1]).query)["error"] == ["access_denied"]

        page.goto(f"{localhost_server.base_url}/oauth/logout?" + urllib.parse.urlencode(
            {"client_id": client["client_id"]}))
        assert "Sign out" in page.locator("h1").inner_text()
        screenshot(page, "signin-logout")
        page.get_by_role("button", name="Sign out").click()
        assert "You are signed out" in page.locator("h1").inner_text()
        page.goto(f"{localhost_server.base_url}/profile")
        assert "/login" in page.url
    finally:
        context.close()


def test_a_locked_out_sign_in_says_until_when(localhost_server, browser, person):
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{localhost_server.base_url}/login")
        sign_in(page, "nobody-here@pages.example", "not the password")
        for _ in range(4):  # a refused password shows the password step again, the email kept
            assert page.get_by_label("Email").input_value() == "nobody-here@pages.example"
            page.get_by_label("Password").fill("not the password")
            page.get_by_role("button", name="Sign in").click()
        assert "Too many attempts; try again after" in page.locator("main").inner_text()
        screenshot(page, "signin-locked-out")
    finally:
        context.close()
