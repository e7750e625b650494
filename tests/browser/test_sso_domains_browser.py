"""Settings → Single sign-on in headless Chromium against a real `roster serve` whose DNS is a loopback server.

The admin adds a domain, reads the TXT record off the page (and copies it),
verification fails while nothing is published and succeeds once the loopback
DNS server (tests/dns_server.py, reached through ROSTER_DNS_NAMESERVERS)
answers with it; then the domain is removed after a confirmation.
Screenshots go to test-artifacts/screenshots/sso-*.png.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.dns_server import LoopbackDns

from .conftest import Server, _serve, screenshot
from .test_console_browser import notice, register

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def loopback_dns() -> Iterator[LoopbackDns]:
    with LoopbackDns() as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory, loopback_dns) -> Iterator[Server]:
    """`roster serve` (its `roster init` too) asking the loopback DNS server, with a short DNS timeout."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ROSTER_DNS_NAMESERVERS", loopback_dns.nameserver)
        patch.setenv("ROSTER_DNS_TIMEOUT", "2")
        yield from _serve(tmp_path_factory.mktemp("browser-sso"), "127.0.0.1")


def test_add_verify_and_remove_a_domain(server, browser, loopback_dns):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.base_url)
    admin = context.new_page()
    try:
        register(admin, server.init["admin_link"], "Ada", "Admin")
        admin.get_by_role("link", name="Settings", exact=True).click()
        admin.get_by_role("link", name="Single sign-on (domains)").click()
        assert admin.get_by_role("heading", name="Single sign-on").is_visible()
        assert "No domains yet." in admin.inner_text("main")
        screenshot(admin, "sso-empty")

        admin.get_by_label("Domain", exact=True).fill("gmail.com")
        admin.get_by_role("button", name="Add domain").click()
        assert "free email provider" in admin.inner_text(".field.has-error")

        admin.get_by_label("Domain", exact=True).fill("Browser-Vendor.Example")
        admin.get_by_role("button", name="Add domain").click()
        assert "browser-vendor.example is added" in notice(admin)
        record = admin.get_by_label("Name", exact=True).input_value()
        value = admin.get_by_label("Value", exact=True).input_value()
        assert record == "_roster-challenge.browser-vendor.example"
        assert value.startswith("roster-verification=")
        assert "Pending" in admin.inner_text("#domains")
        screenshot(admin, "sso-pending")

        # the Copy button puts the value on the clipboard (shown only where a script can write it)
        admin.locator("button.copy[data-copy^='record-value']").click()
        assert admin.evaluate("navigator.clipboard.readText()") == value

        admin.get_by_role("button", name="Verify").click()
        assert "is not verified" in notice(admin) and "NXDOMAIN" in notice(admin)
        screenshot(admin, "sso-verify-failed")

        loopback_dns.publish(record, value)
        admin.get_by_role("button", name="Verify").click()
        assert "browser-vendor.example is verified." in notice(admin)
        assert "Verified" in admin.inner_text("#domains")
        assert admin.get_by_role("button", name="Verify").count() == 0
        screenshot(admin, "sso-verified")

        admin.get_by_role("link", name="Remove…").click()
        assert admin.get_by_role("heading", name="Remove the domain browser-vendor.example?").is_visible()
        screenshot(admin, "sso-remove-confirm")
        admin.get_by_role("button", name="Remove the domain").click()
        assert "browser-vendor.example is removed." in notice(admin)
        assert "No domains yet." in admin.inner_text("main")
    finally:
        context.close()
