"""Request budgets per SCIM token and per OAuth client, shared by every process of a deployment.

A budget is ``limit`` requests per subject per fixed one-minute window.
Counting every request in the database would add a write to every read, so
each process counts in memory and writes its increments only every
``flush_every`` requests, in one upsert that also returns the deployment's
total for the window. Between two writes a process decides with the total it
last saw plus what it has counted since.

What that guarantees:

- no request is refused early: counts only grow within a window, so the
  total a process last saw plus its own unwritten count never exceeds the
  true count;
- a deployment of P processes admits at most ``limit + P × flush_every``
  requests of one subject in a window: once the shared total has reached the
  limit, each process admits at most ``flush_every`` more before its next
  write shows it the total.

``flush_every`` is 20, or ``limit // 100`` (at least 1) for small budgets,
so the overshoot stays near 1% of the budget per process and a process
writes once every 20 requests of a busy subject. The table holds one row per
subject: a write for a newer window starts the row's count afresh, one for
an older window (a process whose clock lags) changes nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import threading

import peewee as pw

from . import clock
from .database import BaseModel, supports_returning, transaction

WINDOW = dt.timedelta(minutes=1)
FLUSH_EVERY = 20
EPOCH = dt.datetime(1970, 1, 1)


class RateLimitCounter(BaseModel):
    """Requests of one subject (``scim:<token id>``, ``oauth:<client_id>``) in its latest window."""

    subject = pw.CharField(max_length=200, primary_key=True)
    window_started_at = pw.DateTimeField()
    requests = pw.IntegerField(default=0)


TABLES = [RateLimitCounter]


def window_start(now: dt.datetime, window: dt.timedelta = WINDOW) -> dt.datetime:
    """The start of the fixed window ``now`` falls in; windows are aligned on the epoch, the same in every process."""
    size = window.total_seconds()
    return EPOCH + dt.timedelta(seconds=math.floor((now - EPOCH).total_seconds() / size) * size)


def record(subject: str, started_at: dt.datetime, requests: int) -> int | None:
    """Add ``requests`` to ``subject``'s count in the window ``started_at``: the count now, None if that window is over.

    One statement (INSERT … ON CONFLICT DO UPDATE … RETURNING): concurrent
    writers on several instances are all counted.
    """
    row = RateLimitCounter
    excluded = pw.EXCLUDED
    newer = excluded.window_started_at > row.window_started_at
    same = excluded.window_started_at == row.window_started_at
    query = row.insert(subject=subject, window_started_at=started_at, requests=requests).on_conflict(
        conflict_target=[row.subject],
        # every right-hand side reads the row as it was before this write
        update={row.requests: pw.Case(None, [(newer, excluded.requests), (same, row.requests + excluded.requests)],
                                      row.requests),
                row.window_started_at: pw.Case(None, [(newer, excluded.window_started_at)], row.window_started_at)})
    if supports_returning():
        found = list(query.returning(row.window_started_at, row.requests).tuples().execute())
    else:  # SQLite before 3.35: read it back in the same transaction
        with transaction():
            query.execute()
            found = list(row.select(row.window_started_at, row.requests).where(row.subject == subject).tuples())
    if not found:
        return None
    stored_at, count = found[0]
    # peewee-stubs leave Field.python_value untyped
    stored = row.window_started_at.python_value(stored_at)  # type: ignore[no-untyped-call]
    return int(count) if stored == started_at else None


@dataclasses.dataclass
class _Tally:
    """One subject in this process: the deployment's total last seen, and what is counted but not yet written."""

    known: int = 0
    pending: int = 0
    writing: int = 0


class Budget:
    """``limit`` requests per subject per window; ``limit`` 0 turns the budget off.

    One instance per process and surface; safe to share between threads.
    """

    def __init__(self, surface: str, limit: int, *, window: dt.timedelta = WINDOW,
                 flush_every: int | None = None) -> None:
        if limit < 0:
            raise ValueError("a rate limit is a number of requests per minute, 0 or more")
        self.surface, self.limit, self.window = surface, limit, window
        self.flush_every = flush_every or max(1, min(FLUSH_EVERY, limit // 100))
        self._lock = threading.Lock()
        self._window: dt.datetime | None = None
        self._tallies: dict[str, _Tally] = {}

    def spend(self, subject: str) -> int | None:
        """Count one request of ``subject``: None when it is within the budget, else the seconds until the window ends.

        A refused request is not counted. Every ``flush_every`` admitted
        requests, this process writes its count and learns the deployment's.
        """
        if self.limit == 0:
            return None
        now = clock.now()
        started_at = window_start(now, self.window)
        with self._lock:
            if started_at != self._window:
                self._window, self._tallies = started_at, {}  # a new window: forget the last one's counts
            tally = self._tallies.setdefault(subject, _Tally())
            if tally.known + tally.writing + tally.pending >= self.limit:
                return max(1, math.ceil((started_at + self.window - now).total_seconds()))
            tally.pending += 1
            if tally.pending < self.flush_every:
                return None
            writing, tally.pending = tally.pending, 0
            tally.writing += writing
        try:
            total = record(f"{self.surface}:{subject}", started_at, writing)
        except BaseException:
            with self._lock:
                tally.writing -= writing
                tally.pending += writing  # written next time
            raise
        with self._lock:
            tally.writing -= writing
            if total is not None:
                tally.known = max(tally.known, total)
        return None


@dataclasses.dataclass
class Budgets:
    """The budgets of one process: per SCIM token and per OAuth client."""

    scim: Budget
    oauth: Budget

    @classmethod
    def per_minute(cls, scim: int | str, oauth: int | str) -> Budgets:
        """From the settings ``ROSTER_SCIM_RATE_LIMIT`` and ``ROSTER_OAUTH_RATE_LIMIT``: per minute, 0 for none."""
        return cls(scim=Budget("scim", _requests(scim, "ROSTER_SCIM_RATE_LIMIT")),
                   oauth=Budget("oauth", _requests(oauth, "ROSTER_OAUTH_RATE_LIMIT")))


def _requests(value: int | str, setting: str) -> int:
    try:
        limit = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{setting} must be a whole number of requests per minute (0 turns it off), "
                         f"not {value!r}") from None
    if limit < 0:
        raise ValueError(f"{setting} must be 0 (no limit) or more, not {limit}")
    return limit
