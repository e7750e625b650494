"""The outbox runner: claims what the domain queued and hands each message to its transport.

``models.outbox`` writes each message in the transaction of the change that
causes it; the runner claims due messages (a lease, so several senders on
several instances never hold the same one), hands each to the transport
registered for its kind and marks it sent, or failed with a backoff. A sender
that dies mid-batch leaves leases that expire: delivery is at least once, and
a mail keeps one Message-ID across retries so a receiver can drop a repeat.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

import peewee

from models import clock, outbox
from models.database import db
from models.deployment import Deployment
from models.ops import OutboxMessage

from .. import parent_process
from . import transports

log = logging.getLogger("roster.outbox")

# A message is only sent while its lease has this much left, so a slow batch
# never sends a message another sender may already have re-claimed.
LEASE_MARGIN = dt.timedelta(seconds=30)
MAX_DB_BACKOFF = 60.0


def default_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:100]


def _deliver_batch(
    config: dict[str, Any], deployment: Deployment, limit: int, worker: str | None, stop: Callable[[], bool] | None
) -> tuple[int, int]:
    """Claim up to ``limit`` due messages and deliver them; returns (claimed, delivered)."""
    messages = outbox.claim(limit, worker or default_worker())
    delivered = 0
    try:
        for message in messages:
            if stop is not None and stop():
                break  # the rest keep their leases, which expire: another sender takes them
            lease_until = message.lease_until
            if lease_until is None or clock.now() >= lease_until - LEASE_MARGIN:
                break
            if _deliver(message, config, deployment):
                delivered += 1
    finally:
        transports.close_connections()
    return len(messages), delivered


def _deliver(message: OutboxMessage, config: dict[str, Any], deployment: Deployment) -> bool:
    transport = transports.TRANSPORTS.get(message.kind)
    try:
        if transport is None:
            # failed, not dropped: a later deploy that registers the kind delivers it on a retry
            raise LookupError(f"no transport registered for outbox messages of kind {message.kind!r}")
        transport(message, config, deployment)
    except Exception as exc:  # any transport failure is retried; the sender itself carries on
        error = f"{type(exc).__name__}: {exc}"
        outbox.mark_failed(message, error)
        gave_up = message.attempts + 1 >= outbox.MAX_ATTEMPTS
        log.log(
            logging.ERROR if gave_up else logging.WARNING,
            "outbox message %s (%s) %s: %s", message.id, message.kind,
            "failed for good" if gave_up else "failed, will retry", error,
            extra={"fields": {"outbox_id": message.id, "kind": message.kind, "attempts": message.attempts + 1,
                              "gave_up": gave_up}},
        )
        return False
    outbox.mark_sent(message)
    return True


def deliver_due(
    config: dict[str, Any], *, limit: int = 50, worker: str | None = None, stop: Callable[[], bool] | None = None
) -> int:
    """Claim one batch of due messages, deliver each, and return how many were delivered.

    ``stop`` is asked before each message; once it says yes the batch ends
    after the message in hand. The caller holds a database connection.
    """
    from ..app import deployment_of

    return _deliver_batch(config, deployment_of(config), limit, worker, stop)[1]


# ----------------------------------------------------------------- process


class _Stop:
    """A flag set by SIGTERM/SIGINT, or the death of the parent process when one is followed.

    Signal handlers may not take locks (the interrupted code may hold them),
    so idle waits poll instead of using an Event; each poll also asks whether
    the parent is still there, where no parent-death signal is to be had.
    """

    def __init__(self, parent_pid: int | None = None) -> None:
        self.requested = False
        self.parent_pid = parent_pid

    def __call__(self) -> bool:
        if not self.requested and self.parent_pid is not None and not parent_process.parent_alive(self.parent_pid):
            log.warning("outbox sender stopping: its parent process %s is gone", self.parent_pid)
            self.requested = True
        return self.requested

    def request(self, signum: int = 0, frame: Any = None) -> None:
        self.requested = True

    def wait(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self() and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.2))


def _install_signal_handlers(stop: _Stop) -> Callable[[], None]:
    """Stop after the current message on SIGTERM/SIGINT; returns what restores the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # only the main thread may set handlers; the caller stops us there
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
    for signum in previous:
        signal.signal(signum, stop.request)

    def restore() -> None:
        for signum, handler in previous.items():
            if handler is not None:
                signal.signal(signum, handler)

    return restore


def run(config: dict[str, Any], *, once: bool = False, interval: float = 2.0, parent_pid: int | None = None) -> int:
    """Deliver the outbox; returns how many messages were delivered.

    With ``once``, deliver what is due now and return. Otherwise loop until
    SIGTERM or SIGINT, which end the run after the message in hand; sleep
    ``interval`` seconds whenever nothing is due. With ``parent_pid`` (the
    `roster serve` that started this sender), the death of that parent ends
    the run too, however it died: no orphan keeps claiming messages.
    """
    transports.check_config(config)
    from ..app import configure_domain, deployment_of

    # a caller that bound the database (a test, the CLI) keeps its binding
    deployment = configure_domain(config) if db.obj is None else deployment_of(config)
    stop = _Stop(parent_pid)
    restore = _install_signal_handlers(stop)
    if parent_pid is not None:
        # after the handlers: the parent-death signal is the same graceful SIGTERM
        parent_process.follow_parent(parent_pid)
    opened = db.is_closed()
    worker = default_worker()
    total = 0
    failures = 0
    log.info("outbox sender %s started", worker, extra={"fields": {
        "worker": worker, "once": once, "mail_backend": config.get("MAIL_BACKEND") or "log"}})
    try:
        while not stop():
            try:
                db.connect(reuse_if_open=True)
                claimed, delivered = _deliver_batch(config, deployment, 50, worker, stop)
            except peewee.PeeweeException:
                if once:
                    raise
                # the database went away (restart, failover): reconnect after a pause, keep serving
                failures += 1
                log.exception("outbox sender lost the database; retrying")
                _close_quietly()
                stop.wait(min(MAX_DB_BACKOFF, interval * 2**failures))
                continue
            failures = 0
            total += delivered
            if claimed == 0:
                if once:
                    break
                stop.wait(interval)
    finally:
        restore()
        if opened:
            _close_quietly()
    log.info("outbox sender %s stopped after %d delivered", worker, total,
             extra={"fields": {"worker": worker, "delivered": total}})
    return total


def _close_quietly() -> None:
    try:
        if not db.is_closed():
            db.close()
    except Exception:  # a broken connection may fail to close; a new one is opened next time
        log.debug("closing the database connection failed", exc_info=True)
