"""`roster init` then `roster serve` as real processes: gunicorn workers, the outbox child, a clean stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from conformance.live_server import Deployment, free_port, stop, wait_until_healthy
from tests.conftest import SECRET_KEY
from tests.processes import children, command_line, wait_until

pytestmark = pytest.mark.e2e

ROSTER = Path(sys.executable).parent / "roster"


def _wait_for_port(port: int, server: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"roster serve exited with {server.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"roster serve did not listen on {port} within {timeout} s:\n{log.read_text()}")


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="finds the server's children through /proc")
def test_init_then_serve(database_url, tmp_path):
    port = free_port()
    mbox = tmp_path / "outbox.mbox"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "ROSTER_SECRET_KEY": SECRET_KEY,
        "ROSTER_BASE_URL": f"http://127.0.0.1:{port}",
        "ROSTER_DATA_DIR": str(tmp_path),
        "ROSTER_MAIL_BACKEND": "file",
        "ROSTER_MAIL_FILE": str(mbox),
    }
    init = subprocess.run([str(ROSTER), "init", "--admin-email", "admin@acme.example", "--json"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert init.returncode == 0, init.stderr
    created = json.loads(init.stdout)
    assert created["created"] is True and created["scim_token"].startswith("rst_")
    assert created["scim_base_url"] == f"http://127.0.0.1:{port}/scim/v2"

    log = tmp_path / "serve.log"
    with log.open("w") as log_file:
        server = subprocess.Popen([str(ROSTER), "serve", "--port", str(port), "--workers", "2"], env=env,
                                  stdout=log_file, stderr=subprocess.STDOUT)
    found: set[int] = set()
    try:
        _wait_for_port(port, server, log)
        response = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert response.status_code == 200
        assert response.json()["status"] == "ok"
        generated = response.headers["X-Request-ID"]
        assert len(generated) == 32 and int(generated, 16) >= 0
        echoed = requests.get(f"http://127.0.0.1:{port}/healthz", headers={"X-Request-ID": "e2e-check-1"}, timeout=10)
        assert echoed.headers["X-Request-ID"] == "e2e-check-1"

        # two gunicorn workers and the outbox sender, all children of `roster serve`
        assert wait_until(lambda: len(children(server.pid)) >= 3), children(server.pid)
        found = children(server.pid)
        senders = [pid for pid in found if "outbox send" in command_line(pid)]
        assert len(senders) == 1, {pid: command_line(pid) for pid in found}
        # the sender delivers the admin's invitation that init queued
        assert wait_until(lambda: mbox.exists() and "admin@acme.example" in mbox.read_text()), log.read_text()
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        try:
            status = server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
            pytest.fail(f"roster serve ignored SIGTERM:\n{log.read_text()}")
    assert status == 0, log.read_text()
    assert wait_until(lambda: not any(Path(f"/proc/{pid}").exists() for pid in found), timeout=10), (
        "a child of roster serve outlived it")
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert all(json.loads(line) for line in lines), "every log line is one JSON object"
    # one line per request, with its request id: gunicorn's access line would only repeat it
    entries = [json.loads(line) for line in lines]
    assert [(e["path"], e["status"]) for e in entries if e.get("request_id") == "e2e-check-1"] == [("/healthz", 200)]
    assert not [e for e in entries if e["logger"] == "gunicorn.access"]


@pytest.mark.parametrize(("threads", "served"), [(1, False), (2, True)])
def test_serve_threads_answer_one_request_while_another_stalls(database_url, tmp_path, threads, served):
    """--threads reaches gunicorn: one worker with two threads answers while a client stalls mid-request.

    A sync worker (the default, one thread) reads a request to its end before
    it takes the next connection, so the stalled client holds the only worker.
    """
    port = free_port()
    deployment = Deployment(database_url, SECRET_KEY, f"http://127.0.0.1:{port}", tmp_path)
    deployment.init("Threads", "admin@threads.example")
    log = tmp_path / "serve.log"
    with log.open("wb") as log_file:
        server = subprocess.Popen([str(ROSTER), "serve", "--port", str(port), "--workers", "1", "--threads",
                                   str(threads)], env=deployment.env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        wait_until_healthy(port, server, log)
        with socket.create_connection(("127.0.0.1", port)) as stalled:
            # no blank line: the worker that took this connection waits for the rest of the headers
            stalled.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            try:
                answered = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5 if served else 3).ok
            except requests.Timeout:
                answered = False
        assert answered is served, log.read_text()
    finally:
        stop(server)
