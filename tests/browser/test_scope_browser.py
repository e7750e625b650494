"""An admin edits a member's modules and sub-account scope on the member page, in headless Chromium (R7).

Screenshots: test-artifacts/screenshots/scope-*.png.
"""

from __future__ import annotations

import re

import pytest

from .conftest import screenshot
from .test_console_browser import notice, register

pytestmark = pytest.mark.browser

ACCOUNT = "Browser Vendor"


def summary(page, term: str) -> str:
    return page.locator(f"dl.summary dt:text-is('{term}') + dd").inner_text().strip()


def test_an_admin_changes_scope_and_modules_on_the_member_page(server, browser):
    for name in ("North Branch", "South Branch"):
        server.roster("account", "create", name, "--type", "reseller", "--parent", ACCOUNT)
    server.roster("user", "create", ACCOUNT, "mo@browser.example", "--given-name", "Mo", "--family-name", "Member",
                  "--preset", "support")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        register(page, server.init["admin_link"], "Ada", "Admin")
        assert "/console/" in page.url
        page.get_by_role("link", name="Users", exact=True).click()
        page.get_by_role("link", name="mo@browser.example").click()
        assert summary(page, "Privileges") == "Support"
        assert summary(page, "Sub-accounts") == "All sub-accounts"
        screenshot(page, "scope-member-before")

        page.get_by_label("Privileges").select_option(label="The modules ticked below")
        page.get_by_label("Orders", exact=True).check()
        page.get_by_label("Support", exact=True).uncheck()
        page.get_by_label("North Branch", exact=True).check()
        screenshot(page, "scope-member-editing")
        page.get_by_role("button", name="Save role and access").click()
        page.wait_for_load_state()

        assert "Saved: mo@browser.example is a user, with the modules and sub-accounts shown." in notice(page)
        assert summary(page, "Privileges") == "Custom"
        assert summary(page, "Modules") == "dashboard, products, orders, subscriptions"
        assert summary(page, "Sub-accounts") == "North Branch"
        assert page.get_by_label("North Branch", exact=True).is_checked()
        assert not page.get_by_label("South Branch", exact=True).is_checked()
        assert page.get_by_label("Orders", exact=True).is_checked()
        screenshot(page, "scope-member-after")

        # the command line reads the same
        listed = {m["email"]: m for m in server.roster("user", "list", ACCOUNT)}
        mo = listed["mo@browser.example"]
        assert [s["name"] for s in mo["sub_account_scope"]] == ["North Branch"]
        assert mo["modules"] == ["dashboard", "products", "orders", "subscriptions"]

        # Invite many offers the scope in the wizard's order, and is empty again after sending
        page.get_by_role("link", name="Users", exact=True).click()
        page.get_by_role("link", name="Invite many").click()
        page.get_by_label(re.compile("Email addresses")).fill("n1@browser.example\nn2@browser.example")
        page.get_by_label("South Branch", exact=True).check()
        page.get_by_role("button", name="Send invitations").click()
        page.wait_for_load_state()
        assert "2 of 2 invited" in notice(page)
        assert page.get_by_label(re.compile("Email addresses")).input_value() == ""
        assert not page.get_by_label("South Branch", exact=True).is_checked()
        screenshot(page, "scope-bulk-after")
    finally:
        context.close()
