"""Throughput of the domain's bulk paths, on SQLite and PostgreSQL.

    python tests/benchmarks/bench_domain.py [--database-url URL] [--n 10000] [--profile]

Prints invitations/s for a bulk invite of ``n`` new emails into one account,
and memberships/s for a bulk invite of ``n`` people who already have an
active Roster user (each one "added" at once, R2). Without --database-url it
runs on a temporary SQLite file and on PostgreSQL at BENCH_POSTGRES_URL.
A PostgreSQL database given here is wiped: its public schema is dropped.

Not a test module (pytest collects test_*.py only); a script, kept beside
the tests it measures the code of.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from models import Actor, User, accounts, clock, emails, invitations  # noqa: E402
from models.database import bind, db, is_postgres, open_database, transaction  # noqa: E402
from models.deployment import Deployment  # noqa: E402
from models.fields import new_id  # noqa: E402
from models.schema import upgrade  # noqa: E402
from models.settings import Settings  # noqa: E402
from oidc.links import PageLinks  # noqa: E402

BENCH_POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test_bench")
TARGET_INVITATIONS_PER_SECOND = 2000
BASE_URL = "http://roster.bench"


def prepare(url: str) -> Deployment:
    """Bind an empty, migrated database at ``url``; what to hand the domain (the invitation mails link to BASE_URL)."""
    bind(open_database(url))
    db.connect(reuse_if_open=True)
    if is_postgres():
        db.execute_sql("DROP SCHEMA public CASCADE")
        db.execute_sql("CREATE SCHEMA public")
    upgrade()
    return Deployment(Settings(secret_key="benchmark-secret-key", base_url=BASE_URL), PageLinks(BASE_URL))


def release() -> None:
    if not db.is_closed():
        db.close()
    if hasattr(db.obj, "close_all"):
        db.obj.close_all()


def timed(work: Callable[[], Any], profile: bool) -> tuple[Any, float]:
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    result = work()
    if profiler:
        profiler.disable()
    elapsed = time.perf_counter() - started
    if profiler:
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(35)
    return result, elapsed


def bench_invitations(n: int, profile: bool, deployment: Deployment) -> float:
    """Bulk invite of ``n`` emails nobody has a user for: pending users, memberships, invitations, mails."""
    by = Actor.cli("benchmark")
    account = accounts.create_account("Bench Invitations", "vendor", by=by)
    addresses = [f"Person.{i}@Bench-Example.com" for i in range(n)]
    results, elapsed = timed(lambda: invitations.bulk_invite(account, addresses, by=by, via="cli",
                                                               deployment=deployment), profile)
    outcomes = Counter(r.outcome for r in results)
    assert outcomes == {"invited": n}, outcomes
    return n / elapsed


def bench_memberships(n: int, profile: bool, deployment: Deployment) -> float:
    """Bulk invite of ``n`` people who already have an active user: each gets the membership at once."""
    by = Actor.cli("benchmark")
    account = accounts.create_account("Bench Memberships", "vendor", by=by)
    now = clock.now()
    addresses = [f"member.{i}@bench-example.org" for i in range(n)]
    rows = [{"id": new_id(), "email": a, "email_key": emails.key(a), "status": "active", "email_notifications": {},
             "created_at": now, "updated_at": now} for a in addresses]
    with transaction():
        for start in range(0, n, 500):
            User.insert_many(rows[start : start + 500]).execute()
    if is_postgres():
        # autovacuum would have analysed a table this size in service; without statistics, prepared
        # IN (…) lookups get a generic sequential-scan plan and the figure measures that instead
        db.execute_sql('ANALYZE "user"')
    results, elapsed = timed(lambda: invitations.bulk_invite(account, addresses, by=by, via="cli",
                                                               deployment=deployment), profile)
    outcomes = Counter(r.outcome for r in results)
    assert outcomes == {"added": n}, outcomes
    return n / elapsed


def run(label: str, url: str, n: int, profile: bool) -> dict[str, float]:
    deployment = prepare(url)
    try:
        figures = {"invitations/s": bench_invitations(n, profile, deployment),
                   "memberships/s": bench_memberships(n, profile, deployment)}
    finally:
        release()
    print(f"{label:<11} n={n:<6} " + "  ".join(f"{value:8.0f} {name}" for name, value in figures.items()),
          flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="run on this database only (a PostgreSQL one is wiped)")
    parser.add_argument("--n", type=int, default=10_000, help="emails per bulk invite (default 10000)")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of each bulk invite to stderr")
    args = parser.parse_args(argv)

    if args.database_url:
        targets = [("postgresql" if args.database_url.startswith("postgres") else "sqlite", args.database_url)]
    else:
        targets = [("sqlite", ""), ("postgresql", BENCH_POSTGRES_URL)]
    missed = False
    with tempfile.TemporaryDirectory(prefix="roster-bench-") as directory:
        for label, url in targets:
            figures = run(label, url or f"sqlite:///{directory}/bench.sqlite3", args.n, args.profile)
            if label == "sqlite" and figures["invitations/s"] < TARGET_INVITATIONS_PER_SECOND:
                print(f"sqlite: below the target of {TARGET_INVITATIONS_PER_SECOND} invitations/s", file=sys.stderr)
                missed = True
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
