"""Refusal pages in headless Chromium (issue 13 point 5): the person sees why, then returns to the application.

A deactivated member, a person of another account, and a person who cannot
set up the second factor the account requires each get a page that says
which and what to do; "Return to …" brings access_denied (with the state) to
the relying party's redirect URI.
"""

from __future__ import annotations

import contextlib
import subprocess
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import ROSTER, screenshot
from .test_webauthn_signin_browser import Callback, authorize_url, callback  # noqa: F401 (fixture)

pytestmark = pytest.mark.browser

PASSWORD = "a long and unusual passphrase"


def create_user(server, account: str, email: str, given: str, family: str, role: str = "user") -> None:
    subprocess.run([str(ROSTER), "user", "create", account, email, "--given-name", given, "--family-name", family,
                    "--role", role, "--password-stdin"], input=PASSWORD + "\n", env=server.env,
                   capture_output=True, text=True, timeout=60, check=True)


@pytest.fixture(scope="module")
def refusing(localhost_server, callback):  # noqa: F811
    """Two accounts, one requiring MFA, with people in each state, and a client of each."""
    server = localhost_server
    server.roster("account", "create", "Refusal Ltd", "--type", "reseller")
    server.roster("account", "create", "Strict Refusal Ltd", "--type", "reseller", "--mfa-required")
    create_user(server, "Refusal Ltd", "ada@refusal.example", "Ada", "Admin", role="admin")
    create_user(server, "Refusal Ltd", "dee@refusal.example", "Dee", "Deactivated")
    create_user(server, "Refusal Ltd", "rob@refusal.example", "Rob", "Active")
    create_user(server, "Strict Refusal Ltd", "sue@strict-refusal.example", "Sue", "Strict")
    subprocess.run([str(ROSTER), "user", "deactivate", "Refusal Ltd", "dee@refusal.example"], env=server.env,
                   capture_output=True, text=True, timeout=60, check=True)
    clients = {name: server.roster("client", "create", name, "--redirect-uri", callback, "--name", f"{name} portal")
               for name in ("Refusal Ltd", "Strict Refusal Ltd")}
    return {name: c["client_id"] for name, c in clients.items()}


def sign_in(page, email: str) -> None:
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    if "/login/first" in page.url:  # R8: the terms only, the operator set the person's real password
        page.get_by_label("I accept the terms of use").check()
        page.get_by_role("button", name="Continue").click()


@contextlib.contextmanager
def signed_in_through(browser, server, client_id: str, redirect_uri: str, email: str) -> Iterator[Any]:
    """A new browser that asks ``client_id`` to sign in and signs in as ``email``: the page the person then sees."""
    context = browser.new_context()
    try:
        page = context.new_page()
        url, _ = authorize_url(server, client_id, redirect_uri)
        page.goto(url)
        sign_in(page, email)
        yield page
    finally:
        context.close()


def returned(page, callback: str) -> dict[str, list[str]]:  # noqa: F811
    page.wait_for_url(f"{callback}**")
    return urllib.parse.parse_qs(urllib.parse.urlsplit(Callback.seen[-1]).query)


def test_a_deactivated_member_sees_why_and_returns_to_the_application(localhost_server, browser, refusing,
                                                                      callback):  # noqa: F811
    client_id = refusing["Refusal Ltd"]
    with signed_in_through(browser, localhost_server, client_id, callback, "dee@refusal.example") as page:
        assert page.locator("h1").inner_text() == "Your access to Refusal Ltd is deactivated"
        main = page.locator("main").inner_text()
        assert "ask an administrator of Refusal Ltd (Ada Admin) to reactivate you" in main
        assert "/oauth/authorize" in page.url  # the page comes before any redirect to the application
        screenshot(page, "refusal-deactivated")
        page.set_viewport_size({"width": 375, "height": 740})
        screenshot(page, "refusal-deactivated-phone")
        page.set_viewport_size({"width": 1024, "height": 768})
        seen_before = len(Callback.seen)
        page.get_by_role("link", name="Return to Refusal Ltd portal").click()
        query = returned(page, callback)
        assert len(Callback.seen) == seen_before + 1  # the application heard of it only now
        assert query["error"] == ["access_denied"] and query["state"] == ["st"]
        assert query["error_description"] == ["The person's membership in the account is deactivated."]


def test_a_person_of_another_account_is_told_and_signs_in_as_someone_else(localhost_server, browser, refusing,
                                                                          callback):  # noqa: F811
    client_id = refusing["Refusal Ltd"]
    with signed_in_through(browser, localhost_server, client_id, callback, "sue@strict-refusal.example") as page:
        assert page.locator("h1").inner_text() == "You are not a member of the account that uses Refusal Ltd portal"
        main = page.locator("main").inner_text()
        assert "Ada" not in main and "Strict Refusal Ltd" not in main  # nobody's account named but the client's
        screenshot(page, "refusal-not-a-member")
        page.get_by_role("button", name="Sign in with another user").click()
        assert page.locator("h1").inner_text() == "Sign in"
        seen_before = len(Callback.seen)
        sign_in(page, "rob@refusal.example")
        query = returned(page, callback)
        assert len(Callback.seen) == seen_before + 1
        assert "code" in query and query["state"] == ["st"]


def test_a_person_who_cannot_set_up_a_second_factor_is_told_the_policy(localhost_server, browser, refusing,
                                                                      callback):  # noqa: F811
    client_id = refusing["Strict Refusal Ltd"]
    with signed_in_through(browser, localhost_server, client_id, callback, "sue@strict-refusal.example") as page:
        assert page.locator("h1").inner_text() == "Set up a second factor"
        screenshot(page, "refusal-enrol-way-out")
        page.get_by_role("button", name="I cannot do this now").click()
        assert page.locator("h1").inner_text() == "A second factor is required"
        assert "Strict Refusal Ltd requires a second factor at sign-in" in page.locator("main").inner_text()
        assert page.get_by_role("link", name="Set up a second factor").is_visible()
        screenshot(page, "refusal-mfa")
        page.get_by_role("link", name="Return to Strict Refusal Ltd portal").click()
        query = returned(page, callback)
        assert query["error"] == ["access_denied"] and query["state"] == ["st"]
