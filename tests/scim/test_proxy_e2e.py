"""Behind a real reverse proxy: nginx in front of a live `roster serve`, clients on distinct loopback addresses.

nginx appends the address it saw to X-Forwarded-For, as a load balancer
does; `roster serve` trusts loopback (FORWARDED_ALLOW_IPS's default), so the
clients behind nginx are told apart. Each client binds its own source
address (127.0.0.2, 127.0.0.3, …), which is what nginx sees.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from conformance.live_server import free_port
from models.security import Session
from tests.oidc.flow import csrf
from tests.oidc.live import PASSWORD, Deployment

pytestmark = pytest.mark.e2e

WRONG = "wrong password, surely"
EMAIL = "pat@proxy.example"

NGINX_CONF = """
daemon off;
master_process off;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://127.0.0.1:{upstream};
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
        }}
    }}
}}
"""


def nginx_binary() -> str:
    found = shutil.which("nginx", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    if found is None:
        pytest.fail("nginx is missing: `make system-packages` installs it (Debian's nginx)")
    return found


@contextlib.contextmanager
def nginx(upstream: int, workdir: Path) -> Iterator[str]:
    """nginx proxying a free port to ``upstream``; its URL. Stopped on exit."""
    workdir.mkdir()
    port = free_port()
    conf = workdir / "nginx.conf"
    conf.write_text(NGINX_CONF.format(dir=workdir, port=port, upstream=upstream))
    process = subprocess.Popen([nginx_binary(), "-p", str(workdir), "-e", str(workdir / "error.log"), "-c", str(conf)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            if process.poll() is not None:
                pytest.fail(f"nginx exited with {process.returncode}:\n{(workdir / 'error.log').read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("nginx did not listen within 20 s")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class FromAddress(HTTPAdapter):
    """Connections from a chosen local address: the client the proxy sees."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


class Client:
    """A browser on ``address`` that reaches Roster at ``url``, sending ``forwarded_for`` itself if given."""

    def __init__(self, url: str, address: str, forwarded_for: str | None = None) -> None:
        self.url = url
        self.http = requests.Session()
        self.http.mount("http://", FromAddress(address))
        if forwarded_for is not None:
            self.http.headers["X-Forwarded-For"] = forwarded_for

    def sign_in(self, email: str, password: str) -> requests.Response:
        page = self.http.get(f"{self.url}/login", timeout=30)
        assert page.status_code == 200, page.text[:2000]
        return self.http.post(f"{self.url}/login", data={"csrf_token": csrf(page.text), "email": email,
                                                         "password": password},
                              allow_redirects=False, timeout=30)

    def fail_five_times(self) -> None:
        for n in range(5):
            wrong = self.sign_in(f"nobody{n}.{secrets.token_hex(2)}@proxy.example", WRONG)
            # the fifth already answers with the lock
            assert wrong.status_code == 400 and ("not right" in wrong.text or locked(wrong)), wrong.text[:2000]

    def close(self) -> None:
        self.http.close()


def locked(response: requests.Response) -> bool:
    return response.status_code == 400 and "Too many attempts" in response.text


def signed_in(response: requests.Response) -> bool:
    return response.status_code == 302 and "roster_session" in response.headers.get("Set-Cookie", "")


@pytest.fixture
def deployment(database_url, tmp_path) -> Deployment:
    found = Deployment(database_url, secrets.token_urlsafe(48), "http://127.0.0.1", tmp_path)
    found.init(f"Proxy {secrets.token_hex(4)}", "admin@proxy.example")
    found.ready_person(EMAIL)
    return found


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        client.close()


def test_behind_nginx_five_wrong_passwords_lock_that_client_only_and_its_header_chooses_nothing(
        deployment, tmp_path, clients):
    with deployment.serve() as instance, nginx(instance.port, tmp_path / "nginx") as proxy:
        def client(address: str, forwarded_for: str | None = None, url: str = proxy) -> Client:
            clients.append(Client(url, address, forwarded_for))
            return clients[-1]

        a, b = client("127.0.0.2"), client("127.0.0.3")
        a.fail_five_times()
        assert locked(a.sign_in(EMAIL, PASSWORD)), "five failures lock the client that made them"
        assert signed_in(b.sign_in(EMAIL, PASSWORD)), "another client behind the same proxy is not locked"

        # a client's own X-Forwarded-For neither borrows A's lock nor spreads its failures over made-up keys
        assert signed_in(client("127.0.0.4", forwarded_for="127.0.0.2").sign_in(EMAIL, PASSWORD))
        for n in range(5):
            forger = client("127.0.0.5", forwarded_for=f"198.51.100.{n}, 127.0.0.3")
            assert forger.sign_in(f"nobody{n}@proxy.example", WRONG).status_code == 400
        assert locked(client("127.0.0.5", forwarded_for="198.51.100.77").sign_in(EMAIL, PASSWORD))
        assert signed_in(client("127.0.0.3", forwarded_for="127.0.0.5").sign_in(EMAIL, PASSWORD)), (
            "B was not charged for the failures that named it")

        # straight to roster serve from an address it does not trust: the header is ignored
        direct = f"http://127.0.0.1:{instance.port}"
        assert signed_in(client("127.0.0.6", forwarded_for="127.0.0.2", url=direct).sign_in(EMAIL, PASSWORD))

    with deployment.domain():
        seen = {row.ip for row in Session.select(Session.ip)}
    # each session records the client nginx saw (or the direct peer), never the proxy's own address
    assert seen == {"127.0.0.3", "127.0.0.4", "127.0.0.6"}
