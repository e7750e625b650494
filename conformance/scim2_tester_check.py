"""scim2-tester (PyPI) against the Roster app, in process.

    python -m conformance.scim2_tester_check [--database-url URL]

The app runs in this process (scim2-client's WSGI engine calls it without a network), on a
temporary SQLite file or on --database-url, for a new account and its SCIM token.
scim2-tester only runs the checks that /ServiceProviderConfig, /ResourceTypes and /Schemas
advertise, so the number of checks is printed and must not fall below MINIMUM_CHECKS, and
every resource type of REQUIRED_RESOURCE_TYPES must have been exercised.
A check passes when its status is SUCCESS, COMPLIANT or ACCEPTABLE; DEVIATION (a SHOULD
not followed), ERROR, CRITICAL and SKIPPED (a feature not advertised) are failures, except the
checks of EXPECTED_FAILURES, each a check scim2-tester gets wrong, with the reason. A listed
check that passes is a failure too, so the list stays exact (as newman's in README.md).
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

from scim2_client.engines.wsgi import WSGISCIMClient
from scim2_tester import CheckResult, Status, check_server

# the number of checks the last full run made; raise it when a feature adds checks, never lower it
MINIMUM_CHECKS = 138
# issue 3: the SCIM service serves Users and Groups
REQUIRED_RESOURCE_TYPES = {"User", "Group"}
PASSING = {Status.SUCCESS, Status.COMPLIANT, Status.ACCEPTABLE}

# (resource type, check, attribute) → why scim2-tester is wrong; README.md repeats the table
EXPECTED_FAILURES: dict[tuple[str, str, str], str] = {
    ("User", "check_add_attribute", "urn:roster:params:scim:schemas:extension:roster:2.0:User"):
        "Roster's extension holds only the readOnly unlinkedReason; scim2-tester PATCHes the extension with an "
        "empty value and expects it back, but an add that carries no attribute adds nothing (RFC 7644 §3.5.2.1) "
        "and a linked record has no unlinkedReason to return.",
    ("User", "check_replace_attribute", "urn:roster:params:scim:schemas:extension:roster:2.0:User"):
        "The same for replace: nothing in the extension is writable (RFC 7644 §3.5.2.3).",
    ("User", "check_remove_attribute", "active"):
        "active is the membership status (DESIGN.md §3), which the service provider defines (RFC 7643 §4.1.1): "
        "a record always has one, and without a value from the directory it is true, as after a PUT without "
        "active (RFC 7644 §3.5.1), so the response still says active.",
    ("Group", "check_add_attribute", "members"):
        "members.display is the member User's own displayName, read-only (RFC 7643 §4.2 gives members value, "
        "$ref and type; /Schemas publishes display as readOnly), yet scim2-tester compares it with the None it sent.",
    ("Group", "check_replace_attribute", "members"):
        "The same for replace: members.display is read-only, computed from the member User.",
}
BASE_URL = "http://roster.test/scim/v2"


def client_for(app: Any, token: str) -> WSGISCIMClient:
    return WSGISCIMClient(app, base_url=BASE_URL, headers={"Authorization": f"Bearer {token}"})


def new_tenant() -> str:
    """A new account with a SCIM token, on the database the app is bound to; returns the token."""
    from models import Actor, accounts, scim_tokens
    from models.database import db

    actor = Actor.cli("conformance")
    with db.connection_context():
        account = accounts.create_account(f"Conformance {secrets.token_hex(4)}", "vendor", by=actor)
        _, secret = scim_tokens.create_token(account, description="scim2-tester", by=actor)
    return secret


def run(app: Any) -> list[CheckResult]:
    """Every scim2-tester check against ``app`` (a Roster Flask app bound to a migrated database)."""
    return list(check_server(client_for(app, new_tenant())))


def _key(result: CheckResult) -> tuple[str, str, str]:
    return result.resource_type or "-", result.title, str((result.data or {}).get("urn", ""))


def expected(result: CheckResult) -> bool:
    """Whether ``result`` is a failure EXPECTED_FAILURES lists."""
    return result.status not in PASSING and _key(result) in EXPECTED_FAILURES


def failures(results: list[CheckResult]) -> list[str]:
    """Why the run fails: each unexpected failure, each listed one that passed (or never ran),
    a shrinking count, a resource type never exercised."""
    found = [f"{r.status.name} {r.resource_type or '-'} {r.title}: {r.reason or ''}".strip()
             for r in results if r.status not in PASSING and not expected(r)]
    seen = {_key(r) for r in results if expected(r)}
    found += [f"expected failure did not fail: {' '.join(key)} (remove it from EXPECTED_FAILURES)"
              for key in EXPECTED_FAILURES if key not in seen]
    if len(results) < MINIMUM_CHECKS:
        found.append(f"only {len(results)} checks ran, fewer than the {MINIMUM_CHECKS} recorded: "
                     "did /Schemas or /ResourceTypes stop advertising something?")
    exercised = {r.resource_type for r in results if r.resource_type and r.status is not Status.SKIPPED}
    found += [f"no check exercised the {name} resource type: /ResourceTypes does not advertise it"
              for name in sorted(REQUIRED_RESOURCE_TYPES - exercised)]
    return found


def report_lines(results: list[CheckResult]) -> list[str]:
    passed = sum(r.status in PASSING for r in results)
    listed = sum(expected(r) for r in results)
    lines = [f"scim2-tester: {len(results)} checks (minimum {MINIMUM_CHECKS}), {passed} passed, "
             f"{len(results) - passed} failed ({listed} expected, {len(results) - passed - listed} unexpected)"]
    return lines + [f"  {problem}" for problem in failures(results)]


@contextlib.contextmanager
def app_on(database_url: str | None) -> Iterator[Any]:
    """The real app on ``database_url`` (migrated here), or on a temporary SQLite file."""
    from models.database import db
    from models.schema import upgrade
    from scim_server.app import create_app

    with contextlib.ExitStack() as stack:
        if database_url is None:
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="roster-scim2-tester-"))
            database_url = f"sqlite:///{folder}/roster.sqlite3"
        app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": secrets.token_urlsafe(48),
                          "BASE_URL": "http://roster.test"})
        with db.connection_context():
            upgrade()
        try:
            yield app
        finally:
            if not db.is_closed():
                db.close()
            if hasattr(db.obj, "close_all"):
                db.obj.close_all()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", help="a database to run on (a new account is made in it)")
    parser.add_argument("--all", action="store_true", help="print the passing checks too")
    args = parser.parse_args(argv)
    with app_on(args.database_url) as app:
        results = run(app)
    print("\n".join(report_lines(results)))
    if args.all:
        for r in results:
            print(f"  {r.status.name:<10} {r.resource_type or '-':<6} {r.title}: {r.reason or ''}")
    return 1 if failures(results) else 0


if __name__ == "__main__":
    sys.exit(main())
