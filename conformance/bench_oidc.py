"""OpenID Provider benchmark (issue 4): token, userinfo, introspection and sign-in flows next to hello world.

    python conformance/bench_oidc.py [--database-url URL] [--workers 2] [--duration 5] [--concurrency 8]
                                     [--people 400] [--deactivations 20]

1. Roster: ``roster init --json`` then ``roster serve`` on a fresh SQLite file
   (or ``--database-url``; a PostgreSQL database gets its public schema
   dropped and made anew first), a confidential client (``roster client
   create``), ``--people`` members with a password and a confirmed TOTP
   authenticator (through models.members and models.mfa on the server's
   database, as an operator's script would), and one member without a second
   factor whose sign-ins give the token families the workloads start from.
   PostgreSQL is then vacuumed and analysed, as autovacuum leaves it a
   minute after such inserts (:func:`settle`).
2. Workloads, each ``--duration`` seconds after ``--warmup``:
   - ``POST /oauth/token`` with the refresh_token grant. Each refresh rotates
     the token, so every thread follows its own chain: each request sends the
     refresh token the previous one returned.
   - ``GET /oauth/userinfo`` with a bearer access token.
   - ``POST /oauth/introspect`` of access tokens of the families above.
   - whole sign-in flows: authorize → login page → password → TOTP page →
     code → redirect → ``POST /oauth/token`` with the PKCE verifier; each flow
     is a different person (a TOTP time step is accepted once per person).
3. Deprovisioning across instances: a second ``roster serve`` on the same
   database; ``--deactivations`` times, a person provisioned by SCIM ``POST
   /Users`` signs in, the directory sends ``PATCH active=false`` to the first
   instance, and the moment its response arrives the second is asked to
   introspect the person's access token. The target is 0: the first answer
   is already ``active: false`` (the change and the revocation are one
   transaction). A later answer would be timed by polling.
4. The Flask hello world of conformance/bench_scim.py, served the same way
   (gunicorn, ``--workers`` sync workers), ``GET /``.

The load generator is bench_scim.py's (new connection per request, client
processes of threads, on the same machine as the servers); the chained and
flow workloads use the same processes-of-threads shape with their own loop.
Prints one table with req/s (flows/s), p50, p99, the hello-world rate, the
ratio and issue 4's targets (userinfo and introspection ≥ 40% of hello
world; deactivation seen at once on the other instance).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import hashlib
import html
import json
import math
import os
import random
import re
import secrets
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

from conformance import live_server  # noqa: E402
from conformance.bench_scim import (  # noqa: E402
    HOST,
    ROSTER,
    UNLIMITED,
    Result,
    Servers,
    fixed,
    gather,
    gunicorn_argv,
    http,
    load,
    reset_postgres,
    result_of,
    run_until_interrupted,
    wait_until_serving,
)
from conformance.live_server import free_port  # noqa: E402

REDIRECT_URI = "https://rp.example/callback"
PASSWORD = "correct horse battery staple"
SCOPE = "openid profile email offline_access"
FORM = "application/x-www-form-urlencoded"
SCIM_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"

Row = tuple[float, float, int, str]
"""(began, ended, 1 if it succeeded else 0, the error) of one measured unit."""


# ----------------------------------------------------------------- Roster and its data


@dataclasses.dataclass
class Deployment(live_server.Deployment):
    """conformance.live_server's deployment, with the benchmark's client and its servers."""

    client_id: str = ""
    client_secret: str = ""

    CLI_TIMEOUT = 300.0  # roster init on a fresh PostgreSQL schema

    @property
    def env(self) -> dict[str, str]:
        return {**super().env, **UNLIMITED}

    def start(self, servers: Servers, port: int, workers: int, name: str) -> subprocess.Popen[bytes]:
        log = self.workdir / f"{name}.log"
        process = servers.start([str(ROSTER), "serve", "--port", str(port), "--workers", str(workers)],
                                env=self.env, log=log)
        wait_until_serving(port, "/healthz", process, log, 90)
        return process


def deploy(workdir: Path, database_url: str | None) -> Deployment:
    url = database_url or f"sqlite:///{workdir}/roster.sqlite3"
    if url.startswith(("postgres://", "postgresql://")):
        reset_postgres(url)
    port = free_port()
    deployment = Deployment(url, secrets.token_urlsafe(48), f"http://{HOST}:{port}", workdir)
    deployment.init("Bench", "admin@bench.example")
    deployment.client_id, deployment.client_secret = deployment.create_client(REDIRECT_URI, name="Bench app")
    return deployment


def add_people(deployment: Deployment, count: int, *, totp: bool, prefix: str) -> list[tuple[str, str | None]]:
    """``count`` active members with PASSWORD (terms accepted), each with a confirmed TOTP app if ``totp``.

    Returns (email, TOTP secret). The password is hashed once and that hash
    reused (argon2id on purpose costs tens of milliseconds: the benchmark
    measures sign-ins, not this set-up). Each authenticator is
    confirmed with the previous time step's code, so the current step is
    still free for the measured sign-in.
    """
    import pyotp

    from models import Actor, clock, members, mfa
    from models.tenancy import Account, User

    people: list[tuple[str, str | None]] = []
    with contextlib.ExitStack() as stack:
        handed = stack.enter_context(deployment.domain())
        # at the deployment's cost, so the servers verify it as they would any stored hash
        hashed = handed.hasher.hash(PASSWORD)
        stack.enter_context(_patched(handed.hasher, "hash", lambda password: hashed))
        account = Account.get_by_id(deployment.account_id)
        for index in range(count):
            email = f"{prefix}{index:05d}@bench.example"
            added = members.add_user(account, email, given_name="Bench", family_name=f"Person {index}",
                                     password=PASSWORD, by=Actor.cli("bench"), via="cli", deployment=handed)
            user = User.get_by_id(added.user.id)
            User.update(must_change_password=False, terms_accepted_at=clock.now()).where(
                User.id == user.id).execute()
            secret = None
            if totp:
                credential, uri = mfa.begin_totp(user, deployment=handed)
                app = pyotp.parse_uri(uri)
                mfa.confirm_totp(user, credential.id, app.at(time.time() - app.interval), secrets=handed.secrets)
                secret = app.secret
            people.append((email, secret))
    return people


def settle(deployment: Deployment) -> None:
    """Leave PostgreSQL as autovacuum leaves it a minute after the set-up's inserts: vacuumed and analysed.

    Without statistics the planner guesses, and for a few hundred members
    it reads a token's membership through the account's index instead of
    the (user, account) one: a set-up artefact, not what a running
    deployment sees (conformance/bench_scim.py settles its sync the same way).
    """
    from models.database import db, is_postgres

    with deployment.domain():
        if is_postgres():
            db.execute_sql("VACUUM ANALYZE")


@contextlib.contextmanager
def _patched(owner: Any, name: str, value: Any) -> Any:
    original = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, original)


# ----------------------------------------------------------------- a browser and a relying party


class SignInError(RuntimeError):
    pass


class StopUnits(Exception):
    """A thread has no more work (e.g. every person signed in already)."""


def _basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{urllib.parse.quote(client_id)}:{urllib.parse.quote(secret)}".encode()
                                       ).decode()


def sign_in(base: str, client_id: str, client_secret: str, email: str, totp_secret: str | None) -> dict[str, Any]:
    """One whole sign-in as a browser and a relying party do it; the token response.

    authorize → /login (email, password) → /login/mfa (a TOTP code, when the
    person has an app) → authorize → the code at the redirect URI → token
    endpoint with the PKCE verifier. Every step is a request of its own.
    """
    import pyotp
    import requests

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urllib.parse.urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI,
                                    "scope": SCOPE, "state": secrets.token_urlsafe(8),
                                    "nonce": secrets.token_urlsafe(8), "code_challenge": challenge,
                                    "code_challenge_method": "S256"})
    with requests.Session() as browser:
        response = browser.get(f"{base}/oauth/authorize?{query}", allow_redirects=False, timeout=60)
        for _ in range(12):
            location = response.headers.get("Location")
            if response.status_code in (302, 303) and location:
                target = urllib.parse.urljoin(response.url, location)
                if target.startswith(REDIRECT_URI):
                    code = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query).get("code")
                    if not code:
                        raise SignInError(f"no code: {target}")
                    break
                response = browser.get(target, allow_redirects=False, timeout=60)
                continue
            if response.status_code != 200:
                raise SignInError(f"{response.status_code} at {response.url}: {response.text[:300]}")
            page = response.text
            path = urllib.parse.urlsplit(response.url).path
            token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
            nxt = re.search(r'name="next" value="([^"]*)"', page)
            form = {"csrf_token": token.group(1) if token else "", "next": html.unescape(nxt.group(1)) if nxt else ""}
            if path == "/login":
                form.update(email=email, password=PASSWORD)
            elif path == "/login/mfa" and totp_secret:
                form.update(code=pyotp.TOTP(totp_secret).now())
            else:
                raise SignInError(f"unexpected page {path}: {page[:300]}")
            response = browser.post(f"{base}{path}", data=form, allow_redirects=False, timeout=60)
        else:
            raise SignInError("too many steps")
        issued = browser.post(f"{base}/oauth/token", timeout=60, headers={"Authorization": _basic(
            client_id, client_secret)}, data={"grant_type": "authorization_code", "code": code[0],
                                              "redirect_uri": REDIRECT_URI, "code_verifier": verifier})
        if issued.status_code != 200:
            raise SignInError(f"token endpoint answered {issued.status_code}: {issued.text[:300]}")
        return dict(issued.json())


# ----------------------------------------------------------------- loops that chain requests


Unit = Callable[[int, int], None]
"""(slot, n) → None: one measured unit of work by thread ``slot``, the n-th of the run; raises on failure."""


def _unit_thread(unit: Unit, slot: int, stride: int, start: float, stop: float, limit: int, out: list[Row]) -> None:
    time.sleep(max(0.0, start - time.monotonic()))
    for k in range(limit):
        if time.monotonic() >= stop:
            return
        began = time.monotonic()
        try:
            unit(slot, slot + k * stride)
            error = ""
        except StopUnits:
            return
        except Exception as exc:  # noqa: BLE001 - a failed unit is counted and shown, not fatal
            error = f"{type(exc).__name__}: {exc}"[:400]
        out.append((began, time.monotonic(), 0 if error else 1, error))


def _unit_process(unit: Unit, slots: list[int], stride: int, start: float, stop: float, limit: int,
                  conn: Any) -> None:
    outs: list[list[Row]] = [[] for _ in slots]
    threads = [threading.Thread(target=_unit_thread, args=(unit, slot, stride, start, stop, limit, out), daemon=True)
               for slot, out in zip(slots, outs, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(1.0, stop - time.monotonic() + 180))
    conn.send([row for out in outs for row in out])
    conn.close()


def run_units(unit: Unit, *, concurrency: int, clients: int, duration: float, warmup: float,
              limit_per_thread: int = 10**7) -> Result:
    """bench_scim.load's shape for units that are not one fixed request (a chain, a whole flow); counts what ended
    between ``warmup`` and ``warmup + duration``."""
    start = time.monotonic() + 0.3
    stop = start + warmup + duration
    rows: list[Row] = gather(_unit_process, lambda slots: (unit, slots, concurrency, start, stop, limit_per_thread),
                             concurrency=concurrency, clients=clients, stop=stop)
    window_start = start + warmup
    # units that ended in the window: a flow takes seconds, so "began and ended inside" would drop most of them
    measured = [r for r in rows if window_start <= r[1] <= stop]
    return result_of(rows, measured, window_start, stop, concurrency)


# ----------------------------------------------------------------- workloads


def refresh_chains(port: int, auth: str, first_tokens: list[str]) -> Unit:
    """Each thread refreshes its own family: the next request sends the token the last one returned."""
    current = dict(enumerate(first_tokens))
    headers = {"Authorization": auth, "Content-Type": FORM}

    def unit(slot: int, n: int) -> None:
        body = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": current[slot]}).encode()
        status, payload = http(port, "POST", "/oauth/token", body, headers)
        if status != 200:
            raise RuntimeError(f"{status} {payload[:300]!r}")
        current[slot] = json.loads(payload)["refresh_token"]
    return unit


def introspections(tokens: list[str]) -> Callable[[int, random.Random], tuple[str, str, bytes | None]]:
    bodies = [urllib.parse.urlencode({"token": t}).encode() for t in tokens]
    return lambda n, rng: ("POST", "/oauth/introspect", rng.choice(bodies))


def flows(base: str, client_id: str, secret: str, people: list[tuple[str, str | None]]) -> Unit:
    def unit(slot: int, n: int) -> None:
        if n >= len(people):
            raise StopUnits
        email, totp_secret = people[n]
        sign_in(base, client_id, secret, email, totp_secret)
    return unit


@dataclasses.dataclass
class Deactivations:
    tries: int
    immediate: int
    delays_ms: list[float]
    errors: list[str]


def deactivation_tries(deployment: Deployment, first: int, second: int, tries: int) -> Deactivations:
    """SCIM ``PATCH active=false`` on ``first``; introspection on ``second`` the moment the response is in."""
    from models import Actor, invitations
    from models.tenancy import Account

    scim = {"Authorization": f"Bearer {deployment.scim_token}", "Content-Type": "application/scim+json"}
    client = {"Authorization": _basic(deployment.client_id, deployment.client_secret), "Content-Type": FORM}
    found = Deactivations(tries, 0, [], [])
    for index in range(tries):
        email = f"leaver{index:04d}@bench.example"
        status, payload = http(first, "POST", "/scim/v2/Users", json.dumps({
            "schemas": [SCIM_USER], "userName": email, "name": {"givenName": "Lee", "familyName": f"Ver {index}"},
            "emails": [{"value": email, "primary": True}], "active": True}).encode(), scim)
        if status != 201:
            found.errors.append(f"SCIM POST {status} {payload[:200]!r}")
            continue
        scim_id = json.loads(payload)["id"]
        with deployment.domain() as handed:
            account = Account.get_by_id(deployment.account_id)
            link = invitations.link(invitations.find_invitation(account, email), by=Actor.cli("bench"),
                                    deployment=handed)
            invitations.accept(link.rsplit("/", 1)[1], password=PASSWORD, accept_terms=True, hasher=handed.hasher)
        tokens = sign_in(f"http://{HOST}:{first}", deployment.client_id, deployment.client_secret, email, None)
        body = urllib.parse.urlencode({"token": tokens["access_token"]}).encode()
        status, payload = http(second, "POST", "/oauth/introspect", body, client)
        if status != 200 or not json.loads(payload).get("active"):
            found.errors.append(f"not active before: {status} {payload[:200]!r}")
            continue
        patch = json.dumps({"schemas": [PATCH_OP], "Operations": [
            {"op": "replace", "path": "active", "value": False}]}).encode()
        status, payload = http(first, "PATCH", f"/scim/v2/Users/{scim_id}", patch, scim)
        answered = time.monotonic()
        if status not in (200, 204):
            found.errors.append(f"SCIM PATCH {status} {payload[:200]!r}")
            continue
        for attempt in range(1000):
            status, payload = http(second, "POST", "/oauth/introspect", body, client)
            if status == 200 and json.loads(payload).get("active") is False:
                found.immediate += attempt == 0
                found.delays_ms.append(0.0 if attempt == 0 else (time.monotonic() - answered) * 1000)
                break
            time.sleep(0.005)
        else:
            found.errors.append("still active 5 s after the deactivation")
    return found


# ----------------------------------------------------------------- the run


@dataclasses.dataclass
class Measured:
    label: str
    result: Result
    unit: str = "req/s"
    target: float | None = None  # minimum share of the hello-world rate


def run(args: argparse.Namespace) -> None:
    servers = Servers()
    workdir = Path(tempfile.mkdtemp(prefix="bench-oidc-"))
    common = dict(duration=args.duration, warmup=args.warmup, clients=args.clients)
    conc = args.concurrency
    rows: dict[str, Measured] = {}
    hello_rate = math.nan
    deactivations: Deactivations | None = None

    def say(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    def show(key: str, measured: Measured) -> None:
        rows[key] = measured
        r = measured.result
        say(f"  {r.rate:,.1f} {measured.unit}, p50 {r.percentile(50):.1f} ms, p99 {r.percentile(99):.1f} ms"
            + (f", {r.errors} errors: {r.first_error}" if r.errors else ""))

    try:
        say(f"Roster: init + serve ({args.database_url or 'SQLite'}) in {workdir}")
        deployment = deploy(workdir, args.database_url)
        port = int(urllib.parse.urlsplit(deployment.base_url).port or 0)
        deployment.start(servers, port, args.workers, "roster-first")
        base = deployment.base_url
        auth = _basic(deployment.client_id, deployment.client_secret)

        say(f"Set-up: {args.people} people with a password and TOTP, one without a second factor")
        started = time.monotonic()
        people = add_people(deployment, args.people, totp=True, prefix="person")
        (holder, _), = add_people(deployment, 1, totp=False, prefix="holder")
        families = [sign_in(base, deployment.client_id, deployment.client_secret, holder, None)
                    for _ in range(max(conc, 16))]
        settle(deployment)
        say(f"  done in {time.monotonic() - started:.1f} s: {len(families)} token families")

        say("Roster: POST /oauth/token grant_type=refresh_token (a chain per thread)")
        show("refresh", Measured("POST /oauth/token (refresh_token grant, rotated)", run_units(
            refresh_chains(port, auth, [f["refresh_token"] for f in families[:conc]]), concurrency=conc, **common)))

        say("Roster: GET /oauth/userinfo")
        bearer = {"Authorization": f"Bearer {families[-1]['access_token']}"}
        show("userinfo", Measured("GET /oauth/userinfo", load(
            port, bearer, fixed("GET", "/oauth/userinfo"), concurrency=conc, max_requests=10**7, **common),
            target=0.40))

        say("Roster: POST /oauth/introspect")
        live_access = [f["access_token"] for f in families[conc:]] or [families[-1]["access_token"]]
        show("introspect", Measured("POST /oauth/introspect (access token)", load(
            port, {"Authorization": auth, "Content-Type": FORM}, introspections(live_access), concurrency=conc,
            max_requests=10**7, **common), target=0.40))

        say("Roster: whole sign-in flows (code + PKCE, password + TOTP), a different person each")
        show("flows", Measured("sign-in flow: authorize→login→TOTP→code→token (7 requests)", run_units(
            flows(base, deployment.client_id, deployment.client_secret, people), concurrency=conc,
            limit_per_thread=math.ceil(args.people / conc), **common), unit="flows/s"))

        say(f"Roster: a second instance on the same database; {args.deactivations} SCIM deactivations")
        second = free_port()
        deployment.start(servers, second, args.workers, "roster-second")
        deactivations = deactivation_tries(deployment, port, second, args.deactivations)
        say(f"  {deactivations.immediate} of {deactivations.tries} answered active:false at once"
            + (f"; errors: {deactivations.errors[:3]}" if deactivations.errors else ""))
        servers.stop_all()

        hello_port = free_port()
        log = workdir / "hello.log"
        process = servers.start(gunicorn_argv(sys.executable, "conformance.bench_peers.hello:app", hello_port,
                                              args.workers), env=dict(os.environ), log=log)
        wait_until_serving(hello_port, "/", process, log, 60)
        say("hello world: GET /")
        hello = load(hello_port, {}, fixed("GET", "/"), concurrency=conc, max_requests=10**7, **common)
        hello_rate = hello.rate
        say(f"  {hello.rate:,.1f} req/s, p50 {hello.percentile(50):.1f} ms, p99 {hello.percentile(99):.1f} ms")
        rows["hello"] = Measured("GET / (Flask hello world)", hello)
        servers.stop(process)
    finally:
        servers.stop_all()
    report(args, rows, hello_rate, deactivations)


def report(args: argparse.Namespace, rows: dict[str, Measured], hello: float,
           deactivations: Deactivations | None) -> None:
    postgres = bool(args.database_url and args.database_url.startswith(("postgres://", "postgresql://")))
    header = ["workload", "c", "rate", "p50 ms", "p99 ms", "err", "hello", "/hello", "target", "result"]
    table = [header]
    failed = False
    for key, row in rows.items():
        r = row.result
        share = r.rate / hello if hello and not math.isnan(hello) else math.nan
        verdict = "n/a"
        if row.target is not None:
            verdict = "?" if math.isnan(share) else ("PASS" if share >= row.target else "FAIL")
        failed |= verdict == "FAIL"
        table.append([row.label, str(r.concurrency), f"{r.rate:,.1f} {row.unit}", f"{r.percentile(50):.1f}",
                      f"{r.percentile(99):.1f}", str(r.errors), "-" if key == "hello" else f"{hello:,.0f}",
                      "-" if key == "hello" or math.isnan(share) else f"{share:.1%}",
                      f"≥{row.target:.0%} hello" if row.target is not None else "-", verdict])
    if deactivations is not None:
        ok = deactivations.immediate == deactivations.tries and not deactivations.errors
        failed |= not ok
        worst = max(deactivations.delays_ms, default=math.nan)
        table.append(["SCIM deactivate → introspection on the other instance", "1",
                      f"{deactivations.immediate}/{deactivations.tries} at once", "-",
                      f"max {worst:.0f}" if not math.isnan(worst) else "-", str(len(deactivations.errors)), "-", "-",
                      "0 ms (next request)", "PASS" if ok else "FAIL"])
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    print()
    print(f"Roster OpenID Provider benchmark: {'PostgreSQL' if postgres else 'SQLite'}, {args.workers} gunicorn sync "
          f"workers per server, {args.concurrency} in flight ({args.clients} client processes on the same machine), "
          f"{args.duration:g} s per workload after {args.warmup:g} s warm-up; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f} at the end.")
    for index, line in enumerate(table):
        print("  ".join(cell.ljust(widths[i]) if i in (0, 8) else cell.rjust(widths[i])
                        for i, cell in enumerate(line)).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))
    print("rate: completed units per second in the window (a flow is 7 requests and one argon2id check). hello: the "
          "Flask hello world's GET / measured in the same run. Deactivation: the first introspection after the SCIM "
          "response already said active:false in how many tries (max: ms until it did).")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "database": "postgresql" if postgres else "sqlite", "hello_rps": hello, "args": vars(args),
            "rows": {k: {"label": v.label, "unit": v.unit, "rate": round(v.result.rate, 2),
                         "p50_ms": round(v.result.percentile(50), 2), "p99_ms": round(v.result.percentile(99), 2),
                         "errors": v.result.errors} for k, v in rows.items()},
            "deactivations": dataclasses.asdict(deactivations) if deactivations else None,
        }, indent=2))
    if failed:
        print("Some targets are not met (FAIL above).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL URL (its public schema is dropped and made anew); default a fresh SQLite file")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers of every server")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured per workload")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of each workload not measured")
    parser.add_argument("--concurrency", type=int, default=8, help="requests (or chains, or flows) in flight")
    parser.add_argument("--clients", type=int, default=2, help="load generator processes")
    parser.add_argument("--people", type=int, default=400,
                        help="people with TOTP, one per sign-in flow (a time step is accepted once per person)")
    parser.add_argument("--deactivations", type=int, default=20, help="SCIM deactivations timed across instances")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)

    return run_until_interrupted(run, args)


if __name__ == "__main__":
    sys.exit(main())
