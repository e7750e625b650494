"""Notifications in headless Chromium against a live `roster serve` (issue 13 point 1).

A person changes their password on the profile and the mail is in the
server's mbox; they turn security alerts off, change it again, and no new
alert comes, while an account change (still on) does. A sign-in from a
second browser is mailed; from the first one again, it is not.
"""

from __future__ import annotations

import mailbox
import subprocess
import time

import pytest

from .conftest import ROSTER, screenshot

pytestmark = pytest.mark.browser

PASSWORD = "a long and unusual passphrase"
SECOND = "another long and unusual passphrase"
THIRD = "yet another long and unusual passphrase"
EMAIL = "nora@browser.example"


def subjects(server, to: str) -> list[str]:
    try:
        box = mailbox.mbox(server.env["ROSTER_MAIL_FILE"], create=False)
    except (FileNotFoundError, mailbox.NoSuchMailboxError):
        return []
    try:
        return [str(m["Subject"]) for m in box if m["To"] == to]
    finally:
        box.close()


def wait_for_mail(server, to: str, subject: str, count: int = 1) -> list[str]:
    """The subjects mailed to ``to`` once ``count`` mails titled ``subject`` arrived (the sender polls every 2 s)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = subjects(server, to)
        if found.count(subject) >= count:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no {subject!r} mail for {to} within 20 s: {subjects(server, to)}")


def sign_in(page, server, password: str, email: str = EMAIL) -> None:
    page.goto(f"{server.base_url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def change_password(page, server, current: str, new: str) -> None:
    page.goto(f"{server.base_url}/profile/security")
    page.get_by_label("Current password").fill(current)
    page.get_by_label("New password", exact=True).fill(new)
    page.get_by_label("Repeat the new password").fill(new)
    page.get_by_role("button", name="Change password").click()
    assert "Your password is changed." in page.locator(".notice-success").inner_text()


def test_security_alerts_arrive_and_stop_when_turned_off(server, browser):
    subprocess.run([str(ROSTER), "user", "create", "Browser Vendor", EMAIL, "--given-name", "Nora",
                    "--password-stdin"], input=PASSWORD + "\n", env=server.env, capture_output=True, text=True,
                   timeout=60, check=True)
    first = browser.new_context(viewport={"width": 1024, "height": 768})
    page = first.new_page()
    sign_in(page, server, PASSWORD)
    page.wait_for_url("**/login/first**")
    page.get_by_label("I accept the terms of use").check()
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url("**/profile")

    change_password(page, server, PASSWORD, SECOND)
    screenshot(page, "notifications-password-changed")
    mailed = wait_for_mail(server, EMAIL, "Your Roster password was changed")
    assert not any(s.startswith("New sign-in") for s in mailed)  # the very first sign-in is no news

    page.goto(f"{server.base_url}/profile")
    security = page.get_by_label("Security alerts", exact=False)
    assert security.is_checked()
    security.uncheck()
    page.get_by_role("button", name="Save settings").click()
    assert "Your settings are saved." in page.locator(".notice-success").inner_text()
    assert not page.get_by_label("Security alerts", exact=False).is_checked()
    screenshot(page, "notifications-security-alerts-off")

    change_password(page, server, SECOND, THIRD)
    # an account change, still on, arrives after anything the password change could have sent
    subprocess.run([str(ROSTER), "account", "create", "Browser Reseller", "--type", "reseller"], env=server.env,
                   capture_output=True, text=True, timeout=60, check=True)
    subprocess.run([str(ROSTER), "user", "create", "Browser Reseller", EMAIL], env=server.env, capture_output=True,
                   text=True, timeout=60, check=True)
    mailed = wait_for_mail(server, EMAIL, "You now have access to Browser Reseller on Roster")
    assert mailed.count("Your Roster password was changed") == 1
    first.close()


def test_a_second_browser_is_mailed_and_the_first_is_not(server, browser):
    email = "nils@browser.example"
    subprocess.run([str(ROSTER), "user", "create", "Browser Vendor", email, "--given-name", "Nils",
                    "--password-stdin"], input=PASSWORD + "\n", env=server.env, capture_output=True, text=True,
                   timeout=60, check=True)
    first = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
    sign_in(first, server, PASSWORD, email)
    first.wait_for_url("**/login/first**")
    first.get_by_label("I accept the terms of use").check()
    first.get_by_role("button", name="Continue").click()
    first.wait_for_url("**/profile")

    second = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
    sign_in(second, server, PASSWORD, email)
    second.wait_for_url("**/profile")
    mailed = wait_for_mail(server, email, "New sign-in to Roster from Chrome on Linux")
    assert len(mailed) == 1  # and none for the very first sign-in

    first.goto(f"{server.base_url}/logout")
    first.get_by_role("button", name="Sign out").click()
    first.wait_for_url("**/login")
    sign_in(first, server, PASSWORD, email)  # the first browser again: known (its device cookie outlives sign-out)
    first.wait_for_url("**/profile")
    first.goto(f"{server.base_url}/profile/sessions")
    screenshot(first, "notifications-known-browser-sessions")
    time.sleep(3)  # longer than the sender's poll
    assert subjects(server, email) == mailed
