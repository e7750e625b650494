"""The outbox: messages written with the change that causes them, delivered later.

A sender claims a batch atomically (a lease with its name), delivers it and
marks each message sent, or schedules a retry with exponential backoff. A
sender that dies leaves leases that expire, so nothing is lost; two senders
never hold the same message at once.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from peewee import fn

from . import clock, prepared
from .database import is_postgres, transaction
from .ops import OutboxMessage

MAX_ATTEMPTS = 12
LEASE = dt.timedelta(minutes=2)
BACKOFF_BASE = dt.timedelta(seconds=5)
BACKOFF_CAP = dt.timedelta(hours=1)


def mail(to: str, subject: str, body: str, **payload: Any) -> dict[str, Any]:
    """A mail row for :func:`enqueue`."""
    return {"kind": "mail", "recipient": to, "subject": subject, "body": body, "payload": payload}


def enqueue(*messages: dict[str, Any]) -> None:
    """Queue messages; call inside the transaction of the change."""
    now = clock.now()
    rows = [{"created_at": now, "next_attempt_at": now, **m} for m in messages]
    for start in range(0, len(rows), 500):
        prepared.insert(OutboxMessage, rows[start : start + 500])


def claim(limit: int = 50, worker: str | None = None) -> list[OutboxMessage]:
    """Claim up to ``limit`` due messages for one sender; nobody else gets them until the lease ends."""
    worker = worker or secrets.token_hex(8)
    now = clock.now()
    claim_name = f"{worker}:{secrets.token_hex(4)}"
    due = (
        (OutboxMessage.status == "pending")
        & (OutboxMessage.next_attempt_at <= now)
        & ((OutboxMessage.lease_until.is_null()) | (OutboxMessage.lease_until < now))
    )
    with transaction():
        candidates = OutboxMessage.select(OutboxMessage.id).where(due).order_by(OutboxMessage.id).limit(limit)
        if is_postgres():
            candidates = candidates.for_update(skip_locked=True)
        ids = [m.id for m in candidates]
        if not ids:
            return []
        OutboxMessage.update(claimed_by=claim_name, lease_until=now + LEASE).where(
            OutboxMessage.id.in_(ids) & due
        ).execute()
    # by id first: claimed_by has no index, and sent rows accumulate
    return list(
        OutboxMessage.select()
        .where(OutboxMessage.id.in_(ids) & (OutboxMessage.claimed_by == claim_name))
        .order_by(OutboxMessage.id)
    )


def mark_sent(message: OutboxMessage) -> None:
    OutboxMessage.update(
        status="sent", sent_at=clock.now(), lease_until=None, attempts=OutboxMessage.attempts + 1
    ).where(
        (OutboxMessage.id == message.id) & (OutboxMessage.claimed_by == message.claimed_by)
    ).execute()


def mark_failed(message: OutboxMessage, error: str) -> None:
    """Schedule a retry (5 s, 10 s, 20 s … capped at an hour), or give up after MAX_ATTEMPTS."""
    attempts = message.attempts + 1
    delay = min(BACKOFF_BASE * (2 ** (attempts - 1)), BACKOFF_CAP)
    OutboxMessage.update(
        status="failed" if attempts >= MAX_ATTEMPTS else "pending",
        attempts=attempts,
        next_attempt_at=clock.now() + delay,
        lease_until=None,
        last_error=error[:2000],
    ).where((OutboxMessage.id == message.id) & (OutboxMessage.claimed_by == message.claimed_by)).execute()


def pending_count() -> int:
    return OutboxMessage.select().where(OutboxMessage.status == "pending").count()



def backlog() -> tuple[int, dt.datetime | None]:
    """How many messages wait to be delivered (retries included), and when the oldest of them was queued."""
    row: Any = (  # (count, oldest created_at)
        OutboxMessage.select(fn.COUNT(OutboxMessage.id), fn.MIN(OutboxMessage.created_at))
        .where(OutboxMessage.status == "pending").tuples().get())
    return int(row[0] or 0), row[1]
