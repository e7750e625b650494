"""Details seen in the walk (issue 13, point 8) in headless Chromium against a real `roster serve`.

The recovery codes of a sign-in enrolment (and of the profile) stay readable at
desktop and phone widths; the terms of use open in a new tab without losing the
form; the console's lists at phone width label each value of their cards.
Screenshots go to test-artifacts/screenshots/details-*.png.
"""

from __future__ import annotations

import subprocess

import pyotp
import pytest

from .conftest import ROSTER, screenshot
from .test_console_browser import PASSWORD, register

pytestmark = pytest.mark.browser

ACCOUNT = "Browser Vendor"  # the account of `roster init`

# each code and its card: boxes in CSS pixels (the card's with its bullet, which an outside bullet puts
# left of it, in the gap before), and how many lines the code takes
CODE_BOXES = """() => [...document.querySelectorAll('#recovery-codes li')].map(li => {
  const code = li.querySelector('code'), box = r => { const b = r.getBoundingClientRect();
    return [b.left, b.top, b.right, b.bottom]; };
  const style = getComputedStyle(li), item = box(li);
  const bullet = style.listStyleType !== 'none' && style.listStylePosition === 'outside'
    ? 1.5 * parseFloat(style.fontSize) : 0;
  return {item: item, marked: [item[0] - bullet, item[1], item[2], item[3]], code: box(code),
          lines: code.getClientRects().length, text: code.textContent, main: box(document.querySelector('main'))};
})"""

# per row of each list: (header, the cell's label, whether the label shows)
CELL_LABELS = """() => [...document.querySelectorAll('table.stack tbody tr')]
  .filter(tr => !tr.querySelector('td[colspan]'))
  .map(tr => { const heads = [...tr.closest('table').querySelectorAll('thead th')];
    return [...tr.children].map((td, i) => { const label = td.querySelector(':scope > .label-sm');
      return {header: heads[i].querySelector('.visually-hidden') ? null : heads[i].textContent.trim(),
              label: label ? label.textContent.trim() : null,
              shown: !!label && getComputedStyle(label).display !== 'none' && label.getBoundingClientRect().width > 0};
    }); })"""


def overlap(a: list[float], b: list[float]) -> bool:
    """Two boxes share more than a rounding error of area."""
    return a[0] < b[2] - 0.5 and b[0] < a[2] - 0.5 and a[1] < b[3] - 0.5 and b[1] < a[3] - 0.5


def check_codes(page, width: int) -> int:
    """Every code whole, on one line, inside its own card, no two cards meeting; returns the number of columns."""
    boxes = page.evaluate(CODE_BOXES)
    assert len(boxes) == 10
    for one in boxes:
        item, code = one["item"], one["code"]
        assert one["lines"] == 1, one
        assert item[0] - 0.5 <= code[0] and code[2] <= item[2] + 0.5, one
        assert one["main"][0] - 0.5 <= item[0] and item[2] <= min(one["main"][2], width) + 0.5, one
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not overlap(a["marked"], b["marked"]) and not overlap(a["code"], b["code"]), (a, b)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    return len({round(one["item"][0]) for one in boxes})


@pytest.fixture(scope="module")
def strict_person(server):
    """A person in an account that requires a second factor, with a password the operator set (R8, R10)."""
    server.roster("account", "create", "Strict Details", "--type", "vendor", "--mfa-required")
    subprocess.run([str(ROSTER), "user", "create", "Strict Details", "dee@details.example", "--given-name", "Dee",
                    "--family-name", "Tail", "--password-stdin"], input=PASSWORD + "\n", env=server.env,
                   capture_output=True, text=True, timeout=60, check=True)
    return "dee@details.example"


def test_recovery_codes_of_a_sign_in_enrolment_are_readable_on_a_desktop_and_a_phone(server, browser,
                                                                                      strict_person):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        page.goto(server.base_url + "/login")
        page.get_by_label("Email").fill(strict_person)
        page.get_by_role("button", name="Continue").click()
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/login/first**")
        # R8: the terms, linked from the box that accepts them
        assert page.get_by_role("link", name="Read the terms of use").get_attribute("href") == "/terms"
        page.get_by_label("I accept the terms of use").check()
        page.get_by_role("button", name="Continue").click()
        page.wait_for_load_state()

        page.goto(server.base_url + "/login/mfa/enrol")
        secret = page.locator("#totp-secret").inner_text()
        page.get_by_role("textbox", name="Code").fill(pyotp.TOTP(secret).now())
        page.get_by_role("button", name="Confirm").click()
        page.wait_for_selector("#recovery-codes")
        assert check_codes(page, 1280) == 2
        screenshot(page, "details-signin-recovery-codes-1280")
        page.set_viewport_size({"width": 375, "height": 812})
        assert check_codes(page, 375) == 1
        screenshot(page, "details-signin-recovery-codes-375")

        # the profile shows new codes with the same card
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(server.base_url + "/profile/security")
        page.get_by_role("button", name="Make new recovery codes").click()
        page.wait_for_selector("#recovery-codes")
        assert check_codes(page, 1280) == 2
        screenshot(page, "details-profile-recovery-codes-1280")
        page.set_viewport_size({"width": 375, "height": 812})
        assert check_codes(page, 375) == 1
        screenshot(page, "details-profile-recovery-codes-375")
    finally:
        context.close()


def test_the_terms_open_in_a_new_tab_and_the_registration_keeps_what_was_typed(server, browser):
    [invited] = server.roster("invite", "send", ACCOUNT, "tia@details.example")
    context = browser.new_context(viewport={"width": 375, "height": 812})
    try:
        page = context.new_page()
        page.goto(invited["link"])
        page.get_by_label("First name").fill("Tia")
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("I accept the terms of use").check()
        link = page.get_by_role("link", name="Read the terms of use")
        assert link.get_attribute("target") == "_blank"
        screenshot(page, "details-registration-terms-link")
        with context.expect_page() as opened:
            link.click()
        terms = opened.value
        terms.wait_for_load_state()
        assert terms.url == server.base_url + "/terms"
        assert terms.get_by_role("heading", name="Terms of use").is_visible()
        assert "ROSTER_TERMS_URL" in terms.locator("#terms-placeholder").inner_text()
        assert terms.evaluate("document.documentElement.scrollWidth") <= 375
        screenshot(terms, "details-terms-default")
        terms.close()
        # the form is where it was, with what was typed
        assert page.url == invited["link"]
        assert page.get_by_label("First name").input_value() == "Tia"
        assert page.get_by_label("Password", exact=True).input_value() == PASSWORD
        assert page.get_by_label("I accept the terms of use").is_checked()
    finally:
        context.close()


@pytest.fixture(scope="module")
def admin_state(server, browser):
    """The init admin, registered (which signs in), with something on each list; their browser's cookies."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = context.new_page()
        register(page, server.init["admin_link"], "Ada", "Admin")
        assert "/console/" in page.url
        server.roster("group", "create", ACCOUNT, "Sales")
        subprocess.run([str(ROSTER), "user", "create", ACCOUNT, "max@details.example", "--given-name", "Max",
                        "--family-name", "Member", "--password-stdin"], input=PASSWORD + "\n", env=server.env,
                       capture_output=True, text=True, timeout=60, check=True)
        subprocess.run([str(ROSTER), "group", "add", ACCOUNT, "Sales", "max@details.example"], env=server.env,
                       capture_output=True, text=True, timeout=60, check=True)
        server.roster("invite", "send", ACCOUNT, "nia@details.example", "ola@details.example", "--group", "Sales")
        # at desktop width the labels stay out of the way: the column headers say it
        page.goto(server.base_url + "/console")
        assert page.locator("table.stack .label-sm").first.is_hidden()
        yield context.storage_state()
    finally:
        context.close()


@pytest.mark.parametrize(("tab", "name"), [(None, "details-phone-users"),
                                           ("Pending invitations", "details-phone-invitations")])
def test_the_console_lists_label_their_fields_at_phone_width(server, browser, admin_state, tab, name):
    context = browser.new_context(viewport={"width": 375, "height": 812}, storage_state=admin_state)
    try:
        page = context.new_page()
        page.goto(server.base_url + "/console")
        if tab:
            page.get_by_role("link", name=tab).click()
            page.wait_for_url("**tab=pending**")
        rows = page.evaluate(CELL_LABELS)
        assert len(rows) >= 2, rows
        for row in rows:
            for cell in row:
                if cell["header"] is not None:
                    assert cell["shown"] and cell["label"].rstrip(":").strip() == cell["header"], cell
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        screenshot(page, name)
    finally:
        context.close()
