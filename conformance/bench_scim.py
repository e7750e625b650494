"""SCIM benchmark (issue 3, "Benchmark"; DESIGN.md §3 "Speed"): Roster against a Flask hello world and scim2-server.

    python conformance/bench_scim.py [--database-url URL] [--users 10000] [--memberships 100000]
                                     [--group-size 50000] [--workers 2] [--duration 5]

One after another, each on a free 127.0.0.1 port with ``--workers`` gunicorn
sync workers (``roster serve``'s default is 2):

1. Roster: ``roster init --json`` then ``roster serve`` on a fresh SQLite file
   (or ``--database-url``; a PostgreSQL database gets its public schema dropped
   and made anew first). ``POST /Users`` of ``--users`` users is the initial
   sync, measured in users/s. The account then grows to ``--memberships``
   linked directory records by bulk inserts through the domain's models
   (users, memberships, directory records and their ``directory_value`` rows
   from :func:`models.directory_index.values_of`: the rows SCIM would have
   written, without 90,000 HTTP POSTs), and a group made by ``POST /Groups``
   gets its first ``--group-size`` members through :func:`models.directory_groups.update_group`
   (5,000 per call, as a SCIM PATCH would add them). Then the store is left as it
   settles after a sync: PostgreSQL vacuumed and analysed (autovacuum's work),
   SQLite's write-ahead log checkpointed into the database file.
2. A Flask hello world (conformance/bench_peers/hello.py): ``GET /``.
3. The scim2-server reference (PyPI, in memory; conformance/bench_peers/
   scim2_server_app.py): a fresh instance for the POST sync, then one whose
   workers each seed the same ``--users`` users and a group of
   ``--group-size / 10`` members at start (in memory, each gunicorn worker
   has its own store). scim2-server runs from this interpreter when it can
   import it, else from a venv this script makes in /tmp/bench-peers-venv.

The load generator is pure Python: ``--clients`` processes of threads,
``--concurrency`` requests in flight, each on a new connection (gunicorn's
sync workers close every connection after one response), for ``--duration``
seconds after a ``--warmup``, every loop bounded by a count and a deadline.
It runs on the same machine as the servers and takes CPU from them: figures
compare servers measured the same way, they are not absolute capacities.

Prints one table: Roster req/s, p50, p99, then the peers' req/s, the ratios,
and the targets of issue 3 with PASS/FAIL. ``--json FILE`` writes the figures.
Every server started here is stopped at the end, on errors and on Ctrl-C too.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import math
import multiprocessing
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from conformance.bench_peers.data import GROUP_ID as PEER_GROUP_ID  # noqa: E402
from conformance.bench_peers.data import user_document, user_id  # noqa: E402
from conformance.live_server import free_port  # noqa: E402

ROSTER = Path(sys.executable).parent / "roster"
PEER_VENV = Path(tempfile.gettempdir()) / "bench-peers-venv"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
HOST = "127.0.0.1"
# one token carries the whole load: a budget no run reaches, so the counting (models.rate_limits) costs
# what it costs in production but never refuses
UNLIMITED = {"ROSTER_SCIM_RATE_LIMIT": "100000000", "ROSTER_OAUTH_RATE_LIMIT": "100000000"}


# ----------------------------------------------------------------- processes


class Servers:
    """The server processes this run started; :meth:`stop_all` ends each of them by its pid."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], *, env: dict[str, str], log: Path, cwd: Path = ROOT) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            # its own session: a Ctrl-C in the terminal reaches this script, which then stops it in order
            process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)  # its own group: the server and its workers
                process.wait()
        if process in self.processes:
            self.processes.remove(process)

    def stop_all(self) -> None:
        for process in list(reversed(self.processes)):
            self.stop(process)


def wait_until_serving(port: int, path: str, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{tail(log)}")
        with contextlib.suppress(OSError):
            status, _ = http(port, "GET", path, None, {})
            if status < 500:
                return
        time.sleep(0.2)
    raise RuntimeError(f"server not answering {path} on port {port} within {timeout} s:\n{tail(log)}")


def tail(log: Path, lines: int = 30) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    return ""


def gunicorn_argv(python: str, app: str, port: int, workers: int) -> list[str]:
    return [python, "-m", "gunicorn", "--workers", str(workers), "--worker-class", "sync", "--bind", f"{HOST}:{port}",
            "--timeout", "120", "--no-control-socket", "--log-level", "warning", app]


def peer_python() -> str:
    """An interpreter that imports scim2_server: this one, else a venv in /tmp made (once) for it."""
    probe = "import scim2_server, gunicorn, flask"
    if subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0:
        return sys.executable
    python = PEER_VENV / "bin" / "python"
    if not python.exists() or subprocess.run([str(python), "-c", probe], capture_output=True).returncode != 0:
        print(f"Installing scim2-server into {PEER_VENV} (the project's venv stays as it is)…", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "scim2-server", "gunicorn", "flask"],
                       check=True, timeout=600)
    return str(python)


# ----------------------------------------------------------------- HTTP


def http(port: int, method: str, path: str, body: bytes | None, headers: dict[str, str],
         timeout: float = 120) -> tuple[int, bytes]:
    """One request on a new connection (``Connection: close``); (status, body)."""
    lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    request = ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(request)
        data = bytearray()
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed before the response headers")
            data += chunk
        head, _, rest = bytes(data).partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = None
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        payload = bytearray(rest)
        while length is None or len(payload) < length:
            chunk = s.recv(262144)
            if not chunk:
                break
            payload += chunk
        return status, bytes(payload)


class Client:
    """A SCIM client of one server, for setup (not measured)."""

    def __init__(self, port: int, prefix: str, token: str | None = None) -> None:
        self.port, self.prefix = port, prefix
        self.headers = {"Accept": "application/scim+json", "Content-Type": "application/scim+json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"

    def call(self, method: str, path: str, document: Any = None, expect: tuple[int, ...] = (200,)) -> Any:
        body = None if document is None else json.dumps(document).encode()
        status, payload = http(self.port, method, self.prefix + path, body, self.headers)
        if status not in expect:
            raise RuntimeError(f"{method} {path} answered {status}: {payload[:500]!r}")
        return json.loads(payload) if payload else None


# ----------------------------------------------------------------- load generator


Make = Callable[[int, random.Random], tuple[str, str, bytes | None]]
"""(n, rng) → (method, path, body) of a request; n numbers requests, for workloads that need distinct resources."""


@dataclasses.dataclass
class Result:
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    first_error: str = ""
    concurrency: int = 0

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return math.nan
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))] * 1000


def _thread_loop(port: int, headers: dict[str, str], make: Make, slot: int, stride: int, start: float, stop: float,
                 max_requests: int, expect: tuple[int, ...], out: list[tuple[float, float, int, str]]) -> None:
    rng = random.Random(slot * 7919 + 17)
    time.sleep(max(0.0, start - time.monotonic()))
    for k in range(max_requests):
        now = time.monotonic()
        if now >= stop:
            return
        method, path, body = make(slot + k * stride, rng)
        began = time.monotonic()
        try:
            status, payload = http(port, method, path, body, headers, timeout=max(5.0, stop - began + 60))
            error = "" if status in expect else f"{status} {payload[:300]!r}"
        except OSError as exc:
            error = f"{type(exc).__name__}: {exc}"
        ended = time.monotonic()
        out.append((began, ended, 0 if error else 1, error))


def _client_process(port: int, headers: dict[str, str], make: Make, slots: list[int], stride: int, start: float,
                    stop: float, max_per_thread: int, expect: tuple[int, ...], conn: Any) -> None:
    outs: list[list[tuple[float, float, int, str]]] = [[] for _ in slots]
    threads = [threading.Thread(target=_thread_loop, args=(port, headers, make, slot, stride, start, stop,
                                                           max_per_thread, expect, out), daemon=True)
               for slot, out in zip(slots, outs, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(1.0, stop - time.monotonic() + 180))
    conn.send([row for out in outs for row in out])
    conn.close()


def gather(target: Callable[..., None], arguments: Callable[[list[int]], tuple[Any, ...]], *, concurrency: int,
           clients: int, stop: float) -> list[Any]:
    """Run ``target(*arguments(slots), sender)`` in ``clients`` forked processes sharing the ``concurrency``
    thread slots, and return the rows they send back; a process still running well after ``stop`` is ended."""
    context = multiprocessing.get_context("fork")
    processes = max(1, min(clients, concurrency))
    workers = []
    for index in range(processes):
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(target=target, args=(*arguments(list(range(index, concurrency, processes))),
                                                       sender), daemon=True)
        process.start()
        sender.close()
        workers.append((process, receiver))
    rows: list[Any] = []
    try:
        for process, receiver in workers:
            if receiver.poll(max(1.0, stop - time.monotonic() + 240)):
                rows.extend(receiver.recv())
            process.join(timeout=10)
    finally:
        for process, _ in workers:
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)
    return rows


def result_of(rows: list[tuple[float, float, int, str]], measured: list[tuple[float, float, int, str]],
              window_start: float, stop: float, concurrency: int) -> Result:
    """The figures of the ``measured`` (began, ended, ok, error) rows, in a window ending at ``stop`` or the last."""
    last = max((r[1] for r in rows), default=stop)
    # stopped early (max_requests, a per-thread limit): the rate is over the time the work took
    seconds = (min(last, stop) - window_start) if measured else 0.0
    ok = [r for r in measured if r[2]]
    errors = [r for r in measured if not r[2]]
    return Result(len(ok), len(errors), seconds, [r[1] - r[0] for r in ok], errors[0][3] if errors else "",
                  concurrency)


def load(port: int, headers: dict[str, str], make: Make, *, concurrency: int, duration: float, warmup: float,
         max_requests: int, clients: int, expect: tuple[int, ...] = (200,)) -> Result:
    """Run ``make``'s requests from ``concurrency`` threads spread over ``clients`` processes.

    Counts what completes between ``warmup`` and ``warmup + duration`` (or, when
    ``max_requests`` ends the run first, until the last request). Requests
    number ``slot + k * concurrency``: distinct across threads, for workloads
    that must not touch the same resource twice.
    """
    start = time.monotonic() + 0.3
    stop = start + warmup + duration
    max_per_thread = max(1, math.ceil(max_requests / concurrency))
    rows: list[tuple[float, float, int, str]] = gather(
        _client_process, lambda slots: (port, headers, make, slots, concurrency, start, stop, max_per_thread, expect),
        concurrency=concurrency, clients=clients, stop=stop)
    window_start = start + warmup
    measured = [r for r in rows if r[0] >= window_start and r[1] <= stop]
    if not measured and rows:  # each request slower than the window: keep what there is
        measured = rows
        window_start = min(r[0] for r in rows)
    return result_of(rows, measured, window_start, stop, concurrency)


def count_run(port: int, headers: dict[str, str], make: Make, total: int, *, concurrency: int, clients: int,
              timeout: float, expect: tuple[int, ...]) -> Result:
    """``total`` requests (e.g. an initial sync), as fast as ``concurrency`` allows; rate = total / wall time."""
    return load(port, headers, make, concurrency=concurrency, duration=timeout, warmup=0.0, max_requests=total,
                clients=clients, expect=expect)


# ----------------------------------------------------------------- Roster


def reset_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("DROP SCHEMA IF EXISTS public CASCADE")
        connection.execute("CREATE SCHEMA public")


@dataclasses.dataclass
class Roster:
    port: int
    token: str
    account_id: str
    database_url: str
    process: subprocess.Popen[bytes]
    log: Path


def start_roster(servers: Servers, workdir: Path, database_url: str | None, workers: int) -> Roster:
    url = database_url or f"sqlite:///{workdir}/roster.sqlite3"
    if url.startswith(("postgres://", "postgresql://")):
        reset_postgres(url)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "ROSTER_SECRET_KEY": secrets.token_urlsafe(48),
           "ROSTER_BASE_URL": f"http://{HOST}:{port}", "ROSTER_DATA_DIR": str(workdir),
           "ROSTER_MAIL_BACKEND": "file", "ROSTER_MAIL_FILE": str(workdir / "outbox.mbox"), **UNLIMITED}
    init = subprocess.run([str(ROSTER), "init", "--account", "Bench", "--admin-email", "admin@bench.example",
                           "--json"], env=env, capture_output=True, text=True, timeout=180)
    if init.returncode != 0:
        raise RuntimeError(f"roster init failed ({init.returncode}):\n{init.stdout}\n{init.stderr}")
    created = json.loads(init.stdout)
    log = workdir / "roster-serve.log"
    process = servers.start([str(ROSTER), "serve", "--port", str(port), "--workers", str(workers)], env=env, log=log)
    wait_until_serving(port, "/healthz", process, log, 90)
    return Roster(port, created["scim_token"], created["account"]["id"], url, process, log)


def seed_roster(roster: Roster, memberships: int, group_id: str, group_size: int) -> tuple[list[str], list[str]]:
    """Grow the account to ``memberships`` linked directory records and the group to ``group_size`` members.

    Bulk inserts through the models, shaped like what ``POST /Users`` wrote
    for the initial sync (user 0's record is the template). Returns every
    record's (ids, userNames) in listing order.
    """
    from models import directory_index
    from models.audit import Actor
    from models.database import bind, db, is_postgres, open_database
    from models.directory_groups import MemberChanges, update_group
    from models.tenancy import DirectoryRecord, DirectoryValue, Group, Membership, ScimToken, User

    bind(open_database(roster.database_url))
    try:
        account = roster.account_id
        existing = DirectoryRecord.select().where(DirectoryRecord.account == account).count()
        template = DirectoryRecord.get_or_none((DirectoryRecord.account == account)
                                               & (DirectoryRecord.user_name == user_document(0)["userName"]))
        if template is None:
            raise RuntimeError("the initial sync created no record to copy")
        template_membership = Membership.get_by_id(template.membership_id)
        template_user = User.get_by_id(template_membership.user_id)
        # the template is user 0: its index, padded, is in every value that varies
        marker = f"{0:06d}"
        attributes_text = json.dumps(template.attributes)
        base = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        batch = 2000
        for first in range(existing, memberships, batch):
            users: list[dict[str, Any]] = []
            members: list[dict[str, Any]] = []
            records: list[dict[str, Any]] = []
            values: list[dict[str, Any]] = []
            for index in range(first, min(memberships, first + batch)):
                number = f"{index:06d}"
                created = base + dt.timedelta(microseconds=index)
                user_name = template.user_name.replace(marker, number)
                user_pk, membership_pk, record_pk = (secrets.token_hex(16) for _ in range(3))
                users.append({"id": user_pk, "email": template_user.email.replace(marker, number),
                              "email_key": template_user.email_key.replace(marker, number),
                              "given_name": template_user.given_name.replace(marker, number),
                              "family_name": template_user.family_name.replace(marker, number),
                              "status": template_user.status, "created_at": created, "updated_at": created})
                members.append({"id": membership_pk, "user": user_pk, "account": account,
                                "status": template_membership.status, "role": template_membership.role,
                                "permissions": template_membership.permissions,
                                "created_via": template_membership.created_via,
                                "created_at": created, "updated_at": created})
                attributes = json.loads(attributes_text.replace(marker, number))
                records.append({"id": record_pk, "account": account, "membership": membership_pk,
                                "user_name": user_name, "user_name_key": user_name.lower(),
                                "external_id": (template.external_id or "").replace(marker, number) or None,
                                "attributes": attributes, "created_at": created, "updated_at": created})
                values.extend(dict(row, record=record_pk, account_id=account)
                              for row in directory_index.values_of(attributes))
            with db.atomic():
                for model, rows in ((User, users), (Membership, members), (DirectoryRecord, records),
                                    (DirectoryValue, values)):
                    for at in range(0, len(rows), 500):
                        model.insert_many(rows[at:at + 500]).execute()
        listing = (DirectoryRecord.select(DirectoryRecord.id, DirectoryRecord.user_name, DirectoryRecord.membership)
                   .where(DirectoryRecord.account == account)
                   .order_by(DirectoryRecord.created_at, DirectoryRecord.id))
        ordered: list[tuple[str, str, str]] = list(listing.tuples())  # type: ignore[arg-type]
        # the group's members through the domain, as a SCIM PATCH would add them (set operations in SQL)
        token = ScimToken.select().where(ScimToken.account == account).first()
        group = Group.get_by_id(group_id)
        for at in range(0, group_size, 5000):
            batch_ids = tuple(r for r, _, _ in ordered[at:min(group_size, at + 5000)])
            group = update_group(group, members=MemberChanges(add=batch_ids), by=Actor.for_scim_token(token))
        if is_postgres():
            # what autovacuum does after a real sync: PostgreSQL ≥ 13 vacuums insert-only tables too, which
            # sets the visibility map that index-only scans (a COUNT, a page's ids) need
            db.execute_sql("VACUUM ANALYZE")
        else:
            # what SQLite's own checkpoints reach once a sync settles: the bulk inserts' pages moved from
            # the write-ahead log into the database file, so readers stop looking them up in the log
            db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return [r for r, _, _ in ordered], [u for _, u, _ in ordered]
    finally:
        if not db.is_closed():
            db.close()


# ----------------------------------------------------------------- workloads


def quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def patch_active_false() -> bytes:
    return json.dumps({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active",
                                                               "value": False}]}).encode()


def add_members(ids: list[str]) -> bytes:
    return json.dumps({"schemas": [PATCH_OP], "Operations": [
        {"op": "add", "path": "members", "value": [{"value": i} for i in ids]}]}).encode()


def get_by_id(prefix: str, ids: list[str]) -> Make:
    return lambda n, rng: ("GET", f"{prefix}/Users/{rng.choice(ids)}", None)


def lookup(prefix: str, names: list[str]) -> Make:
    def make(n: int, rng: random.Random) -> tuple[str, str, bytes | None]:
        expression = 'userName eq "' + rng.choice(names) + '"'
        return "GET", f"{prefix}/Users?filter={quote(expression)}", None
    return make


def patch_distinct(prefix: str, ids: list[str]) -> Make:
    body = patch_active_false()
    return lambda n, rng: ("PATCH", f"{prefix}/Users/{ids[n % len(ids)]}", body)


def member_batches(prefix: str, group_id: str, outsiders: list[str], size: int = 100) -> Make:
    def make(n: int, rng: random.Random) -> tuple[str, str, bytes | None]:
        start = (n * size) % max(1, len(outsiders))
        return ("PATCH", f"{prefix}/Groups/{group_id}?excludedAttributes=members",
                add_members(outsiders[start:start + size]))
    return make


def fixed(method: str, path: str) -> Make:
    return lambda n, rng: (method, path, None)


def posts(prefix: str, offset: int = 0) -> Make:
    return lambda n, rng: ("POST", f"{prefix}/Users", json.dumps(user_document(offset + n)).encode())


# ----------------------------------------------------------------- the run


@dataclasses.dataclass
class Row:
    key: str
    label: str
    roster: Result | None = None
    scim2: Result | None = None
    unit: str = "req/s"


def run(args: argparse.Namespace) -> dict[str, Row]:
    servers = Servers()
    rows: dict[str, Row] = {}
    hello_rate = math.nan
    workdir = Path(tempfile.mkdtemp(prefix="bench-scim-"))
    common = dict(duration=args.duration, warmup=args.warmup, clients=args.clients)
    conc = args.concurrency
    peer_group = max(1, args.group_size // 10)

    def row(key: str, label: str, unit: str = "req/s") -> Row:
        return rows.setdefault(key, Row(key, label, unit=unit))

    def say(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    try:
        # ---------------------------------------------------- 1. Roster
        say(f"Roster: init + serve ({args.database_url or 'SQLite'}) in {workdir}")
        roster = start_roster(servers, workdir, args.database_url, args.workers)
        prefix = "/scim/v2"
        client = Client(roster.port, prefix, roster.token)
        headers = dict(client.headers)
        say(f"Roster: POST /Users × {args.users} (initial sync)")
        result = count_run(roster.port, headers, posts(prefix), args.users, concurrency=conc, clients=args.clients,
                           timeout=args.max_seconds, expect=(201,))
        row("post", f"POST /Users (initial sync of {args.users:,})", "users/s").roster = result
        say(f"  {result.requests} created in {result.seconds:.1f} s ({result.errors} errors)")
        if result.requests < args.users:
            say(f"  WARNING: only {result.requests} of {args.users} users were created; {result.first_error}")
        group = client.call("POST", "/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                                "displayName": "bench-group"}, expect=(201,))
        say(f"Roster: seeding to {args.memberships:,} memberships and a group of {args.group_size:,} (bulk inserts)")
        started = time.monotonic()
        ids, names = seed_roster(roster, args.memberships, group["id"], args.group_size)
        say(f"  seeded in {time.monotonic() - started:.1f} s: {len(ids):,} records")
        total = len(ids)
        outsiders = ids[args.group_size:]
        rnd = random.Random(4)
        to_patch = ids[:]
        rnd.shuffle(to_patch)

        def measure(key: str, label: str, make: Make, *, expect: tuple[int, ...] = (200,), concurrency: int = conc,
                    max_requests: int = 10**7) -> Result:
            say(f"Roster: {label}")
            result = load(roster.port, headers, make, concurrency=concurrency, max_requests=max_requests,
                          expect=expect, **common)
            row(key, label).roster = result
            say(f"  {result.rate:,.1f} req/s, p50 {result.percentile(50):.1f} ms, p99 {result.percentile(99):.1f} ms"
                + (f", {result.errors} errors: {result.first_error}" if result.errors else ""))
            return result

        measure("get", "GET /Users/{id}", get_by_id(prefix, ids))
        measure("lookup", 'GET /Users?filter=userName eq "…"', lookup(prefix, names))
        deep = max(1, total - 199)
        measure("page1", "GET /Users?startIndex=1&count=100", fixed("GET", f"{prefix}/Users?startIndex=1&count=100"))
        measure("deep", f"GET /Users?startIndex={deep:,}&count=100",
                fixed("GET", f"{prefix}/Users?startIndex={deep}&count=100"))
        measure("cursor1", "GET /Users?cursor=&count=100", fixed("GET", f"{prefix}/Users?cursor=&count=100"))
        say(f"Roster: walking the cursor to item {deep:,}")
        cursor, seen, walk_deadline = "", 0, time.monotonic() + args.max_seconds
        for _ in range(total // 200 + 2):
            if seen + 200 >= deep or time.monotonic() > walk_deadline:
                break
            page = client.call("GET", f"/Users?cursor={quote(cursor)}&count=200&attributes=id")
            seen += len(page.get("Resources", []))
            cursor = page.get("nextCursor") or ""
            if not cursor:
                break
        if cursor:
            measure("cursor_deep", f"GET /Users?cursor=…(at {seen:,})&count=100",
                    fixed("GET", f"{prefix}/Users?cursor={quote(cursor)}&count=100"))
        else:
            say("  no cursor to the end (the listing gave no nextCursor)")
        measure("group_excl", f"GET /Groups/{{id}}?excludedAttributes=members ({args.group_size:,} members)",
                fixed("GET", f"{prefix}/Groups/{group['id']}?excludedAttributes=members"))
        measure("group_full", f"GET /Groups/{{id}} ({args.group_size:,} members)",
                fixed("GET", f"{prefix}/Groups/{group['id']}"))
        # one group: clients push its changes one at a time, so one request in flight
        measure("members", f"PATCH +100 members into a {args.group_size:,}-member group",
                member_batches(prefix, group["id"], outsiders), concurrency=1,
                max_requests=max(1, len(outsiders) // 100))
        measure("patch", "PATCH /Users/{id} active=false", patch_distinct(prefix, to_patch),
                max_requests=len(to_patch))
        servers.stop(roster.process)
        say(f"Roster stopped (log: {roster.log})")

        # ---------------------------------------------------- 2. hello world
        if not args.skip_peers:
            port = free_port()
            log = workdir / "hello.log"
            process = servers.start(gunicorn_argv(sys.executable, "conformance.bench_peers.hello:app", port,
                                                  args.workers), env=dict(os.environ), log=log)
            wait_until_serving(port, "/", process, log, 60)
            say("hello world: GET /")
            hello = load(port, {}, fixed("GET", "/"), concurrency=conc, max_requests=10**7, **common)
            hello_rate = hello.rate
            say(f"  {hello.rate:,.1f} req/s, p50 {hello.percentile(50):.1f} ms, p99 {hello.percentile(99):.1f} ms")
            servers.stop(process)

            # ---------------------------------------------------- 3. scim2-server
            python = peer_python()
            prefix = "/v2"
            port = free_port()
            log = workdir / "scim2-server.log"
            env = {**os.environ, "PYTHONPATH": str(ROOT), "SCIM2_SERVER_SECRET": secrets.token_urlsafe(32),
                   "BENCH_SEED_USERS": "0", "BENCH_SEED_GROUP_MEMBERS": "0"}
            process = servers.start(gunicorn_argv(python, "conformance.bench_peers.scim2_server_app:app", port,
                                                  args.workers), env=env, log=log)
            wait_until_serving(port, "/v2/ServiceProviderConfig", process, log, 120)
            peer_headers = {"Accept": "application/scim+json", "Content-Type": "application/scim+json"}
            say(f"scim2-server: POST /Users × {args.users} (fresh instance)")
            result = count_run(port, peer_headers, posts(prefix), args.users, concurrency=conc, clients=args.clients,
                               timeout=args.max_seconds, expect=(201,))
            row("post", "").scim2 = result
            say(f"  {result.requests} created in {result.seconds:.1f} s ({result.errors} errors)")
            servers.stop(process)

            port = free_port()
            env.update(BENCH_SEED_USERS=str(args.users), BENCH_SEED_GROUP_MEMBERS=str(peer_group))
            say(f"scim2-server: seeding {args.users:,} users and a group of {peer_group:,} in each worker")
            process = servers.start(gunicorn_argv(python, "conformance.bench_peers.scim2_server_app:app", port,
                                                  args.workers), env=env, log=log)
            wait_until_serving(port, "/v2/ServiceProviderConfig", process, log, 600)
            peer_ids = [user_id(i) for i in range(args.users)]
            peer_names = [user_document(i)["userName"] for i in range(args.users)]
            peer_patch = peer_ids[:]
            rnd.shuffle(peer_patch)
            peer_deep = max(1, args.users - 199)

            def peer(key: str, make: Make, *, expect: tuple[int, ...] = (200,), concurrency: int = conc,
                     max_requests: int = 10**7, label: str = "") -> None:
                say(f"scim2-server: {label or rows[key].label}")
                result = load(port, peer_headers, make, concurrency=concurrency, max_requests=max_requests,
                              expect=expect, **common)
                row(key, label).scim2 = result
                say(f"  {result.rate:,.1f} req/s, p50 {result.percentile(50):.1f} ms, "
                    f"p99 {result.percentile(99):.1f} ms"
                    + (f", {result.errors} errors: {result.first_error}" if result.errors else ""))

            peer("get", get_by_id(prefix, peer_ids))
            peer("lookup", lookup(prefix, peer_names))
            peer("page1", fixed("GET", f"{prefix}/Users?startIndex=1&count=100"))
            peer("deep", fixed("GET", f"{prefix}/Users?startIndex={peer_deep}&count=100"),
                 label=f"page at startIndex={peer_deep:,} of {args.users:,}")
            peer("group_excl", fixed("GET", f"{prefix}/Groups/{PEER_GROUP_ID}?excludedAttributes=members"),
                 label=f"group GET excludedAttributes=members ({peer_group:,} members)")
            peer("group_full", fixed("GET", f"{prefix}/Groups/{PEER_GROUP_ID}"),
                 label=f"group GET ({peer_group:,} members)")
            peer("members", member_batches(prefix, PEER_GROUP_ID, peer_ids[peer_group:]), concurrency=1,
                 expect=(200, 204), max_requests=max(1, (args.users - peer_group) // 100),
                 label=f"PATCH +100 members into a {peer_group:,}-member group")
            peer("patch", patch_distinct(prefix, peer_patch), expect=(200, 204), max_requests=len(peer_patch))
            servers.stop(process)
    finally:
        servers.stop_all()
    report(args, rows, hello_rate, peer_group)
    return rows


# ----------------------------------------------------------------- the table


def targets(key: str, rows: dict[str, Row], hello: float, postgres: bool) -> list[tuple[str, bool | None]]:
    """Issue 3's targets for one row: (description, passed; None when it cannot be judged)."""
    r = rows[key].roster
    if r is None:
        return []
    peer = rows[key].scim2
    checks: list[tuple[str, bool | None]] = []

    def ratio(name: str, value: float, minimum: float) -> None:
        checks.append((name, None if math.isnan(value) else value >= minimum))

    if key in ("get", "lookup"):
        ratio("≥30% hello", r.rate / hello if hello else math.nan, 0.30)
        ratio("≥2× scim2", r.rate / peer.rate if peer and peer.rate else math.nan, 2.0)
    if key == "patch":
        ratio("≥20% hello", r.rate / hello if hello else math.nan, 0.20)
    if key == "post":
        floor = 300 if postgres else 500
        checks.append((f"≥{floor}/s", r.rate >= floor))
    if key in ("get", "lookup", "page1", "deep", "cursor1", "cursor_deep", "group_excl", "group_full"):
        checks.append(("p99<50ms", r.percentile(99) < 50))
    for deep, first in (("deep", "page1"), ("cursor_deep", "cursor1")):
        first_page = rows[first].roster if first in rows else None
        if key == deep and first_page is not None:
            base = first_page.percentile(50)
            checks.append(("p50 ±20% of 1st", abs(r.percentile(50) - base) <= 0.2 * base))
    if key == "members":
        checks.append(("p50<100ms", r.percentile(50) < 100))
    if key == "group_excl" and rows.get("get") and rows["get"].roster:
        checks.append(("≥80% user GET", r.rate >= 0.8 * rows["get"].roster.rate))
    return checks


def report(args: argparse.Namespace, rows: dict[str, Row], hello: float, peer_group: int) -> None:
    postgres = bool(args.database_url and args.database_url.startswith(("postgres://", "postgresql://")))
    header = ["workload", "c", "Roster", "p50 ms", "p99 ms", "err", "hello", "scim2-srv", "R/hello", "R/scim2",
              "targets", "result"]
    table = [header]
    failed = False
    for key, row in rows.items():
        r, p = row.roster, row.scim2
        if r is None:
            continue
        checks = targets(key, rows, hello, postgres)
        verdicts = [ok for _, ok in checks]
        result = ("PASS" if all(verdicts) else "FAIL") if checks and None not in verdicts else (
            "FAIL" if False in verdicts else ("n/a" if not checks else "?"))
        failed |= result == "FAIL"
        unit = " u/s" if row.unit == "users/s" else ""
        table.append([
            row.label, str(r.concurrency), f"{r.rate:,.1f}{unit}", f"{r.percentile(50):.1f}", f"{r.percentile(99):.1f}",
            str(r.errors), f"{hello:,.0f}" if not math.isnan(hello) else "-",
            f"{p.rate:,.1f}" if p else "-",
            f"{r.rate / hello:.1%}" if hello and not math.isnan(hello) else "-",
            f"{r.rate / p.rate:.2f}×" if p and p.rate else "-",
            ", ".join(f"{name} {'✓' if ok else ('✗' if ok is False else '?')}" for name, ok in checks) or "-",
            result,
        ])
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    print()
    print(f"Roster SCIM benchmark: {'PostgreSQL' if postgres else 'SQLite'}, {args.workers} gunicorn sync workers per "
          f"server, {args.concurrency} requests in flight ({args.clients} client processes on the same machine), "
          f"{args.duration:g} s per workload after {args.warmup:g} s warm-up; Roster with {args.memberships:,} "
          f"memberships and a {args.group_size:,}-member group; scim2-server with {args.users:,} users and a "
          f"{peer_group:,}-member group; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end.")
    for index, line in enumerate(table):
        print("  ".join(cell.ljust(widths[i]) if i in (0, 10) else cell.rjust(widths[i])
                        for i, cell in enumerate(line)).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))
    print("c: requests in flight. hello: the Flask hello world's GET / in req/s, the same for every row. scim2-srv: "
          "the same workload on scim2-server (page and member PATCH at its own sizes above; its PATCH answers 204).")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "database": "postgresql" if postgres else "sqlite", "hello_rps": hello, "args": vars(args),
            "rows": {k: {"label": v.label, "unit": v.unit, **({"roster": _figures(v.roster)} if v.roster else {}),
                         **({"scim2_server": _figures(v.scim2)} if v.scim2 else {})} for k, v in rows.items()},
        }, indent=2))
    if failed:
        print("Some targets are not met (FAIL above).")


def _figures(result: Result) -> dict[str, Any]:
    return {"rps": round(result.rate, 2), "p50_ms": round(result.percentile(50), 2),
            "p99_ms": round(result.percentile(99), 2), "requests": result.requests, "errors": result.errors,
            "concurrency": result.concurrency}


def run_until_interrupted(run: Callable[[argparse.Namespace], Any], args: argparse.Namespace) -> int:
    """Run a benchmark; Ctrl-C or SIGTERM stop it (the servers' context managers clean up) with status 130."""

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    try:
        run(args)
    except KeyboardInterrupt:
        print("Interrupted: servers stopped.", file=sys.stderr)
        return 130
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL URL (its public schema is dropped and made anew); default a fresh SQLite file")
    parser.add_argument("--users", type=int, default=10_000, help="users of the POST /Users initial sync")
    parser.add_argument("--memberships", type=int, default=100_000, help="memberships for Roster's read workloads")
    parser.add_argument("--group-size", type=int, default=50_000,
                        help="members of Roster's group (scim2-server's group gets a tenth)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers of every server")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per workload")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of each workload not measured")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--clients", type=int, default=2, help="load generator processes")
    parser.add_argument("--max-seconds", type=float, default=900.0,
                        help="bound on the initial sync and the cursor walk")
    parser.add_argument("--skip-peers", action="store_true", help="measure Roster only")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.memberships < args.users or args.group_size > args.memberships:
        parser.error("needs --users ≤ --memberships and --group-size ≤ --memberships")

    return run_until_interrupted(run, args)


if __name__ == "__main__":
    sys.exit(main())
