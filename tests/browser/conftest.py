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
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.live_server import free_port

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
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{workdir}/roster.sqlite3",
           "ROSTER_SECRET_KEY": secrets.token_urlsafe(32), "ROSTER_BASE_URL": f"http://{host}:{port}",
           "ROSTER_DATA_DIR": str(workdir), "ROSTER_MAIL_BACKEND": "file",
           "ROSTER_MAIL_FILE": str(workdir / "mail.mbox")}
    init = json.loads(subprocess.run(
        [str(ROSTER), "init", "--account", "Browser Vendor", "--admin-email", "admin@browser.example", "--json"],
        env=env, capture_output=True, text=True, timeout=120, check=True).stdout)
    log = (workdir / "serve.log").open("w")
    process = subprocess.Popen([str(ROSTER), "serve", "--port", str(port), "--workers", "1"], env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError((workdir / "serve.log").read_text()) from None
                time.sleep(0.1)
        yield Server(f"http://{host}:{port}", env, init)
    finally:
        process.terminate()
        process.wait(30)
        log.close()


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


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
