"""Probes for load balancers and orchestrators: is the process alive, can it serve.

- ``/health/live``: the process answers; never touches the database, so a
  database outage does not get healthy workers restarted.
- ``/health/ready``: the database answers and every migration is applied;
  503 otherwise, so a load balancer sends no traffic to an instance that
  would fail it (an outage, or new code started before `roster db upgrade`).
- ``/healthz``: the database answers (kept for existing monitors).
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify

from models import schema
from models.database import db

log = logging.getLogger("roster.http")

bp = Blueprint("health", __name__)


def _no_store(response: Response, status: int) -> tuple[Response, int]:
    response.headers["Cache-Control"] = "no-store"
    return response, status


def _reachable() -> bool:
    try:
        db.execute_sql("SELECT 1")
    except Exception:  # any driver error means the store is not reachable
        log.warning("health check: the database is unreachable", exc_info=True)
        if not db.is_closed() and not db.in_transaction():
            db.close()  # a kept connection may be the broken part: the next check opens a new one
        return False
    return True


@bp.get("/health/live")
def live() -> tuple[Response, int]:
    return _no_store(jsonify(status="ok"), 200)


@bp.get("/health/ready")
def ready() -> tuple[Response, int]:
    if not _reachable():
        return _no_store(jsonify(status="unavailable", database="unreachable", migrations="unknown"), 503)
    try:
        current = schema.is_current()
    except Exception:
        log.warning("health check: the migrations could not be read", exc_info=True)
        return _no_store(jsonify(status="unavailable", database="error", migrations="unknown"), 503)
    if not current:
        return _no_store(jsonify(status="unavailable", database="ok", migrations="pending"), 503)
    return _no_store(jsonify(status="ok", database="ok", migrations="current"), 200)


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    if not _reachable():
        return _no_store(jsonify(status="unavailable", database="unreachable"), 503)
    return _no_store(jsonify(status="ok", database="ok"), 200)
