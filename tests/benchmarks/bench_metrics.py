"""What metrics cost a request: off (the default) and on.

    python tests/benchmarks/bench_metrics.py [--n 20000]

Prints microseconds per request for the request-log middleware around a bare
WSGI app (no observer, then the metrics observer), for Metrics.observe alone
(a plain route, a SCIM route with its operation counter), and for the whole
app on /health/live with metrics off and on. Best of five runs each: the
machine may be busy. Runs on a temporary SQLite file; metrics in
single-process mode (set PROMETHEUS_MULTIPROC_DIR to measure the files).

Not a test module (pytest collects test_*.py only); a script, kept beside
the tests it measures the code of.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from typing import Any

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from werkzeug.routing import Map, Rule  # noqa: E402

from models.database import bind, db, open_database  # noqa: E402
from models.schema import upgrade  # noqa: E402
from scim_server.app import create_app  # noqa: E402
from scim_server.metrics import ROUTE, Metrics  # noqa: E402
from scim_server.request_log import RequestLog  # noqa: E402

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def bare(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def environ(path: str) -> dict[str, Any]:
    return {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "localhost",
            "SERVER_PORT": "80", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "localhost", "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr}


def best_of(run: Callable[[], None], n: int) -> float:
    """Microseconds per call, the best of five runs of ``n`` calls."""
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(n):
            run()
        best = min(best, (time.perf_counter() - started) / n)
    return best * 1e6


def per_request(app: WsgiApp, path: str, n: int) -> float:
    def run() -> None:
        body = app(environ(path), lambda status, headers, exc_info=None: None)
        for _ in body:
            pass
        getattr(body, "close", lambda: None)()

    return best_of(run, n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    n = parser.parse_args(argv).n

    base = per_request(bare, "/health/live", n)
    off = per_request(RequestLog(bare), "/health/live", n)
    on = per_request(RequestLog(bare, Metrics(None).observe), "/health/live", n)
    print(f"request log around a bare app: metrics off +{off - base:5.2f} µs, on +{on - base:5.2f} µs a request")

    metrics = Metrics(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None)
    rules = Map([Rule("/health/live", endpoint="health.live"),
                 Rule("/scim/v2/Users/<record_id>", endpoint="scim.users.get_user")])
    for name, rule in (("a plain route", rules._rules[0]), ("a SCIM route (+ operation)", rules._rules[1])):
        seen = {"REQUEST_METHOD": "GET", ROUTE: (rule, {})}
        cost = best_of(lambda seen=seen: metrics.observe(seen, 200, 0.01), n)
        print(f"Metrics.observe, {name}: {cost:5.2f} µs")

    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/roster.sqlite3"
        os.environ.setdefault("ROSTER_DATA_DIR", directory)
        bind(open_database(url))
        upgrade()
        db.close()
        apps = {flag: create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "METRICS": flag}) for flag in ("", "1")}
        whole = {flag: per_request(app.wsgi_app, "/health/live", max(n // 10, 100)) for flag, app in apps.items()}
        print(f"whole app, /health/live: metrics off {whole['']:6.1f} µs, on {whole['1']:6.1f} µs a request")
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
