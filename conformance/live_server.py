"""A throwaway `roster init` + `roster serve` on a free port, for the suites that need a live server.

    python -m conformance.live_server [--database-url URL]

prints the SCIM base URL and a token of a fresh account, then serves until Ctrl-C.
Without --database-url (or DATABASE_URL) the server runs on a temporary SQLite file.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from models.deployment import Deployment as DomainDeployment

ROSTER = Path(sys.executable).parent / "roster"


class ServerError(RuntimeError):
    """`roster init` or `roster serve` did not come up; the message holds their output."""


@dataclasses.dataclass(frozen=True)
class LiveServer:
    base_url: str  # the SCIM base URL, …/scim/v2
    token: str  # a SCIM token of the fresh account
    account_id: str
    log: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def roster_env(database_url: str, secret_key: str, base_url: str, workdir: Path) -> dict[str, str]:
    """The environment of a `roster` process on this deployment; mail goes to an mbox in ``workdir``."""
    return {**os.environ, "DATABASE_URL": database_url, "ROSTER_SECRET_KEY": secret_key,
            "ROSTER_BASE_URL": base_url, "ROSTER_DATA_DIR": str(workdir), "ROSTER_MAIL_BACKEND": "file",
            "ROSTER_MAIL_FILE": str(workdir / "outbox.mbox")}


@dataclasses.dataclass
class Deployment:
    """A database, a secret key and a public base URL shared by every `roster` process started on them."""

    database_url: str
    secret_key: str
    base_url: str
    workdir: Path
    account_id: str = ""
    scim_token: str = ""

    CLI_TIMEOUT = 120.0  # seconds a `roster` command may take

    @property
    def env(self) -> dict[str, str]:
        return roster_env(self.database_url, self.secret_key, self.base_url, self.workdir)

    def roster(self, *args: str) -> str:
        """Run the ``roster`` CLI on this deployment; its standard output."""
        done = subprocess.run([str(ROSTER), *args], env=self.env, capture_output=True, text=True,
                              timeout=self.CLI_TIMEOUT)
        if done.returncode != 0:
            raise ServerError(f"roster {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return done.stdout

    def init(self, account: str, admin_email: str) -> None:
        """``roster init`` for a new account: its id and a SCIM token."""
        created = json.loads(self.roster("init", "--account", account, "--admin-email", admin_email, "--json"))
        self.account_id, self.scim_token = created["account"]["id"], created["scim_token"]

    def create_client(self, redirect_uri: str, *, name: str,
                      post_logout_redirect_uri: str | None = None) -> tuple[str, str]:
        """``roster client create`` for the account: (client_id, client_secret)."""
        args = ["client", "create", self.account_id, "--redirect-uri", redirect_uri, "--name", name, "--json"]
        if post_logout_redirect_uri:
            args += ["--post-logout-redirect-uri", post_logout_redirect_uri]
        created = json.loads(self.roster(*args))
        return created["client_id"], created["client_secret"]

    @contextlib.contextmanager
    def domain(self) -> Iterator[DomainDeployment]:
        """The models bound to this deployment's database, in this process; yields what to hand the domain.

        That is a ``models.deployment.Deployment`` with this deployment's secret key and base URL, so what
        the domain encrypts or signs here the `roster` processes read, and the other way round.
        """
        from models.database import bind, db, open_database
        from scim_server.app import deployment_of

        handed = deployment_of({"SECRET_KEY": self.secret_key, "BASE_URL": self.base_url})
        bind(open_database(self.database_url))
        db.connect(reuse_if_open=True)
        try:
            yield handed
        finally:
            if not db.is_closed():
                db.close()
            if hasattr(db.obj, "close_all"):  # a pool's idle connections too
                db.obj.close_all()


def wait_until_healthy(port: int, server: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    """Until /healthz answers 200; ServerError with the log if the server exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise ServerError(f"roster serve exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise ServerError(f"roster serve was not healthy on port {port} within {timeout} s:\n{log.read_text()}")


@contextlib.contextmanager
def serve(database_url: str | None = None, workdir: Path | None = None, workers: int = 2,
          timeout: float = 60) -> Iterator[LiveServer]:
    """Run `roster init --json` for a new account, then `roster serve`; stop it on exit.

    The account gets a unique name, so its directory is empty even on a database
    that holds other accounts. ``database_url`` defaults to a SQLite file in ``workdir``.
    """
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="roster-conformance-")))
        port = free_port()
        env = roster_env(database_url or f"sqlite:///{workdir}/roster.sqlite3",
                         os.environ.get("ROSTER_SECRET_KEY") or secrets.token_urlsafe(48),
                         f"http://127.0.0.1:{port}", workdir)
        account = f"Conformance {secrets.token_hex(4)}"
        init = subprocess.run([str(ROSTER), "init", "--account", account, "--admin-email", "admin@conformance.example",
                               "--json"], env=env, capture_output=True, text=True, timeout=120)
        if init.returncode != 0:
            raise ServerError(f"roster init failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")
        created = json.loads(init.stdout)
        if not created.get("scim_token"):
            raise ServerError(f"roster init made no token:\n{init.stdout}")
        log = workdir / "serve.log"
        with log.open("wb") as log_file:
            server = subprocess.Popen([str(ROSTER), "serve", "--port", str(port), "--workers", str(workers)], env=env,
                                      stdout=log_file, stderr=subprocess.STDOUT)
        try:
            wait_until_healthy(port, server, log, timeout)
            yield LiveServer(created["scim_base_url"], created["scim_token"], created["account"]["id"], log)
        finally:
            stop(server)


def stop(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then wait; SIGKILL if it ignores it."""
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=60)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args(argv)
    with serve(args.database_url) as server:
        print(f"SCIM base URL: {server.base_url}\nToken:         {server.token}\nLog:           {server.log}",
              flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    return 0


if __name__ == "__main__":
    sys.exit(main())
