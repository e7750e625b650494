"""Nothing outlives `roster serve`: a master killed with SIGKILL takes its workers and outbox sender with it.

The sender and the workers ask Linux for a signal when their parent dies
(PR_SET_PDEATHSIG); the sender also checks its parent in its loop, which is
tested alone with the signal switched off, as on a system without prctl.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.live_server import free_port, roster_env
from tests.conftest import SECRET_KEY
from tests.oidc.live import Deployment
from tests.processes import children, command_line, wait_until

pytestmark = pytest.mark.e2e

# seconds, with room for a loaded machine (the signal is immediate; without it gunicorn checks every 15 s)
GONE_WITHIN = 8.0


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan that exited may wait for a PID 1 that does not reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def test_sigkill_of_the_master_takes_the_workers_and_the_outbox_sender_with_it(database_url, tmp_path):
    port = free_port()
    deployment = Deployment(database_url, secrets.token_urlsafe(48), f"http://127.0.0.1:{port}", tmp_path)
    deployment.init(f"Orphans {secrets.token_hex(4)}", "admin@orphans.example")
    with deployment.serve(port=port, workers=2) as instance:
        master = instance.process.pid
        assert wait_until(lambda: len(children(master)) >= 3, 20), children(master)
        found = children(master)
        senders = [pid for pid in found if "outbox send" in command_line(pid)]
        workers = found - set(senders)
        assert len(senders) == 1 and len(workers) == 2, {pid: command_line(pid) for pid in found}
        # the sender is in its loop: it delivered the invitation `roster init` queued
        mbox = tmp_path / "outbox.mbox"
        assert wait_until(lambda: mbox.exists() and "admin@orphans.example" in mbox.read_text(), 30)

        os.kill(master, signal.SIGKILL)
        instance.process.wait(timeout=10)
        left = lambda: {pid: command_line(pid) for pid in found if running(pid)}  # noqa: E731
        assert wait_until(lambda: not left(), GONE_WITHIN), f"outlived roster serve: {left()}"
    log = instance.log.read_text()
    assert "outbox sender" in log and "stopped after" in log, "the sender stopped cleanly, not killed"


SENDER_WITHOUT_PDEATHSIG = (
    "import sys; from scim_server import parent_process; "
    "parent_process.signal_on_parent_death = lambda signum=0: False; "
    "from scim_server.cli import main; sys.argv[0] = 'roster'; main()"
)

PARENT = (
    "import os, subprocess, sys, time; "
    "child = subprocess.Popen([sys.executable, '-c', sys.argv[1], 'outbox', 'send', '--parent-pid', str(os.getpid())], "
    "stderr=open(sys.argv[2], 'wb')); "
    "print(child.pid, flush=True); time.sleep(600)"
)


def test_without_the_parent_death_signal_the_sender_still_notices_its_parent_is_gone(database_url, tmp_path):
    log = tmp_path / "sender.log"
    env = {**roster_env(database_url, SECRET_KEY, "http://roster.test", tmp_path), "ROSTER_MAIL_BACKEND": "log"}
    parent = subprocess.Popen([sys.executable, "-c", PARENT, SENDER_WITHOUT_PDEATHSIG, str(log)], env=env,
                              stdout=subprocess.PIPE, text=True)
    sender = 0
    try:
        assert parent.stdout is not None
        sender = int(parent.stdout.readline())
        assert wait_until(lambda: log.exists() and "outbox sender" in log.read_text(), 30), (
            log.read_text() if log.exists() else "no log")
        assert running(sender)
        parent.kill()
        parent.wait(timeout=10)
        assert wait_until(lambda: not running(sender), GONE_WITHIN), f"outlived its parent:\n{log.read_text()}"
        assert "its parent process" in log.read_text() and "is gone" in log.read_text()
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
        if sender and running(sender):
            os.kill(sender, signal.SIGKILL)
