"""The admin console in headless Chromium against a real `roster serve` (issue 5, item 4).

The admin of `roster init` registers through the init link and signs in at the
real /login page; then the console does the product documentation's tasks.
A screenshot of every console page goes to test-artifacts/screenshots/console-*.png.
"""

from __future__ import annotations

import pytest

from .conftest import screenshot

pytestmark = pytest.mark.browser

PASSWORD = "a long and unusual passphrase"
ADMIN = "admin@browser.example"


def register(page, link: str, given: str, family: str) -> None:
    page.goto(link)
    page.get_by_label("First name").fill(given)
    page.get_by_label("Last name").fill(family)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Repeat the password").fill(PASSWORD)
    page.get_by_label("I accept the terms of use").check()
    page.get_by_role("button", name="Register and join").click()
    page.wait_for_load_state()


def sign_in(page, server, email: str) -> None:
    page.goto(server.base_url + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def notice(page) -> str:
    return page.locator(".notice").first.inner_text()


@pytest.fixture(scope="module")
def admin_context(server, browser):
    """The init admin, registered and signed in, in a browser of their own."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    register(page, server.init["admin_link"], "Ada", "Admin")
    # registering signs the admin in, into the account's console (issue 13, point 6)
    assert "/console/" in page.url and "Welcome to Browser Vendor" in notice(page)
    yield context
    context.close()


@pytest.fixture
def admin(admin_context):
    page = admin_context.new_page()
    yield page
    page.close()


def open_invitation_link(page, email: str) -> str:
    page.get_by_role("link", name="Users", exact=True).click()
    page.get_by_role("link", name="Pending invitations").click()
    page.get_by_role("link", name=email).click()
    page.get_by_role("link", name="Copy link").click()
    return page.locator("#invitation-link").input_value()


def test_invite_through_the_wizard_then_resend_and_register(server, browser, admin):
    admin.goto(server.base_url + "/console")
    assert admin.get_by_role("heading", name="Users").is_visible()
    screenshot(admin, "console-users")

    admin.get_by_role("link", name="Groups", exact=True).click()
    admin.get_by_label("Group name").fill("Sales")
    admin.get_by_role("button", name="Create group").click()
    assert "Group Sales created." in notice(admin)
    screenshot(admin, "console-group")
    admin.get_by_role("link", name="← Groups").click()
    screenshot(admin, "console-groups")

    admin.get_by_role("link", name="Users", exact=True).click()
    admin.get_by_role("link", name="Add user").click()
    admin.get_by_role("button", name="Next").click()
    assert admin.locator(".error").first.is_visible()
    admin.get_by_label("First name").fill("Nia")
    admin.get_by_label("Last name").fill("Newcomer")
    admin.get_by_label("Email (the person's login)").fill("nia@browser.example")
    screenshot(admin, "console-wizard-general")
    admin.get_by_role("button", name="Next").click()
    admin.get_by_label("Sales").check()
    screenshot(admin, "console-wizard-groups")
    admin.get_by_role("button", name="Next").click()
    assert "nia@browser.example" in admin.locator("dl.summary").inner_text()
    screenshot(admin, "console-wizard-summary")
    admin.get_by_role("button", name="Send invitation").click()
    assert notice(admin) == "Invitation sent to nia@browser.example."
    screenshot(admin, "console-users-pending")

    first_link = open_invitation_link(admin, "nia@browser.example")
    screenshot(admin, "console-invitation-link")
    admin.get_by_role("link", name="← Back to the invitation").click()
    screenshot(admin, "console-invitation")
    admin.get_by_role("button", name="Resend").click()
    assert "the old link no longer works" in notice(admin)
    new_link = open_invitation_link(admin, "nia@browser.example")
    assert new_link != first_link

    invitee = browser.new_context()
    try:
        page = invitee.new_page()
        page.goto(first_link)
        assert "replaced by a newer one" in page.locator("main").inner_text()
        register(page, new_link, "Nia", "Newcomer")
        assert "Welcome to Browser Vendor" in notice(page)
    finally:
        invitee.close()

    admin.goto(server.base_url + "/console")
    row = admin.get_by_role("row").filter(has_text="nia@browser.example")
    assert "Sales" in row.inner_text() and "user" in row.inner_text()


def test_bulk_invite_then_revoke(server, browser, admin):
    admin.goto(server.base_url + "/console")
    admin.get_by_role("link", name="Invite many").click()
    admin.get_by_label("Email addresses", exact=False).fill(
        "bob@browser.example\ncara@browser.example\nadmin@browser.example\nnot-an-email")
    admin.get_by_label("Privileges").select_option("support")
    admin.get_by_role("button", name="Send invitations").click()
    results = admin.locator("table.results").inner_text()
    assert "2 of 4 invited" in notice(admin)
    assert "Already a member" in results and "Rejected" in results
    screenshot(admin, "console-bulk")

    link = open_invitation_link(admin, "bob@browser.example")
    admin.get_by_role("link", name="← Back to the invitation").click()
    admin.get_by_role("button", name="Revoke").click()
    assert "is revoked" in notice(admin)
    invitee = browser.new_context()
    try:
        page = invitee.new_page()
        page.goto(link)
        assert "revoked" in page.locator("main").inner_text()
    finally:
        invitee.close()


def test_deactivate_reactivate_and_the_last_admin(server, admin):
    user = server.roster("user", "create", "Browser Vendor", "dana@browser.example", "--temporary-password")
    assert user
    admin.goto(server.base_url + "/console")
    admin.get_by_role("link", name="dana@browser.example").click()
    screenshot(admin, "console-member")
    admin.get_by_role("button", name="Deactivate").click()
    assert "is deactivated" in notice(admin)
    admin.get_by_role("link", name="← Users").click()
    assert admin.get_by_role("link", name="dana@browser.example").is_visible()  # on the Deactivated tab
    screenshot(admin, "console-users-deactivated")
    admin.get_by_role("link", name="dana@browser.example").click()
    admin.get_by_role("button", name="Reactivate").click()
    assert "is reactivated" in notice(admin)

    admin.goto(server.base_url + "/console")
    admin.get_by_role("link", name=ADMIN).click()
    admin.get_by_role("link", name="Remove from the account…").click()
    screenshot(admin, "console-remove-confirm")
    admin.get_by_role("button", name="Remove from the account").click()
    assert "must keep at least one active admin" in notice(admin)
    screenshot(admin, "console-last-admin-refused")
    admin.get_by_role("button", name="Deactivate").click()
    assert "must keep at least one active admin" in notice(admin)


def test_temporary_password_settings_and_audit(server, admin):
    admin.goto(server.base_url + "/console")
    admin.get_by_role("link", name="Create with a temporary password").click()
    admin.get_by_label("First name").fill("Tom")
    admin.get_by_label("Last name").fill("Temp")
    admin.get_by_label("Email (the person's login)").fill("tom@browser.example")
    screenshot(admin, "console-create-user")
    admin.get_by_role("button", name="Create user").click()
    assert "temporary password was mailed" in notice(admin)
    assert admin.locator("#secret").input_value()

    admin.get_by_role("link", name="Settings").click()
    assert admin.locator("#scim-base-url").input_value() == server.base_url + "/scim/v2"
    screenshot(admin, "console-settings")
    admin.get_by_label("Description (e.g. Okta, Entra ID)").fill("Okta")
    admin.get_by_role("button", name="Create SCIM token").click()
    assert admin.locator("#secret").input_value().startswith("rst_")
    screenshot(admin, "console-scim-token")
    admin.get_by_role("link", name="← Back to settings").click()
    admin.get_by_label("Application name").fill("Shop")
    admin.get_by_label("Redirect URIs (one per line)").fill("https://shop.example/callback")
    admin.get_by_role("button", name="Register application").click()
    assert admin.locator("#secret").input_value().startswith("rcs_")
    screenshot(admin, "console-client-secret")
    admin.get_by_role("link", name="← Back to settings").click()
    admin.get_by_label("Invitation validity (days)").fill("0")
    admin.get_by_role("button", name="Save policy").click()
    assert "from 1 to 90" in admin.locator(".error").first.inner_text()
    admin.get_by_label("Invitation validity (days)").fill("14")
    admin.get_by_role("button", name="Save policy").click()
    assert notice(admin) == "The account's policy is saved."

    admin.get_by_role("link", name="Audit log").click()
    admin.get_by_label("Action").select_option("invitation.revoked")
    admin.get_by_role("button", name="Filter").click()
    assert "bob@browser.example" in admin.locator("table").inner_text()
    screenshot(admin, "console-audit")


def test_the_console_works_at_phone_width(server, browser, admin_context):
    context = browser.new_context(viewport={"width": 360, "height": 740},
                                  storage_state=admin_context.storage_state())
    try:
        page = context.new_page()
        for path, name in [("/console", "console-phone-users"), ("/console", None)]:
            page.goto(server.base_url + path)
            assert page.evaluate("document.documentElement.scrollWidth") <= 360
            if name:
                screenshot(page, name)
        page.get_by_role("link", name="Settings").click()
        page.wait_for_url("**/settings")  # measure the new page, not the one being left
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        screenshot(page, "console-phone-settings")
    finally:
        context.close()
