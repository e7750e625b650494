"""SCIM query benchmark (issue 11, "No slow query"): every sortBy and every filter operator class, p50/p99.

    python conformance/bench_scim_queries.py [--database-url URL] [--memberships 10000,100000]
                                             [--samples 30] [--count 100] [--workers 2] [--json FILE]
                                             [--only sortBy,totalResults]

A live ``roster serve`` (conformance/bench_scim.py's ``start_roster``: a fresh
SQLite file, or ``--database-url`` whose public schema is dropped first) gets
one User by ``POST /Users`` — two emails (a home one first, the primary work
one second), a phone number, a title, the enterprise extension — and a group;
bench_scim's ``seed_roster`` then grows the account by bulk inserts to each
``--memberships`` size in turn, copies of that User with their own numbers.
At each size, every query below is sent ``--samples`` times one after the
other (after one unmeasured request), each on a new connection, asking for a
page of ``--count``: latency, not throughput. Queries are every attribute
``sortBy`` accepts, both orders for the multi-valued and boolean ones, and
each filter operator (eq, ne, co, sw, ew, gt, ge, lt, le, pr, not, and, or,
a value path) on a multi-valued attribute, with columns of the record too.

A Flask hello world (conformance/bench_peers/hello.py) served the same way
is measured at each size too, as the table's first row: the floor.

Prints one table: per query, p50 and p99 at each size, the ratio of the
largest size's p50 to the smallest's, and issue 11's target at the smallest
size (p99 under 100 ms). ``--json FILE`` writes the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from conformance.bench_peers.data import user_document  # noqa: E402
from conformance.bench_scim import (  # noqa: E402
    Client,
    Result,
    Servers,
    gunicorn_argv,
    http,
    quote,
    run_until_interrupted,
    seed_roster,
    start_roster,
    wait_until_serving,
)
from conformance.live_server import free_port  # noqa: E402

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
TARGET_MS = 100.0
HELLO = "Flask hello world GET / (the floor)"

SORTS = [
    "id", "userName", "externalId", "meta.created", "meta.lastModified", "active", "emails", "emails.value",
    "emails.type", "emails.primary", "phoneNumbers", "phoneNumbers.value", "phoneNumbers.type",
    "phoneNumbers.primary", "name.givenName", "name.familyName", "name.formatted", "displayName", "nickName",
    "title", "userType", "preferredLanguage", "locale", "timezone", *(f"{ENTERPRISE}:{name}" for name in (
        "employeeNumber", "costCenter", "organization", "division", "department", "manager", "manager.value")),
]
"""Every sortBy /Users accepts (tests/scim/test_listing.py checks the same list against /Schemas)."""

DESCENDING = ["emails", "emails.primary", "phoneNumbers.primary", "active", "name.familyName", "userName"]


def template(index: int) -> dict[str, Any]:
    """bench_peers' User with what filters and sorts reach besides: the seeded copies change its number only."""
    document = user_document(index)
    number = f"{index:06d}"
    document["schemas"] = [*document["schemas"], ENTERPRISE]
    document["emails"] = [{"value": f"home{number}@home.example", "type": "home"}, *document["emails"]]
    document["phoneNumbers"] = [{"value": f"+1 555 {number}", "type": "work", "primary": True}]
    document.update(title=f"Title {number}", nickName=f"nick{number}", userType="Employee",
                    preferredLanguage="en", locale="en-US", timezone="Europe/Paris")
    document["name"]["formatted"] = f"Given{number} Family{number}"
    document[ENTERPRISE] = {"employeeNumber": number, "costCenter": f"CC{number}", "organization": "Org",
                            "division": "Div", "department": f"Dep{number}", "manager": {"value": f"M{number}"}}
    return document


def filters(size: int) -> list[tuple[str, str]]:
    """(label, filter) of every operator class, on emails (multi-valued: directory_value rows) and columns."""
    middle = f"{size // 2:06d}"
    near = f"{size // 2:06d}"[:-2]
    return [
        ("emails eq", f'emails eq "user{middle}@bench.example"'),
        ("emails ne (all but one)", f'emails ne "user{middle}@bench.example"'),
        ("emails co (~100)", f'emails co "{near}"'),
        ("emails sw (~100)", f'emails sw "user{near}"'),
        ("emails ew (~1)", f'emails ew "{middle}@bench.example"'),
        ("emails.value gt (half)", f'emails.value gt "user{middle}"'),
        ("emails.value ge (half)", f'emails.value ge "user{middle}"'),
        ("emails.value lt (half)", f'emails.value lt "user{middle}"'),
        ("emails.value le (half)", f'emails.value le "user{middle}"'),
        ("emails pr (all)", "emails pr"),
        ("not (emails co) (all but 100)", f'not (emails co "{near}")'),
        ("emails.type eq (all)", 'emails.type eq "work"'),
        ("emails.primary eq true (all)", "emails.primary eq true"),
        ('emails[type eq "work" and value co "x"]', 'emails[type eq "work" and value co "x"]'),
        ("and: userName sw + emails.type", f'userName sw "user{near}" and emails.type eq "home"'),
        ("or: 50 × emails eq", " or ".join(f'emails eq "user{i * (size // 50):06d}@bench.example"'
                                          for i in range(50))),
        ("or: 100 × userName eq", " or ".join(f'userName eq "user{i * (size // 100):06d}@bench.example"'
                                             for i in range(100))),
        ("userName eq (lookup)", f'userName eq "user{middle}@bench.example"'),
        ("externalId eq", f'externalId eq "ext-{middle}"'),
        ("name.familyName sw (~100)", f'name.familyName sw "Family{near}"'),
        ("title co (~100)", f'title co "{near}"'),
        ("meta.lastModified gt (all)", 'meta.lastModified gt "2000-01-01T00:00:00Z"'),
        ("active eq true (all)", "active eq true"),
    ]


SEARCH_REQUEST = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
LONGEST_GET = 3000
"""Longer filters go by POST /Users/.search: gunicorn refuses a request line over 4,094 bytes (414)."""


def queries(size: int, count: int) -> list[tuple[str, str, bytes | None]]:
    """(label, path and query string, body of a POST .search or None) of every query measured at ``size`` records."""
    listed: list[tuple[str, str, bytes | None]] = [
        (f"sortBy={name.replace(ENTERPRISE + ':', 'enterprise:')}", f"/Users?sortBy={quote(name)}&count={count}", None)
        for name in SORTS]
    listed += [(f"sortBy={name} descending", f"/Users?sortBy={quote(name)}&sortOrder=descending&count={count}", None)
               for name in DESCENDING]
    # a page in the middle (by offset: the deepest one, read from either end) and totalResults alone
    listed += [(f"sortBy={name} startIndex=middle", f"/Users?sortBy={quote(name)}&startIndex={size // 2}&count={count}",
                None) for name in ("emails", "title", "userName")]
    listed.append(("totalResults only (count=0)", "/Users?count=0", None))
    for label, text in filters(size):
        path = f"/Users?filter={quote(text)}&count={count}"
        if len(path) <= LONGEST_GET:
            listed.append((f"filter {label}", path, None))
        else:
            body = json.dumps({"schemas": [SEARCH_REQUEST], "filter": text, "count": count}).encode()
            listed.append((f"filter {label} (POST .search)", "/Users/.search", body))
    both = quote('emails co "x"')
    listed.append(("filter emails co + sortBy=emails desc",
                   f"/Users?filter={both}&sortBy=emails&sortOrder=descending&count={count}", None))
    return listed


def measure(port: int, headers: dict[str, str], path: str, body: bytes | None, samples: int) -> Result:
    """``samples`` requests one after the other (after one not measured); their latencies."""
    method = "GET" if body is None else "POST"
    http(port, method, path, body, headers)
    latencies, errors, first_error = [], 0, ""
    began = time.monotonic()
    for _ in range(samples):
        start = time.monotonic()
        status, payload = http(port, method, path, body, headers)
        if status == 200:
            latencies.append(time.monotonic() - start)
        else:
            errors += 1
            first_error = first_error or f"{status} {payload[:200]!r}"
    return Result(len(latencies), errors, time.monotonic() - began, latencies, first_error, 1)


def run(args: argparse.Namespace) -> dict[str, dict[int, Result]]:
    sizes = sorted(int(size) for size in args.memberships.split(","))
    servers = Servers()
    workdir = Path(tempfile.mkdtemp(prefix="bench-scim-queries-"))
    figures: dict[str, dict[int, Result]] = {}

    def say(text: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)

    try:
        say(f"Roster: init + serve ({args.database_url or 'SQLite'}) in {workdir}")
        roster = start_roster(servers, workdir, args.database_url, args.workers)
        client = Client(roster.port, "/scim/v2", roster.token)
        client.call("POST", "/Users", template(0), expect=(201,))
        group = client.call("POST", "/Groups", {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                                                "displayName": "bench-group"}, expect=(201,))
        hello_port = free_port()
        hello_log = workdir / "hello.log"
        hello = servers.start(gunicorn_argv(sys.executable, "conformance.bench_peers.hello:app", hello_port,
                                            args.workers), env=dict(os.environ), log=hello_log)
        wait_until_serving(hello_port, "/", hello, hello_log, 60)
        for size in sizes:
            say(f"seeding to {size:,} memberships (bulk inserts)")
            started = time.monotonic()
            seed_roster(roster, size, group["id"], 0)
            say(f"  seeded in {time.monotonic() - started:.1f} s")
            # the floor, measured the same way in the same run: what a request costs before Roster does anything
            figures.setdefault(HELLO, {})[size] = measure(hello_port, {}, "/", None, args.samples)
            for label, path, body in queries(size, args.count):
                if args.only and not any(part in label for part in args.only.split(",")):
                    continue
                result = measure(roster.port, client.headers, "/scim/v2" + path, body, args.samples)
                figures.setdefault(label, {})[size] = result
                say(f"  {size:>7,}  {label}: p50 {result.percentile(50):.1f} ms, p99 {result.percentile(99):.1f} ms"
                    + (f", {result.errors} errors: {result.first_error}" if result.errors else ""))
        servers.stop(roster.process)
    finally:
        servers.stop_all()
    report(args, sizes, figures)
    return figures


def report(args: argparse.Namespace, sizes: list[int], figures: dict[str, dict[int, Result]]) -> None:
    postgres = bool(args.database_url and args.database_url.startswith(("postgres://", "postgresql://")))
    header = ["query"] + [f"{s // 1000:,}k {p}" for s in sizes for p in ("p50", "p99")] + ["err"]
    if len(sizes) > 1:
        header.append(f"p50 {sizes[-1] // 1000}k/{sizes[0] // 1000}k")
    header.append(f"p99<{TARGET_MS:.0f}ms @{sizes[0] // 1000}k")
    table = [header]
    failed = 0
    for label, by_size in figures.items():
        line = [label]
        for size in sizes:
            result = by_size.get(size)
            line += [f"{result.percentile(50):.1f}", f"{result.percentile(99):.1f}"] if result else ["-", "-"]
        line.append(str(sum(r.errors for r in by_size.values())))
        first, last = by_size.get(sizes[0]), by_size.get(sizes[-1])
        if len(sizes) > 1:
            line.append(f"{last.percentile(50) / first.percentile(50):.1f}×" if first and last else "-")
        ok = first is not None and not first.errors and first.percentile(99) < TARGET_MS
        failed += not ok
        line.append("PASS" if ok else "FAIL")
        table.append(line)
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    print()
    print(f"Roster SCIM queries: {'PostgreSQL' if postgres else 'SQLite'}, {args.workers} gunicorn sync workers, "
          f"one request at a time, {args.samples} samples per query after one unmeasured, pages of {args.count}; "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at the end.")
    for index, row in enumerate(table):
        print("  ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(row)))
        if index == 0:
            print("  ".join("-" * w for w in widths))
    print(f"{failed} of {len(figures)} queries miss the target." if failed else "Every query meets the target.")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "database": "postgresql" if postgres else "sqlite", "args": vars(args),
            "queries": {label: {str(size): {"p50_ms": round(r.percentile(50), 2), "p99_ms": round(r.percentile(99), 2),
                                            "errors": r.errors} for size, r in by_size.items()}
                        for label, by_size in figures.items()}}, indent=2))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--database-url", default=None,
                        help="PostgreSQL URL (its public schema is dropped and made anew); default a fresh SQLite file")
    parser.add_argument("--memberships", default="10000,100000", help="account sizes, measured in turn")
    parser.add_argument("--samples", type=int, default=30, help="measured requests per query and size")
    parser.add_argument("--count", type=int, default=100, help="page size of every query")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--json", metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--only", default="", metavar="TEXT[,TEXT…]",
                        help="measure only the queries whose label contains one of these (e.g. sortBy,totalResults)")
    return run_until_interrupted(run, parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
