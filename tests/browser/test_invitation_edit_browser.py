"""Issue 13, points 4 and 6 in headless Chromium against a real `roster serve`.

The init admin registers and is signed in at once (into the console); they
correct a pending invitation's email, role, privileges and groups, and the
new link goes out at once; the old link says it was replaced and offers a
way on; the invitee registers with the new link and lands signed in.
Screenshots: test-artifacts/screenshots/invitation-edit-*.png.
"""

from __future__ import annotations

import pytest

from .conftest import screenshot
from .test_console_browser import PASSWORD, notice, register  # noqa: F401 - PASSWORD: what register types

pytestmark = pytest.mark.browser


def test_edit_a_pending_invitation_and_register_signed_in(server, browser):
    admin_context = browser.new_context(viewport={"width": 1280, "height": 900})
    invitee_context = browser.new_context(viewport={"width": 1024, "height": 768})
    try:
        admin = admin_context.new_page()
        # point 6: registering from the init link signs the admin in, straight into the console
        register(admin, server.init["admin_link"], "Ada", "Admin")
        assert "/console/" in admin.url
        assert "Welcome to Browser Vendor" in notice(admin)
        assert admin.get_by_role("heading", name="Users").is_visible()
        screenshot(admin, "invitation-edit-admin-registered")

        admin.get_by_role("link", name="Groups", exact=True).click()
        admin.get_by_label("Group name").fill("Sales")
        admin.get_by_role("button", name="Create group").click()

        [invited] = server.roster("invite", "Browser Vendor", "nia@browser.exmaple")
        old_link = invited["link"]

        admin.get_by_role("link", name="Users", exact=True).click()
        admin.get_by_role("link", name="Pending invitations").click()
        admin.get_by_role("link", name="nia@browser.exmaple").click()
        send = admin.get_by_label("If the email changes, send a new link to the new address")
        assert send.is_checked()
        admin.get_by_label("Email", exact=True).fill("nia@browser.example")
        admin.get_by_label("First name").fill("Nia")
        admin.get_by_label("Privileges").select_option("support")
        admin.get_by_label("Sales").check()
        screenshot(admin, "invitation-edit-form")
        admin.get_by_role("button", name="Save").click()
        assert "a new link was sent to nia@browser.example; the old link no longer works" in notice(admin)
        summary = admin.locator("dl.summary").inner_text()
        assert "Sales" in summary and "support" in summary
        screenshot(admin, "invitation-edit-saved")

        admin.get_by_role("link", name="Copy link").click()
        new_link = admin.locator("#invitation-link").input_value()
        assert new_link != old_link

        invitee = invitee_context.new_page()
        invitee.goto(old_link)
        main = invitee.locator("main").inner_text()
        assert "replaced by a newer one" in main and "an admin of Browser Vendor" in main
        assert invitee.get_by_role("link", name="Sign in").is_visible()
        screenshot(invitee, "invitation-edit-old-link")

        # point 6: the invitee registers and is signed in, on their profile
        register(invitee, new_link, "Nia", "Newcomer")
        assert "/profile" in invitee.url
        assert "Welcome to Browser Vendor" in notice(invitee)
        assert invitee.get_by_role("heading", name="Profile").is_visible()
        screenshot(invitee, "invitation-edit-registered-signed-in")

        invitee.goto(new_link)
        assert "used already" in invitee.locator("main").inner_text()
        assert invitee.get_by_role("link", name="Sign in").is_visible()
        screenshot(invitee, "invitation-edit-used-link")
    finally:
        invitee_context.close()
        admin_context.close()
