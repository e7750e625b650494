"""The audit log in headless Chromium against a real `roster serve` (issue 13, point 7).

The init admin does something, reads it in the audit log by name and in words,
filters it, and downloads the filtered log as CSV and as JSON Lines.
Screenshots go to test-artifacts/screenshots/console-audit-*.png.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from .conftest import screenshot
from .test_console_browser import ADMIN, register, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def admin(server, browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    register(page, server.init["admin_link"], "Ada", "Admin")
    sign_in(page, server, ADMIN)
    yield page
    context.close()


def download(page, name: str) -> str:
    with page.expect_download() as info:
        page.get_by_role("link", name=name).click()
    done = info.value
    assert done.suggested_filename.startswith("audit-browser-vendor-")
    return Path(done.path()).read_text(encoding="utf-8")


def test_the_audit_log_reads_in_words_and_exports_what_the_filter_shows(server, admin):
    admin.goto(server.base_url + "/console")
    admin.get_by_role("link", name="Groups", exact=True).click()
    admin.get_by_label("Group name").fill("Support desk")
    admin.get_by_role("button", name="Create group").click()

    admin.get_by_role("link", name="Audit log").click()
    row = admin.locator("table tbody tr", has_text="Group created").first
    assert "Ada Admin" in row.inner_text() and ADMIN in row.inner_text() and "Support desk" in row.inner_text()
    assert row.locator("[title^='user ']").first.get_attribute("title").startswith("user ")
    assert "None" not in admin.locator("table").inner_text()
    screenshot(admin, "console-audit-readable")

    admin.get_by_label("Action").select_option(label="Group created")
    admin.get_by_role("button", name="Filter").click()
    assert "action=group.created" in admin.url
    rows = list(csv.reader(io.StringIO(download(admin, "Export CSV"))))
    assert rows[0][:3] == ["Time (UTC)", "Action", "Action code"]
    assert [r[2] for r in rows[1:]] == ["group.created"] and rows[1][6] == "Support desk"
    lines = [json.loads(line) for line in download(admin, "Export JSON Lines").splitlines()]
    assert [(e["summary"], e["actor"]["email"]) for e in lines] == [("Group created", ADMIN)]
    screenshot(admin, "console-audit-filtered")


def test_the_audit_log_at_phone_width(server, browser, admin):
    context = browser.new_context(viewport={"width": 360, "height": 740},
                                  storage_state=admin.context.storage_state())
    try:
        page = context.new_page()
        page.goto(server.base_url + "/console")
        page.get_by_role("link", name="Audit log").click()
        page.wait_for_url("**/audit")
        assert page.get_by_text("When:").first.is_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 360
        screenshot(page, "console-phone-audit")
    finally:
        context.close()
