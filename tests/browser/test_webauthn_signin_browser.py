"""WebAuthn end to end in headless Chromium with the DevTools virtual authenticator.

An account requires MFA (R10); a person without a second factor enrols a
security key in the middle of a sign-in, then signs in with it.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import secrets
import subprocess
import threading
import urllib.parse

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import KeySet

from conformance.live_server import free_port

from .conftest import ROSTER, add_security_key, screenshot

pytestmark = pytest.mark.browser

PASSWORD = "a long and unusual passphrase"


class Callback(http.server.BaseHTTPRequestHandler):
    """The relying party's redirect URI: keeps each URL it was sent to."""

    seen: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if self.path.startswith("/callback"):  # not the browser's /favicon.ico
            self.seen.append(self.path)
        body = b"<!doctype html><title>Relying party</title><p>Back at the application.</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def callback():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Callback)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}/callback"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def relying_party(localhost_server, callback):
    account = localhost_server.roster("account", "create", "Keys Inc", "--type", "vendor", "--mfa-required")
    subprocess.run([str(ROSTER), "user", "create", "Keys Inc", "kim@keys.example", "--given-name", "Kim",
                    "--family-name", "Key", "--password-stdin"], input=PASSWORD + "\n", env=localhost_server.env,
                   capture_output=True, text=True, timeout=60, check=True)
    client = localhost_server.roster("client", "create", "Keys Inc", "--redirect-uri", callback)
    return account, client


def authorize_url(server, client_id: str, callback: str) -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = {"response_type": "code", "client_id": client_id, "redirect_uri": callback, "scope": "openid email",
             "state": "st", "nonce": secrets.token_urlsafe(8), "code_challenge": challenge,
             "code_challenge_method": "S256"}
    return f"{server.base_url}/oauth/authorize?{urllib.parse.urlencode(query)}", verifier


def amr_of(server, client: dict, callback: str, verifier: str) -> list[str]:
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(Callback.seen[-1]).query)
    assert "code" in query, query
    code = query["code"][0]
    tokens = requests.post(f"{server.base_url}/oauth/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": callback, "code_verifier": verifier,
    }, auth=(client["client_id"], client["client_secret"]), timeout=10).json()
    keys = KeySet.import_key_set(requests.get(f"{server.base_url}/oauth/jwks", timeout=10).json())
    return list(jwt.decode(tokens["id_token"], keys, algorithms=["RS256"]).claims["amr"])


def test_enrol_a_security_key_during_a_forced_mfa_sign_in_then_sign_in_with_it(localhost_server, browser,
                                                                                relying_party, callback):
    _, client = relying_party
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    try:
        page = context.new_page()
        add_security_key(context, page)

        url, verifier = authorize_url(localhost_server, client["client_id"], callback)
        page.goto(url)
        page.get_by_label("Email").fill("kim@keys.example")
        screenshot(page, "signin-login")
        page.get_by_role("button", name="Continue").click()
        # F1: no company signs this domain in, so the password step follows, the email kept
        assert page.get_by_label("Email").input_value() == "kim@keys.example"
        page.get_by_label("Password").fill(PASSWORD)
        screenshot(page, "signin-login-password")
        page.get_by_role("button", name="Sign in").click()
        # R8 for a password set by the operator: the terms only
        page.wait_for_url("**/login/first**")
        screenshot(page, "signin-first-login")
        assert page.get_by_label("New password", exact=True).count() == 0
        page.get_by_label("I accept the terms of use").check()
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url("**/login/mfa/enrol**")
        assert "requires a second factor" in page.locator("main").inner_text()
        screenshot(page, "signin-mfa-enrol")
        page.get_by_role("button", name="Add a security key or passkey").click()
        page.wait_for_url("**/login/recovery-codes**")
        assert page.locator("#recovery-codes li").count() == 10
        screenshot(page, "signin-recovery-codes")
        page.get_by_role("link", name="I have saved them — continue").click()
        page.wait_for_url(f"{callback}**")
        assert amr_of(localhost_server, client, callback, verifier) == ["pwd", "hwk", "mfa"]

        # a new sign-in: password, then the key
        context.clear_cookies()
        url, verifier = authorize_url(localhost_server, client["client_id"], callback)
        page.goto(url)
        page.get_by_label("Email").fill("kim@keys.example")
        page.get_by_role("button", name="Continue").click()
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/login/mfa**")
        screenshot(page, "signin-mfa")
        page.get_by_role("button", name="Use my security key or passkey").click()
        page.wait_for_url(f"{callback}**")
        assert amr_of(localhost_server, client, callback, verifier) == ["pwd", "hwk", "mfa"]
    finally:
        context.close()
