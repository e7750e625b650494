"""The invitation page in headless Chromium: the first admin registers from `roster init`'s link."""

from __future__ import annotations

import pytest

from .conftest import screenshot

pytestmark = pytest.mark.browser

PASSWORD = "a long and unusual passphrase"


def test_first_admin_registers_from_the_init_link(server, page):
    page.goto(server.init["admin_link"])
    assert page.title() == "Join Browser Vendor · Roster"
    screenshot(page, "invitation-registration")

    page.get_by_label("First name").fill("Ada")
    page.get_by_label("Last name").fill("Admin")
    page.get_by_label("Password", exact=True).fill("short")
    page.get_by_label("Repeat the password").fill("short")
    page.get_by_label("I accept the terms of use").check()
    page.get_by_role("button", name="Register and join").click()
    assert "at least 12 characters" in page.locator(".error").first.inner_text()
    assert page.get_by_label("Last name").input_value() == "Admin"
    screenshot(page, "invitation-registration-error")

    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_role("button", name="Register and join").click()
    # issue 13 point 6: registering signs the admin in, straight into the account's console
    assert "/console/" in page.url
    assert "Welcome to Browser Vendor" in page.locator(".notice").first.inner_text()
    screenshot(page, "invitation-welcome")

    users = server.roster("user", "list", "Browser Vendor")
    assert [(u["email"], u["status"], u["role"]) for u in users] == [("admin@browser.example", "active", "admin")]

    page.goto(server.init["admin_link"])
    assert "used already" in page.locator("main").inner_text()
    assert page.get_by_role("link", name="Sign in").is_visible()
    screenshot(page, "invitation-used")


def test_the_page_works_at_phone_width(server, browser):
    context = browser.new_context(viewport={"width": 360, "height": 740})
    tab = context.new_page()
    try:
        invited = server.roster("invite", "Browser Vendor", "phone@browser.example")
        tab.goto(invited[0]["link"])
        width = tab.evaluate("document.documentElement.scrollWidth")
        assert width <= 360, "no horizontal scrolling at phone width"
        screenshot(tab, "invitation-phone")
    finally:
        context.close()
