"""The profile pages in headless Chromium against a live `roster serve`.

A person signs in through the real /login page, enrols an authenticator app
and a security key (DevTools virtual authenticator) on the Security page and
signs in again with each; ends another browser's session, which is then
signed out. Every profile page is photographed, at desktop and phone width.
"""

from __future__ import annotations

import subprocess
import time

import pyotp
import pytest

from .conftest import ROSTER, add_security_key, screenshot

pytestmark = pytest.mark.browser

PASSWORD = "a long and unusual passphrase"
PAGES = {"general": "/profile", "accounts": "/profile/accounts", "security": "/profile/security",
         "sessions": "/profile/sessions"}


@pytest.fixture(scope="module")
def server(localhost_server):
    """Served as http://localhost:PORT, since WebAuthn needs a domain as its RP ID."""
    return localhost_server


def create_person(server, email: str) -> str:
    """A member of the init account with the password the operator set for them (their real one)."""
    subprocess.run([str(ROSTER), "user", "create", "Browser Vendor", email, "--given-name", "Pat",
                    "--family-name", "Person", "--password-stdin"], input=PASSWORD + "\n", env=server.env,
                   capture_output=True, text=True, timeout=60, check=True)
    return email


def password_step(page, server, email: str, password: str) -> None:
    page.goto(f"{server.base_url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def first_sign_in(page, server, email: str) -> None:
    """Password, then R8: the terms only (the operator set the person's real password, not a temporary one)."""
    password_step(page, server, email, PASSWORD)
    page.wait_for_url("**/login/first**")
    assert page.get_by_label("New password", exact=True).count() == 0
    page.get_by_label("I accept the terms of use").check()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/profile")


def sign_out(page, server) -> None:
    page.goto(f"{server.base_url}/logout")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")


def next_totp(secret: str, used_step: int) -> str:
    """A code from a time step after ``used_step``: the server refuses a step twice."""
    while int(time.time()) // 30 <= used_step:
        time.sleep(0.5)
    return pyotp.TOTP(secret).now()


def test_a_person_enrols_an_authenticator_app_and_signs_in_with_it(server, page):
    email = create_person(server, "tess@browser.example")
    first_sign_in(page, server, email)
    assert page.get_by_role("heading", name="Profile").is_visible()
    screenshot(page, "profile-general")

    page.get_by_label("Time zone").select_option("Europe/Berlin")
    page.get_by_label("Date format").select_option("DD.MM.YYYY")
    page.get_by_label("First name").fill("")
    page.get_by_role("button", name="Save settings").click()
    assert page.locator("#given_name-error").inner_text() == "Enter your first name."
    assert page.get_by_label("Time zone").input_value() == "Europe/Berlin"
    screenshot(page, "profile-general-error")
    page.get_by_label("First name").fill("Tess")
    page.get_by_role("button", name="Save settings").click()
    assert "Your settings are saved." in page.locator(".notice-success").inner_text()

    page.get_by_role("navigation", name="Profile").get_by_role("link", name="Security").click()
    screenshot(page, "profile-security")
    page.get_by_role("button", name="Set up an authenticator app").click()
    page.wait_for_url("**/profile/security/totp")
    assert page.get_by_role("img", name="QR code to scan with your authenticator app").is_visible()
    screenshot(page, "profile-totp")
    secret = page.locator("#totp-secret").inner_text()
    page.get_by_label("Code from the app").fill("123456" if pyotp.TOTP(secret).now() != "123456" else "654321")
    page.get_by_role("button", name="Confirm").click()
    assert "That code is not right" in page.locator("#code-error").inner_text()

    step = int(time.time()) // 30
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").click()
    assert page.get_by_role("heading", name="Your recovery codes").is_visible()
    assert page.locator("#recovery-codes li").count() == 10
    screenshot(page, "profile-recovery-codes")
    page.get_by_role("link", name="I have saved them").click()
    assert "Authenticator app, set up" in page.locator("main").inner_text()
    assert " CET" in page.locator("main").inner_text() or " CEST" in page.locator("main").inner_text()

    sign_out(page, server)
    password_step(page, server, email, PASSWORD)
    page.wait_for_url("**/login/mfa**")
    page.get_by_role("textbox", name="Code").fill(next_totp(secret, step))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/profile")
    page.goto(f"{server.base_url}/profile/sessions")
    assert "password, authenticator app or recovery code" in page.locator("tr.current").inner_text()


def test_a_person_adds_a_security_key_and_signs_in_with_it(server, browser):
    email = create_person(server, "kay@browser.example")
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    try:
        page = context.new_page()
        add_security_key(context, page)
        first_sign_in(page, server, email)
        page.goto(f"{server.base_url}/profile/security")
        page.get_by_label("Name for the new key (optional)").fill("Virtual key")
        page.get_by_role("button", name="Add a security key or passkey").click()
        page.wait_for_selector("text=“Virtual key” is added")
        # the first second factor comes with recovery codes, shown once (R10)
        assert page.locator("main code").count() >= 10
        screenshot(page, "profile-key-recovery-codes")
        page.goto(f"{server.base_url}/profile/security")
        assert page.locator(".keys strong").inner_text() == "Virtual key"
        screenshot(page, "profile-security-key")

        page.get_by_label("New name for Virtual key").fill("")
        page.get_by_role("button", name="Rename").click()
        assert "Give the key a name." in page.locator(".keys .error").inner_text()
        page.get_by_label("New name for Virtual key").fill("Desk key")
        page.get_by_role("button", name="Rename").click()
        assert "The key is renamed to “Desk key”." in page.locator(".notice-success").inner_text()

        sign_out(page, server)
        password_step(page, server, email, PASSWORD)
        page.wait_for_url("**/login/mfa**")
        button = page.locator("#webauthn-signin")
        assert button.count() == 1, "the sign-in page offers the security key"
        button.click()
        page.wait_for_url("**/profile")
        page.goto(f"{server.base_url}/profile/sessions")
        assert "security key" in page.locator("tr.current").inner_text()
    finally:
        context.close()


def test_a_person_ends_another_session_and_it_is_signed_out(server, browser):
    email = create_person(server, "sam@browser.example")
    laptop = browser.new_context(viewport={"width": 1024, "height": 768})
    phone = browser.new_context(viewport={"width": 360, "height": 740})
    try:
        here = laptop.new_page()
        there = phone.new_page()
        first_sign_in(here, server, email)
        password_step(there, server, email, PASSWORD)
        there.wait_for_url("**/profile")

        here.goto(f"{server.base_url}/profile/sessions")
        rows = here.locator("table.sessions tbody tr")
        assert rows.count() == 2
        screenshot(here, "profile-sessions")
        here.locator("tr:not(.current)").get_by_role("button", name="End session").click()
        assert "The session is ended" in here.locator(".notice-success").inner_text()
        assert "ended from the Sessions page" in here.locator("main").inner_text()

        there.goto(f"{server.base_url}/profile")
        there.wait_for_url("**/login**")
        assert there.get_by_role("heading", name="Sign in").is_visible()
        here.goto(f"{server.base_url}/profile/accounts")
        assert "Browser Vendor" in here.locator("main").inner_text()
        screenshot(here, "profile-accounts")
        here.get_by_role("link", name="Leave Browser Vendor").click()
        screenshot(here, "profile-leave")
        here.goto(f"{server.base_url}/profile/delete")
        screenshot(here, "profile-delete")
    finally:
        laptop.close()
        phone.close()


def test_profile_pages_work_at_phone_width(server, browser):
    email = create_person(server, "pia@browser.example")
    context = browser.new_context(viewport={"width": 360, "height": 740})
    try:
        page = context.new_page()
        first_sign_in(page, server, email)
        for name, path in PAGES.items():
            page.goto(f"{server.base_url}{path}")
            assert page.evaluate("document.documentElement.scrollWidth") <= 360, f"{name} scrolls sideways"
            screenshot(page, f"profile-{name}-phone")
    finally:
        context.close()
