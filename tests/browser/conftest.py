"""A real `roster serve` and headless Debian Chromium driven by Playwright.

Screenshots of every page a test visits go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.live_server import free_port, roster_env, stop, wait_until_healthy

from ..conftest import IN_CI

ROSTER = Path(sys.executable).parent / "roster"
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


class Server:
    def __init__(self, base_url: str, env: dict[str, str], init: dict) -> None:
        self.base_url = base_url
        self.env = env
        self.init = init

    def roster(self, *args: str) -> dict:
        """Run a `roster … --json` command against this server's database."""
        done = subprocess.run([str(ROSTER), *args, "--json"], env=self.env, capture_output=True, text=True,
                              timeout=60, check=True)
        return json.loads(done.stdout)


def _serve(workdir: Path, host: str) -> Iterator[Server]:
    """`roster init` and `roster serve` on a free port; ``host`` is the name pages are opened with."""
    port = free_port()
    env = roster_env(f"sqlite:///{workdir}/roster.sqlite3", secrets.token_urlsafe(32), f"http://{host}:{port}",
                     workdir)
    init = json.loads(subprocess.run(
        [str(ROSTER), "init", "--account", "Browser Vendor", "--admin-email", "admin@browser.example", "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=True).stdout)
    log = workdir / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(ROSTER), "serve", "--port", str(port), "--workers", "1"], env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until_healthy(port, process, log)
        yield Server(f"http://{host}:{port}", env, init)
    finally:
        stop(process)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    yield from _serve(tmp_path_factory.mktemp("browser"), "127.0.0.1")


@pytest.fixture(scope="module")
def localhost_server(tmp_path_factory) -> Iterator[Server]:
    """Served as http://localhost:PORT: WebAuthn needs a domain as its RP ID (never an IP address)."""
    yield from _serve(tmp_path_factory.mktemp("browser-localhost"), "localhost")


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not (os.path.exists(CHROMIUM) and shutil.which("chromedriver")) and not IN_CI:
        pytest.skip("Debian chromium is not installed: run `make test` as root to install it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    tab = context.new_page()
    yield tab
    context.close()


def add_security_key(context, page) -> None:
    """A DevTools virtual authenticator on ``page``: a USB security key with resident keys and verification."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "usb", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True}})


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
