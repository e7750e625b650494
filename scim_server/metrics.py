"""Prometheus metrics at /metrics: requests, SCIM operations, sign-ins, the outbox.

Off unless ``ROSTER_METRICS=1`` or ``ROSTER_METRICS_TOKEN`` is set (then a
scrape must send ``Authorization: Bearer <token>``). When off, nothing is
counted and /metrics does not exist.

Requests are observed once each by the request-log middleware, labelled by
the Flask URL rule (``/scim/v2/Users/<record_id>``, never the raw path, so
ids do not become series). Under `roster serve`, every gunicorn worker
writes its counts to files in ``PROMETHEUS_MULTIPROC_DIR`` and a scrape of
any worker sums them all (prometheus-client's multi-process mode); the
outbox figures are read from the database at scrape time.
"""

from __future__ import annotations

import hmac
import logging
import os
from collections.abc import Iterator
from typing import Any

import blinker
from flask import Flask, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from models import clock, outbox

log = logging.getLogger("roster.http")

ROUTE = "roster.url_rule"  # the environ key where the matched rule and its arguments wait for the middleware
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# endpoint → (SCIM resource type, operation); the methods of /Me are told apart by the HTTP method
SCIM_OPERATIONS = {
    "scim.users.get_user": ("User", "get"),
    "scim.users.create_user": ("User", "create"),
    "scim.users.replace_user": ("User", "replace"),
    "scim.users.patch_user": ("User", "patch"),
    "scim.users.delete_user": ("User", "delete"),
    "scim.listing.list_users": ("User", "list"),
    "scim.groups.get_group": ("Group", "get"),
    "scim.groups.create_group": ("Group", "create"),
    "scim.groups.replace_group": ("Group", "replace"),
    "scim.groups.patch_group_view": ("Group", "patch"),
    "scim.groups.delete_group": ("Group", "delete"),
    "scim.groups.list_groups": ("Group", "list"),
    "scim.listing.search_everything": ("all", "search"),
    "scim.bulk.bulk": ("Bulk", "bulk"),
    "scim.discovery.service_provider_config": ("ServiceProviderConfig", "get"),
    "scim.discovery.resource_types": ("ResourceType", "list"),
    "scim.discovery.resource_type": ("ResourceType", "get"),
    "scim.discovery.schemas": ("Schema", "list"),
    "scim.discovery.schema": ("Schema", "get"),
}
SEARCHED = {"Users": "User", "Groups": "Group"}
BULK_OPERATIONS = {"POST": "create", "PUT": "replace", "PATCH": "patch", "DELETE": "delete"}
ME_OPERATIONS = {"GET": "get", "POST": "create", "PUT": "replace", "PATCH": "patch", "DELETE": "delete"}
OUTCOMES = {400: "invalid", 401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict",
            412: "precondition_failed", 413: "too_large", 429: "rate_limited", 503: "unavailable"}


def outcome(status: int) -> str:
    if status < 400:
        return "success"
    return OUTCOMES.get(status) or ("client_error" if status < 500 else "server_error")


def scim_operation(endpoint: str, view_args: dict[str, Any] | None, method: str) -> tuple[str, str] | None:
    """The (resource type, operation) a SCIM request was, from its route; None for a route that is not one."""
    known = SCIM_OPERATIONS.get(endpoint)
    if known is not None:
        return known
    if endpoint == "scim.listing.search_resources":
        return SEARCHED.get(str((view_args or {}).get("endpoint")), "unknown"), "search"
    if endpoint in ("scim.me.me", "scim.me.change_me"):
        return "Me", ME_OPERATIONS.get(method, "other")
    return None


class OutboxCollector:
    """The outbox's backlog and the age of its oldest waiting message, read when scraped."""

    def collect(self) -> Iterator[Metric]:
        try:
            waiting, oldest = outbox.backlog()
        except Exception:  # the database is away: the other figures still matter, these are left out
            log.warning("metrics: the outbox could not be read", exc_info=True)
            return
        yield GaugeMetricFamily("roster_outbox_backlog_messages",
                                "Messages waiting to be delivered, retries included.", value=waiting)
        age = (clock.now() - oldest).total_seconds() if oldest is not None else 0.0
        yield GaugeMetricFamily("roster_outbox_oldest_message_age_seconds",
                                "How long the oldest waiting message has waited; 0 when none waits.",
                                value=max(age, 0.0))


class Metrics:
    """One app's metrics; :meth:`observe` is what the request-log middleware calls after each request."""

    def __init__(self, multiprocess_dir: str | None) -> None:
        self.multiprocess_dir = multiprocess_dir
        self.registry = CollectorRegistry()
        self.requests = Histogram("roster_http_request_duration_seconds",
                                  "Time to answer a request, by method, route (the URL rule) and status; "
                                  "_count is the number of requests.",
                                  ["method", "route", "status"], registry=self.registry)
        self.scim = Counter("roster_scim_operations", "SCIM requests by resource type, operation and outcome.",
                            ["resource_type", "operation", "outcome"], registry=self.registry)
        self.sign_ins = Counter("roster_sign_ins", "Sign-in attempts by result.", ["result"], registry=self.registry)
        # labelled children by (method, endpoint, status, searched resource), looked up once each
        self._children: dict[tuple[str, str, int, Any], tuple[Any, Any]] = {}

    def observe(self, environ: dict[str, Any], status: int, seconds: float) -> None:
        rule, view_args = environ.get(ROUTE) or (None, None)
        method = environ.get("REQUEST_METHOD", "")
        method = method if method in METHODS else "other"
        endpoint = rule.endpoint if rule is not None else ""
        # the searched resource is part of the path: mapped first, so a made-up one adds no entry
        searched = (SEARCHED.get(str((view_args or {}).get("endpoint")), "unknown")
                    if endpoint == "scim.listing.search_resources" else None)
        key = (method, endpoint, status, searched)
        children = self._children.get(key)
        if children is None:
            children = self._children[key] = self._labelled(rule, view_args, method, status)
        children[0].observe(seconds)
        if children[1] is not None:
            children[1].inc()

    def _labelled(self, rule: Any, view_args: dict[str, Any] | None, method: str, status: int) -> tuple[Any, Any]:
        """The request histogram's child for these labels, and the SCIM operation counter's (None if not SCIM)."""
        route = rule.rule if rule is not None else "unmatched"
        operation = scim_operation(rule.endpoint, view_args, method) if rule is not None else None
        return (self.requests.labels(method, route, str(status)),
                self.scim.labels(*operation, outcome(status)) if operation is not None else None)

    def count_bulk_operation(self, method: str, path: str, status: int) -> None:
        """One operation of a /Bulk request, counted as the single request it stands for (the /Bulk counts too)."""
        resource = SEARCHED.get(path.lstrip("/").split("/", 1)[0], "unknown")
        self.scim.labels(resource, BULK_OPERATIONS.get(method.upper(), "other"), outcome(status)).inc()

    def count_sign_in(self, sender: Any, result: str) -> None:
        self.sign_ins.labels(result).inc()

    def exposition(self) -> bytes:
        if self.multiprocess_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiprocess_dir)  # type: ignore[no-untyped-call]  # prometheus-client's is untyped
        registry.register(OutboxCollector())
        return generate_latest(registry)


def _remember_route() -> None:
    request.environ[ROUTE] = (request.url_rule, request.view_args)


def init_app(app: Flask, sign_ins: blinker.Signal) -> Metrics:
    """Count this app's requests and the sign-ins ``sign_ins`` reports, and serve them at /metrics."""
    metrics = Metrics(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None)
    if metrics.multiprocess_dir is None:
        metrics.registry.register(OutboxCollector())
    app.extensions["roster_metrics"] = metrics
    # first, so the route is known even when a later hook answers (a rate limit, a refused token)
    app.before_request_funcs.setdefault(None, []).insert(0, _remember_route)
    sign_ins.connect(metrics.count_sign_in, sender=app, weak=False)
    app.add_url_rule("/metrics", "metrics", _scrape)
    return metrics


def _scrape() -> Response:
    token = current_app.config.get("METRICS_TOKEN") or ""
    if token:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), token.encode()):
            return Response("A bearer token is required for /metrics.\n", 401, mimetype="text/plain",
                            headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    metrics: Metrics = current_app.extensions["roster_metrics"]
    return Response(metrics.exposition(), content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
