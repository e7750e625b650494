"""Every request's id and its one JSON log line, as WSGI middleware.

The id is the caller's ``X-Request-ID`` when it is a sane one (a proxy's
trace id), else a new one; the audit rows of the request carry it, and the
response echoes it. This runs around every request, SCIM and OIDC APIs
included, so it stays out of Flask: two request hooks and their context
lookups cost more than the log line itself. With metrics on, it also hands
each request's status and duration to ``observe`` (scim_server/metrics.py);
with them off, that costs one comparison.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from models import audit

log = logging.getLogger("roster.http")


def request_id_from(incoming: str) -> str:
    return incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex


Observer = Callable[[dict[str, Any], int, float], None]  # (environ, status, seconds)


class RequestLog:
    def __init__(self, app: Callable[..., Iterable[bytes]], observe: Observer | None = None):
        self.app = app
        self.observe = observe

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
        status = ""

        def start(status_line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal status
            status = status_line
            headers.append(("X-Request-ID", request_id))
            return start_response(status_line, headers, exc_info)

        token = audit.request_id.set(request_id)
        try:
            body = self.app(environ, start)  # Flask has dispatched and torn down the request when this returns
        finally:
            audit.request_id.reset(token)
        observe, logged = self.observe, log.isEnabledFor(logging.INFO)
        if observe is None and not logged:
            return body
        seconds = time.perf_counter() - started
        code = int(status[:3]) if status[:3].isdigit() else 0
        if observe is not None:
            try:
                observe(environ, code, seconds)
            except Exception:  # counting must never cost the answer
                log.exception("metrics: observing a request failed")
        if logged:
            method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
            log.info("%s %s %s", method, path, code, extra={"request_id": request_id, "fields": {
                "method": method, "path": path, "status": code, "duration_ms": round(seconds * 1000, 2)}})
        return body
