"""A PostgreSQL server of a test's own (initdb + pg_ctl in a temporary directory), to stop and start at will.

Outage tests stop the database under a running app; they must never touch the
machine's shared server (CI's, other test runs'), so they make their own on a
free port. PostgreSQL refuses to run as root: as root, the server runs as the
``postgres`` user (``runuser``), in a directory that user owns.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conformance.live_server import free_port

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _binary(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


class OwnPostgres:
    def __init__(self, directory: Path) -> None:
        initdb, self.pg_ctl = _binary("initdb"), _binary("pg_ctl")
        if initdb is None or self.pg_ctl is None:
            message = "initdb and pg_ctl (Debian's postgresql package) are needed for the outage tests"
            if IN_CI:
                pytest.fail(message)
            pytest.skip(message)
        self.directory, self.data, self.port = directory, directory / "data", free_port()
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(directory, user.pw_uid, user.pw_gid)
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self._run(initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self.prefix, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c full_page_writes=off")
        self._run(self.pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.directory / "server.log"),
                  "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends every session (clients see their connection die), as a restart or failover does."""
        self._run(self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "stop")

    def is_running(self) -> bool:
        return subprocess.run([*self.prefix, str(self.pg_ctl), "-D", str(self.data), "status"],
                              capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def own_postgres():
    """A started server of this module's own; stopped and removed after the module.

    Its directory is directly under the temporary directory: pytest's own are
    private to root, and the ``postgres`` user could not reach one inside them.
    """
    directory = Path(tempfile.mkdtemp(prefix="roster-pg-"))
    try:
        server = OwnPostgres(directory)
        server.start()
        yield server
        if server.is_running():
            server.stop("immediate")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
