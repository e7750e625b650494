"""Enterprise SSO benchmark: whole sign-ins through an account's OIDC and SAML IdP beside password sign-ins.

    python conformance/bench_sso.py [--database-url URL] [--workers 2] [--duration 10] [--concurrency 8]
                                    [--people 32] [--alone 20] [--json FILE]

1. Roster: ``roster init --json`` then ``roster serve`` on a fresh SQLite file
   (or ``--database-url``; a PostgreSQL database gets its public schema
   dropped and made anew first), as conformance/bench_oidc.py deploys it.
   The real upstream IdPs run on loopback: Node's oidc-provider
   (tests/idp/oidc_idp.py) and pysaml2's IdP (tests/idp/saml_idp_fixture.py).
2. Set-up on the server's database, through models.* as an operator's script
   would: ``--people`` password members of the ``roster init`` account (terms
   accepted, bench_oidc.add_people) with its confidential client; and two
   more accounts, one per protocol, each with a verified domain (inserted
   verified: DNS verification is tested elsewhere), its own confidential
   first-party client and one enabled connection with JIT. The OIDC
   connection's redirect URI is registered at oidc-provider; the SAML IdP is
   given the SP metadata the live server serves. Then each of ``--people``
   SSO people per protocol signs in once: JIT makes the person and links the
   upstream identity, the sign-in stops at the terms page, and the terms are
   then marked accepted in the database, so the measured sign-ins are those
   of returning people with no page in between.
3. Workloads, each ``--duration`` seconds after ``--warmup``, a
   ``requests.Session`` per flow (a browser: Roster binds the round trip to
   its ``roster_sso`` cookie and the sign-in to its session cookie):
   - password: authorize (code + PKCE) → /login → email and password posted
     together → authorize → code → ``POST /oauth/token``;
   - OIDC: authorize → /login → the email alone (Roster redirects to
     /sso/<id>/start) → oidc-provider's authorization, login form and resume
     → Roster's redirect URI (models.connections.urls) → authorize → code
     → token;
   - SAML: authorize → /login → the email → /sso/<id>/start → the IdP's
     /sso page and login form → ``POST /sso/saml/<id>/acs`` →
     ``GET /sso/<id>/complete`` → authorize → code → token.
   Each flow ends with the relying party's token response, whose ID token's
   ``amr`` must say how the person signed in (``pwd``, or ``fed``).
4. The Flask hello world of conformance/bench_scim.py, ``GET /``.

Before them, ``--alone`` flows of each kind run one at a time, the kinds
taking turns. An SSO flow's wall time includes the IdP's own pages, so the
table gives Roster's share of each flow: the time of the requests to Roster
within the flow, summed per flow (each redirect hop timed once; p50/p99),
under the load and one flow at a time (nothing queues: Roster's own
service time, with a breakdown by request), and the CPU time the Roster
server processes (gunicorn master, workers and their xmlsec1 children,
from /proc) and the IdP's spent per flow during the workload. Roster's
time includes what it waits for inside its own requests: the back-channel
code exchange at the IdP's token endpoint (OIDC) and xmlsec1's signature
check (SAML). Under load an SSO flow spends part of its time at the IdP,
so fewer of them queue at Roster at once: the one-at-a-time time and the
CPU per flow are the fair comparisons. The issue's target ("an SSO
sign-in costs no more than a password sign-in: Roster does no password
hash in it") is judged on both; the end-to-end rate is shown beside them.

Everything shares this machine: the servers, both IdPs and the load
generator (client processes of threads, as in bench_oidc.py).
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import html
import json
import math
import os
import re
import secrets
import statistics
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

import requests  # noqa: E402

from conformance.bench_oidc import (  # noqa: E402
    PASSWORD,
    REDIRECT_URI,
    SCOPE,
    Deployment,
    SignInError,
    add_people,
    deploy,
    settle,
)
from conformance.bench_scim import (  # noqa: E402
    Result,
    Servers,
    fixed,
    gather,
    gunicorn_argv,
    load,
    result_of,
    run_until_interrupted,
    wait_until_serving,
)
from conformance.live_server import free_port  # noqa: E402
from tests.idp.oidc_idp import OidcIdp  # noqa: E402
from tests.idp.saml_idp_fixture import SamlIdp  # noqa: E402

OIDC_DOMAIN = "oidc-corp.example"
SAML_DOMAIN = "saml-corp.example"
TIMEOUT = 60.0
MAX_STEPS = 12
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')
NEXT = re.compile(r'name="next" value="([^"]*)"')
ID = re.compile(r"[0-9a-f]{32}")  # models.fields.IdField

Row = tuple[float, float, int, str, float, int]
"""(began, ended, 1 if it succeeded else 0, the error, seconds of the requests to Roster, requests to Roster)."""


# ----------------------------------------------------------------- a browser, a relying party, an IdP


class FirstLogin(SignInError):
    """Roster showed its first-login page (R8): the sign-in of a person whose terms are not accepted yet."""


class Browser(requests.Session):
    """A browser for one flow: its cookies, and the time its requests to Roster took, by kind of request.

    Each HTTP exchange is counted once: a request that follows redirects
    leaves the hops' time to the hops (they come back through ``send``).
    """

    def __init__(self, roster: str) -> None:
        super().__init__()
        self.roster = roster.rstrip("/") + "/"
        self.roster_seconds = 0.0
        self.roster_requests = 0
        self.steps: dict[str, list[float]] = {}  # "GET /login" → the seconds of each such request
        self._inner = 0.0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        outer, self._inner = self._inner, 0.0
        started = time.perf_counter()
        try:
            return super().send(request, **kwargs)
        finally:
            spent = time.perf_counter() - started
            url = str(request.url)
            if url.startswith(self.roster):
                own = spent - self._inner
                self.roster_seconds += own
                self.roster_requests += 1
                self.steps.setdefault(f"{request.method} {_step(url)}", []).append(own)
            self._inner = outer + spent


def _step(url: str) -> str:
    """The kind of a request to Roster: its path, with a connection's id left out."""
    return "/".join("<id>" if ID.fullmatch(part) else part for part in urllib.parse.urlsplit(url).path.split("/"))


@dataclasses.dataclass(frozen=True)
class RelyingParty:
    """A confidential client of one account, whose redirect URI the bench catches without following."""

    base: str
    client_id: str
    client_secret: str


Upstream = Callable[[Browser, str, str], requests.Response]
"""(browser, the IdP URL Roster sent it to, email) → Roster's response to what the IdP sent back."""


def oidc_upstream(idp: OidcIdp) -> Upstream:
    def through(browser: Browser, url: str, email: str) -> requests.Response:
        back = idp.login(browser, url, email)  # authorization → interaction → login form → resume
        return browser.get(back, allow_redirects=False, timeout=TIMEOUT)
    return through


def saml_upstream(idp: SamlIdp) -> Upstream:
    def through(browser: Browser, url: str, email: str) -> requests.Response:
        acs_url, fields = idp.login(browser, url, email)  # the IdP's page, then its auto-post form
        return browser.post(acs_url, data=fields, allow_redirects=False, timeout=TIMEOUT)
    return through


def _claims(id_token: str) -> dict[str, Any]:
    # only read: Roster's own tests check its signatures; here it tells how the person signed in
    payload = id_token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def sign_in(browser: Browser, rp: RelyingParty, email: str, *, password: str | None = None,
            upstream: Upstream | None = None) -> dict[str, Any]:
    """One whole sign-in: authorize with PKCE, Roster's /login, the password or the IdP, the code, the token.

    With ``upstream`` the login page gets the email alone and Roster sends
    the browser to the account's IdP; without it the email and ``password``
    are posted together. Any other page of Roster is an error (FirstLogin
    for R8's).
    """
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urllib.parse.urlencode({"response_type": "code", "client_id": rp.client_id, "redirect_uri": REDIRECT_URI,
                                    "scope": SCOPE, "state": secrets.token_urlsafe(8),
                                    "nonce": secrets.token_urlsafe(8), "code_challenge": challenge,
                                    "code_challenge_method": "S256"})
    response = browser.get(f"{rp.base}/oauth/authorize?{query}", allow_redirects=False, timeout=TIMEOUT)
    for _ in range(MAX_STEPS):
        location = response.headers.get("Location")
        if response.status_code in (302, 303) and location:
            target = urllib.parse.urljoin(response.url, location)
            if target.startswith(REDIRECT_URI):
                code = urllib.parse.parse_qs(urllib.parse.urlsplit(target).query).get("code")
                if not code:
                    raise SignInError(f"no code: {target}")
                break
            if not target.startswith(browser.roster):
                if upstream is None:
                    raise SignInError(f"a password sign-in was sent away from Roster, to {target}")
                response = upstream(browser, target, email)
            else:
                response = browser.get(target, allow_redirects=False, timeout=TIMEOUT)
            continue
        path = urllib.parse.urlsplit(response.url).path
        if response.status_code == 200 and path == "/login/first":
            raise FirstLogin(f"the first-login page for {email}")
        if response.status_code != 200 or path != "/login":
            raise SignInError(f"{response.status_code} at {response.url}: {response.text[:300]}")
        token, after = CSRF.search(response.text), NEXT.search(response.text)
        form = {"csrf_token": token.group(1) if token else "", "next": html.unescape(after.group(1)) if after else "",
                "email": email}
        if upstream is None:
            form["password"] = password or ""
        response = browser.post(f"{rp.base}/login", data=form, allow_redirects=False, timeout=TIMEOUT)
    else:
        raise SignInError(f"more than {MAX_STEPS} steps")
    issued = browser.post(f"{rp.base}/oauth/token", auth=(rp.client_id, rp.client_secret), timeout=TIMEOUT,
                          data={"grant_type": "authorization_code", "code": code[0], "redirect_uri": REDIRECT_URI,
                                "code_verifier": verifier})
    if issued.status_code != 200:
        raise SignInError(f"the token endpoint answered {issued.status_code}: {issued.text[:300]}")
    tokens = dict(issued.json())
    amr = _claims(tokens["id_token"]).get("amr") or []
    if ("fed" in amr) != (upstream is not None):
        raise SignInError(f"the ID token's amr is {amr} for a {'federated' if upstream else 'password'} sign-in")
    return tokens


# ----------------------------------------------------------------- CPU time of a process tree


def cpu_seconds(root: int) -> float:
    """User and system CPU seconds of ``root`` and its descendants, with their reaped children's (Linux /proc).

    A worker that exits hands its time to its parent's reaped-children
    count, so the sum over the tree only grows. NaN without /proc.
    """
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    spent: dict[int, float] = {}
    with contextlib.suppress(OSError):
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                # the command name may hold spaces and parentheses: the fields start after its last ")"
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # ended meanwhile
            pid = int(entry.name)
            children.setdefault(int(fields[1]), []).append(pid)
            spent[pid] = sum(int(f) for f in fields[11:15]) / tick  # utime, stime, cutime, cstime
    if root not in spent:
        return math.nan
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += spent.get(pid, 0.0)
        todo.extend(children.get(pid, []))
    return total


# ----------------------------------------------------------------- flows from threads in client processes


Flow = Callable[[Browser, int], None]
"""(browser, n) → None: the n-th flow of the run, in a new browser; raises on failure."""


def _flow_thread(flow: Flow, base: str, slot: int, stride: int, start: float, stop: float, out: list[Row]) -> None:
    time.sleep(max(0.0, start - time.monotonic()))
    k = 0
    while time.monotonic() < stop:
        began = time.monotonic()
        with Browser(base) as browser:
            try:
                flow(browser, slot + k * stride)
                error = ""
            except Exception as exc:  # noqa: BLE001 - a failed flow is counted and shown, not fatal
                error = f"{type(exc).__name__}: {exc}"[:400]
            out.append((began, time.monotonic(), 0 if error else 1, error, browser.roster_seconds,
                        browser.roster_requests))
        k += 1


def _flow_process(flow: Flow, base: str, slots: list[int], stride: int, start: float, stop: float,
                  conn: Any) -> None:
    outs: list[list[Row]] = [[] for _ in slots]
    threads = [threading.Thread(target=_flow_thread, args=(flow, base, slot, stride, start, stop, out), daemon=True)
               for slot, out in zip(slots, outs, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=max(1.0, stop - time.monotonic() + 180))
    conn.send([row for out in outs for row in out])
    conn.close()


@dataclasses.dataclass
class Measured:
    """A workload's figures: the whole flows, Roster's share of them, CPU per flow (ms)."""

    label: str
    result: Result
    roster: Result | None = None
    roster_requests: float = math.nan  # per flow, median
    roster_cpu_ms: float = math.nan
    idp_cpu_ms: float = math.nan
    unit: str = "flows/s"
    alone: Alone | None = None


def run_flows(label: str, flow: Flow, base: str, *, roster_pid: int, idp_pid: int | None, concurrency: int,
              clients: int, duration: float, warmup: float) -> Measured:
    """``flow`` from ``concurrency`` threads over ``clients`` processes; counts the flows that ended between
    ``warmup`` and ``warmup + duration`` (a flow takes long enough that "began inside" would drop many).

    CPU per flow is over every flow of the workload, warm-up included, as the processes' CPU time is.
    """
    start = time.monotonic() + 0.3
    stop = start + warmup + duration
    cpu_before = (cpu_seconds(roster_pid), cpu_seconds(idp_pid) if idp_pid else math.nan)
    rows: list[Row] = gather(_flow_process, lambda slots: (flow, base, slots, concurrency, start, stop),
                             concurrency=concurrency, clients=clients, stop=stop)
    cpu_after = (cpu_seconds(roster_pid), cpu_seconds(idp_pid) if idp_pid else math.nan)
    window_start = start + warmup
    measured = [r for r in rows if window_start <= r[1] <= stop]
    whole = result_of([r[:4] for r in rows], [r[:4] for r in measured], window_start, stop, concurrency)
    ok = [r for r in measured if r[2]]
    roster = dataclasses.replace(whole, latencies=[r[4] for r in ok])
    flows = max(1, len(rows))
    counts = sorted(r[5] for r in ok)
    return Measured(label, whole, roster, counts[len(counts) // 2] if counts else math.nan,
                    (cpu_after[0] - cpu_before[0]) * 1000 / flows, (cpu_after[1] - cpu_before[1]) * 1000 / flows)


@dataclasses.dataclass
class Alone:
    """Flows of a workload run one at a time: nothing queues, so Roster's time is its own service time."""

    roster: list[float] = dataclasses.field(default_factory=list)  # seconds at Roster per flow
    wall: list[float] = dataclasses.field(default_factory=list)
    steps: dict[str, list[float]] = dataclasses.field(default_factory=dict)  # kind → seconds per flow, summed
    errors: list[str] = dataclasses.field(default_factory=list)

    def result(self) -> Result:
        return Result(len(self.roster), len(self.errors), sum(self.wall), list(self.roster),
                      self.errors[0] if self.errors else "", 1)

    def step_p50_ms(self) -> dict[str, float]:
        return {kind: statistics.median(seconds) * 1000 for kind, seconds in self.steps.items()}


def one_at_a_time(flows: dict[str, Flow], base: str, count: int) -> dict[str, Alone]:
    """``count`` flows of each workload, one at a time, the workloads taking turns (a change in the machine's
    load, which it shares, then touches them alike)."""
    found = {key: Alone() for key in flows}
    for n in range(count):
        for key, flow in flows.items():
            alone = found[key]
            with Browser(base) as browser:
                began = time.perf_counter()
                try:
                    flow(browser, n)
                except Exception as exc:  # noqa: BLE001 - counted and shown
                    alone.errors.append(f"{type(exc).__name__}: {exc}"[:400])
                    continue
                alone.wall.append(time.perf_counter() - began)
                alone.roster.append(browser.roster_seconds)
                for kind, seconds in browser.steps.items():
                    label = kind if len(seconds) == 1 else f"{kind} ×{len(seconds)}"
                    alone.steps.setdefault(label, []).append(sum(seconds))
    return found


# ----------------------------------------------------------------- the set-up


@dataclasses.dataclass
class SsoAccount:
    """An account with a verified domain, a client of its own and one enabled connection."""

    account_id: str
    rp: RelyingParty
    connection_id: str
    domain: str

    def person(self, n: int) -> str:
        return f"person{n:05d}@{self.domain}"


def _sso_account(deployment: Deployment, name: str, domain: str) -> tuple[Any, RelyingParty]:
    """A new account with a verified ``domain`` and a confidential first-party client; (account, client)."""
    from models import Actor, clients, clock
    from models.accounts import create_account
    from models.federation import Domain

    by = Actor.cli("bench")
    account = create_account(name, "vendor", by=by)
    now = clock.now()
    # verified as the DNS check would leave it (that check is tests/models/test_domains.py's)
    Domain.create(account=account.id, name=domain, token=secrets.token_urlsafe(24), status="verified",
                  verified_name=domain, verified_at=now, checked_at=now)
    client, secret = clients.create_client(account, redirect_uris=[REDIRECT_URI], name=f"{name} app", by=by)
    assert secret is not None
    return account, RelyingParty(deployment.base_url, client.client_id, secret)


def oidc_account(deployment: Deployment, idp: OidcIdp) -> SsoAccount:
    """The OIDC account; its connection's client registered at oidc-provider with Roster's redirect URI."""
    from models import Actor, connections

    by = Actor.cli("bench")
    with deployment.domain() as handed:
        account, rp = _sso_account(deployment, "Bench OIDC", OIDC_DOMAIN)
        connection = connections.create_oidc(account, issuer=idp.issuer, client_id="pending", client_secret="pending",
                                             secrets=handed.secrets, name="Bench oidc-provider", by=by)
        redirect_uri = connections.urls(connection, handed.settings).redirect_uri
        client_id, client_secret = idp.register_client([redirect_uri])
        connections.update(connection, by=by, secrets=handed.secrets, client_id=client_id,
                           client_secret=client_secret, enabled=True, jit=True)
    return SsoAccount(account.id, rp, connection.id, OIDC_DOMAIN)


def saml_account(deployment: Deployment, idp: SamlIdp) -> SsoAccount:
    """The SAML account; the IdP trusts the SP metadata the live server serves for its connection."""
    from models import Actor, connections

    by = Actor.cli("bench")
    with deployment.domain():
        account, rp = _sso_account(deployment, "Bench SAML", SAML_DOMAIN)
        connection = connections.create_saml(account, metadata_xml=idp.metadata_xml(), name="Bench pysaml2", by=by)
    metadata = requests.get(f"{deployment.base_url}/sso/saml/{connection.id}/metadata", timeout=TIMEOUT)
    if metadata.status_code != 200:
        raise RuntimeError(f"Roster's SP metadata: {metadata.status_code} {metadata.text[:300]}")
    idp.add_sp(metadata.text)
    with deployment.domain():
        connections.update(connection, by=by, enabled=True, jit=True)
    return SsoAccount(account.id, rp, connection.id, SAML_DOMAIN)


def first_sign_ins(deployment: Deployment, sso: SsoAccount, upstream: Upstream, people: int,
                   concurrency: int) -> None:
    """Each person's first sign-in (JIT makes them, the identity is linked), then their terms accepted."""
    from models import clock
    from models.tenancy import User

    def once(n: int) -> None:
        with Browser(deployment.base_url) as browser, contextlib.suppress(FirstLogin):
            sign_in(browser, sso.rp, sso.person(n), upstream=upstream)

    with concurrent.futures.ThreadPoolExecutor(max_workers=concurrency) as pool:
        list(pool.map(once, range(people)))
    with deployment.domain():
        emails = [sso.person(n) for n in range(people)]
        made = User.update(terms_accepted_at=clock.now()).where(User.email_key.in_(emails)).execute()
    if made != people:
        raise RuntimeError(f"{made} of {people} people of {sso.domain} were made by their first sign-in")


# ----------------------------------------------------------------- the run


def run(args: argparse.Namespace) -> None:
    servers = Servers()
    workdir = Path(tempfile.mkdtemp(prefix="bench-sso-"))
    conc = args.concurrency
    common: dict[str, Any] = dict(concurrency=conc, clients=args.clients, duration=args.duration,
                                  warmup=args.warmup)
    rows: dict[str, Measured] = {}
    oidc_idp = OidcIdp(workdir)
    saml_idp = SamlIdp(workdir)

    def say(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    def show(key: str, measured: Measured) -> None:
        rows[key] = measured
        r, own = measured.result, measured.roster
        say(f"  {r.rate:,.1f} {measured.unit}, p50 {r.percentile(50):.1f} ms, p99 {r.percentile(99):.1f} ms"
            + (f"; at Roster p50 {own.percentile(50):.1f} ms, p99 {own.percentile(99):.1f} ms" if own else "")
            + (f"; Roster CPU {measured.roster_cpu_ms:.1f} ms/flow" if not math.isnan(measured.roster_cpu_ms) else "")
            + (f", IdP CPU {measured.idp_cpu_ms:.1f} ms/flow" if not math.isnan(measured.idp_cpu_ms) else "")
            + (f"; {r.errors} errors: {r.first_error}" if r.errors else ""))

    with contextlib.ExitStack() as stack:
        stack.callback(servers.stop_all)
        say(f"Roster: init + serve ({args.database_url or 'SQLite'}) in {workdir}")
        deployment = deploy(workdir, args.database_url)
        port = int(urllib.parse.urlsplit(deployment.base_url).port or 0)
        roster = deployment.start(servers, port, args.workers, "roster")
        base = deployment.base_url

        say("IdPs: oidc-provider (Node) and pysaml2, on loopback")
        stack.callback(oidc_idp.stop)
        oidc_idp.start()
        stack.callback(saml_idp.stop)
        saml_idp.start()
        # OidcIdp keeps its process to itself; its pid is only read, for the CPU time
        assert oidc_idp._process is not None and saml_idp.process is not None
        oidc_pid, saml_pid = oidc_idp._process.pid, saml_idp.process.pid

        say(f"Set-up: {args.people} password people; an OIDC and a SAML account, {args.people} SSO people each")
        started = time.monotonic()
        people = [email for email, _ in add_people(deployment, args.people, totp=False, prefix="pw")]
        password_rp = RelyingParty(base, deployment.client_id, deployment.client_secret)
        oidc, saml = oidc_account(deployment, oidc_idp), saml_account(deployment, saml_idp)
        through_oidc, through_saml = oidc_upstream(oidc_idp), saml_upstream(saml_idp)
        first_sign_ins(deployment, oidc, through_oidc, args.people, conc)
        first_sign_ins(deployment, saml, through_saml, args.people, conc)
        settle(deployment)
        say(f"  done in {time.monotonic() - started:.1f} s")

        def password_flow(browser: Browser, n: int) -> None:
            sign_in(browser, password_rp, people[n % len(people)], password=PASSWORD)

        def sso_flow(sso: SsoAccount, upstream: Upstream) -> Flow:
            def flow(browser: Browser, n: int) -> None:
                sign_in(browser, sso.rp, sso.person(n % args.people), upstream=upstream)
            return flow

        flows = {"password": password_flow, "oidc": sso_flow(oidc, through_oidc),
                 "saml": sso_flow(saml, through_saml)}
        say(f"{args.alone} flows of each kind one at a time, taking turns: Roster's time without queueing")
        alone = one_at_a_time(flows, base, args.alone)
        for key, found in alone.items():
            figures = found.result()
            say(f"  {key}: at Roster p50 {figures.percentile(50):.1f} ms, p99 {figures.percentile(99):.1f} ms"
                + (f"; {figures.errors} errors: {figures.first_error}" if figures.errors else ""))

        say("password sign-ins: authorize → /login (email + password) → code → token")
        show("password", run_flows("password: authorize→login→code→token", password_flow, base,
                                   roster_pid=roster.pid, idp_pid=None, **common))
        say("OIDC sign-ins: authorize → /login (email) → oidc-provider → callback → code → token")
        show("oidc", run_flows("upstream OIDC (oidc-provider)", flows["oidc"], base,
                               roster_pid=roster.pid, idp_pid=oidc_pid, **common))
        say("SAML sign-ins: authorize → /login (email) → pysaml2 IdP → ACS → complete → code → token")
        show("saml", run_flows("upstream SAML (pysaml2)", flows["saml"], base,
                               roster_pid=roster.pid, idp_pid=saml_pid, **common))
        for key, found in alone.items():
            rows[key].alone = found
        servers.stop_all()
        oidc_idp.stop()
        saml_idp.stop()

        hello_port = free_port()
        log = workdir / "hello.log"
        process = servers.start(gunicorn_argv(sys.executable, "conformance.bench_peers.hello:app", hello_port,
                                              args.workers), env=dict(os.environ), log=log)
        wait_until_serving(hello_port, "/", process, log, 60)
        say("hello world: GET /")
        hello = load(hello_port, {}, fixed("GET", "/"), max_requests=10**7, **common)
        show("hello", Measured("GET / (Flask hello world)", hello, unit="req/s"))
    report(args, rows)


def _ratio(value: float, reference: float) -> str:
    return "-" if math.isnan(value) or math.isnan(reference) or not reference else f"{value / reference:.2f}×"


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def report(args: argparse.Namespace, rows: dict[str, Measured]) -> None:
    postgres = bool(args.database_url and args.database_url.startswith(("postgres://", "postgresql://")))
    password = rows["password"]
    pwd_rate = password.result.rate
    pwd_alone = password.alone.result().percentile(50) if password.alone else math.nan
    header = ["workload", "c", "rate", "p50 ms", "p99 ms", "err", "at Roster p50", "p99", "alone p50", "p99", "req",
              "Roster CPU", "IdP CPU", "rate/pwd", "alone/pwd", "CPU/pwd"]
    table = [header]
    for key, row in rows.items():
        r, own = row.result, row.roster
        alone = row.alone.result() if row.alone else None
        table.append([row.label, str(r.concurrency), f"{r.rate:,.1f} {row.unit}", _ms(r.percentile(50)),
                      _ms(r.percentile(99)), str(r.errors + (alone.errors if alone else 0)),
                      _ms(own.percentile(50)) if own else "-", _ms(own.percentile(99)) if own else "-",
                      _ms(alone.percentile(50)) if alone else "-", _ms(alone.percentile(99)) if alone else "-",
                      "-" if math.isnan(row.roster_requests) else f"{row.roster_requests:g}", _ms(row.roster_cpu_ms),
                      _ms(row.idp_cpu_ms), "-" if key == "hello" else _ratio(r.rate, pwd_rate),
                      _ratio(alone.percentile(50), pwd_alone) if alone else "-",
                      _ratio(row.roster_cpu_ms, password.roster_cpu_ms)])
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    print()
    print(f"Roster enterprise SSO benchmark: {'PostgreSQL' if postgres else 'SQLite'}, {args.workers} gunicorn sync "
          f"workers, {args.concurrency} flows in flight ({args.clients} client processes on the same machine), "
          f"{args.duration:g} s per workload after {args.warmup:g} s warm-up, {args.people} people per workload, "
          f"{args.alone} flows of each one at a time; {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.2f} at the end.")
    for index, line in enumerate(table):
        print("  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(line))
              .rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))
    print("rate: whole flows (or hello-world requests) completed per second in the window; p50/p99: a flow's wall "
          "time, the IdP's pages included. at Roster: the requests to Roster within a flow, summed (ms), under the "
          "load; alone: the same with one flow at a time (no queueing: Roster's own time); req: requests to Roster "
          "per flow. CPU: ms of CPU per flow of the Roster server processes (xmlsec1 included) and of the IdP. "
          "/pwd: against the password sign-ins measured in the same run.")
    print("Roster's time by request, one flow at a time (p50 ms; ×2: two such requests, summed):")
    for row in rows.values():
        if row.alone is not None:
            steps = ", ".join(f"{kind} {ms:.1f}" for kind, ms in row.alone.step_p50_ms().items())
            print(f"  {row.label}: {steps}")
    verdicts = []
    for key in ("oidc", "saml"):
        sso = rows.get(key)
        if sso is None or sso.alone is None or sso.roster is None:
            continue
        own, loaded = sso.alone.result(), sso.roster.percentile(50)
        by_time = own.percentile(50) <= pwd_alone and not own.errors and not sso.result.errors
        by_cpu = sso.roster_cpu_ms <= password.roster_cpu_ms
        verdicts += [by_time, by_cpu]
        print(f"Target, {sso.label}: Roster's own time per sign-in p50 {own.percentile(50):.1f} ms vs password "
              f"{pwd_alone:.1f} ms ({_ratio(own.percentile(50), pwd_alone)}) → {'PASS' if by_time else 'FAIL'}; "
              f"its CPU {sso.roster_cpu_ms:.1f} vs {password.roster_cpu_ms:.1f} ms "
              f"({_ratio(sso.roster_cpu_ms, password.roster_cpu_ms)}) → {'PASS' if by_cpu else 'FAIL'}; under load "
              f"{_ratio(loaded, password.roster.percentile(50) if password.roster else math.nan)} the password "
              f"sign-ins' time at Roster and, IdP included, {_ratio(sso.result.rate, pwd_rate)} their rate.")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "database": "postgresql" if postgres else "sqlite", "args": vars(args),
            "rows": {k: _figures(v) for k, v in rows.items()}, "targets_met": all(verdicts),
        }, indent=2))
    if not all(verdicts):
        print("The target is not met (FAIL above).")


def _figures(row: Measured) -> dict[str, Any]:
    def rounded(value: float) -> float | None:
        return None if math.isnan(value) else round(value, 2)

    alone = row.alone.result() if row.alone else None
    return {"label": row.label, "unit": row.unit, "rate": rounded(row.result.rate),
            "p50_ms": rounded(row.result.percentile(50)), "p99_ms": rounded(row.result.percentile(99)),
            "errors": row.result.errors + (alone.errors if alone else 0),
            "roster_p50_ms": rounded(row.roster.percentile(50)) if row.roster else None,
            "roster_p99_ms": rounded(row.roster.percentile(99)) if row.roster else None,
            "alone_roster_p50_ms": rounded(alone.percentile(50)) if alone else None,
            "alone_roster_p99_ms": rounded(alone.percentile(99)) if alone else None,
            "alone_steps_p50_ms": {k: round(v, 2) for k, v in row.alone.step_p50_ms().items()} if row.alone else None,
            "roster_cpu_ms": rounded(row.roster_cpu_ms), "idp_cpu_ms": rounded(row.idp_cpu_ms)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL URL (its public schema is dropped and made anew); default a fresh SQLite file")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers of every server")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per workload")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of each workload not measured")
    parser.add_argument("--concurrency", type=int, default=8, help="flows (or hello-world requests) in flight")
    parser.add_argument("--clients", type=int, default=2, help="load generator processes")
    parser.add_argument("--people", type=int, default=32, help="people per workload, signing in in turn")
    parser.add_argument("--alone", type=int, default=20, help="flows of each workload timed one at a time")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.people < 1 or args.concurrency < 1 or args.alone < 1:
        parser.error("needs --people, --concurrency and --alone ≥ 1")
    return run_until_interrupted(run, args)


if __name__ == "__main__":
    sys.exit(main())
