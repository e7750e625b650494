"""Brute-force throttling: failure counters in the database, shared by every instance.

A key (``login:email:<email_key>``, ``login:ip:<ip>``, ``totp:<user_id>``)
counts failures in a window; after ``max_failures`` of them it is locked
for ``lockout``. The count is one upsert (INSERT … ON CONFLICT DO UPDATE)
so concurrent failures on several instances are all counted, and the lock
is set by a conditional UPDATE that exactly one of them wins.

Usage: ``attempt(key, try_secret)`` for one secret (a second factor), or
``check(key)`` before trying it, ``fail(key)`` when it was wrong and
``succeed(key)`` when it was right (a password, counted under two keys).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TypeVar

import peewee as pw

from . import audit, clock
from .audit import Actor
from .database import transaction
from .errors import RosterError
from .i18n import Text
from .security import ThrottleCounter

MAX_FAILURES = 5
WINDOW = dt.timedelta(minutes=15)
LOCKOUT = dt.timedelta(minutes=15)

T = TypeVar("T")


class LockedOutError(RosterError):
    """Too many failures for a key; ``until`` is when trying again is allowed (naive UTC)."""

    code = "locked_out"

    def __init__(self, until: dt.datetime):
        # round up to the minute so "after 09:15" is never too early
        shown = until if (until.second, until.microsecond) == (0, 0) else until + dt.timedelta(minutes=1)
        super().__init__(Text("Too many attempts; try again after %(time)s UTC.", time=shown.strftime("%H:%M")))
        self.until = until


def login_email_key(email_key: str) -> str:
    return f"login:email:{email_key}"


def login_ip_key(ip: str) -> str:
    return f"login:ip:{ip}"


def totp_key(user_id: str) -> str:
    """Second-factor attempts of one person: TOTP, recovery codes and security keys count together."""
    return f"totp:{user_id}"


def locked_until(key: str) -> dt.datetime | None:
    """When the lock on ``key`` ends, or None if it is not locked now."""
    row = ThrottleCounter.get_or_none(ThrottleCounter.key == key)
    if row is None or row.locked_until is None or row.locked_until <= clock.now():
        return None
    until: dt.datetime = row.locked_until
    return until


def check(key: str) -> None:
    """Raise LockedOutError while ``key`` is locked."""
    until = locked_until(key)
    if until is not None:
        raise LockedOutError(until)


def fail(
    key: str,
    *,
    max_failures: int = MAX_FAILURES,
    window: dt.timedelta = WINDOW,
    lockout: dt.timedelta = LOCKOUT,
) -> dt.datetime | None:
    """Count one failure for ``key``; returns when its lock ends if it is locked now, else None.

    Failures older than ``window`` (counted from the window's first
    failure) are forgotten. Reaching ``max_failures`` within the window
    locks the key for ``lockout``; the failure that locks it leaves an
    audit event.
    """
    now = clock.now()
    expired = ThrottleCounter.window_started_at <= now - window
    with transaction():
        (
            ThrottleCounter.insert(key=key, failures=1, window_started_at=now)
            .on_conflict(
                conflict_target=[ThrottleCounter.key],
                # every right-hand side reads the row as it was before this failure
                update={
                    ThrottleCounter.failures: pw.Case(None, [(expired, 1)], ThrottleCounter.failures + 1),
                    ThrottleCounter.window_started_at: pw.Case(
                        None, [(expired, pw.Value(now, converter=ThrottleCounter.window_started_at.db_value))],
                        ThrottleCounter.window_started_at),
                },
            )
            .execute()
        )
        until = now + lockout
        locked = (
            ThrottleCounter.update(locked_until=until)
            .where(
                (ThrottleCounter.key == key)
                & (ThrottleCounter.failures >= max_failures)
                & (ThrottleCounter.locked_until.is_null() | (ThrottleCounter.locked_until <= now))
            )
            .execute()
        )
        if locked:
            audit.record(Actor.system("throttle"), "throttle.locked", account_id=None, target_type="throttle",
                         key=key, until=until.isoformat(), failures=max_failures)
            return until
    return locked_until(key)


def succeed(key: str) -> None:
    """Forget the failures of ``key`` (a right password or code); an active lock stays until it ends."""
    now = clock.now()
    ThrottleCounter.delete().where(
        (ThrottleCounter.key == key)
        & (ThrottleCounter.locked_until.is_null() | (ThrottleCounter.locked_until <= now))
    ).execute()


def attempt(key: str, try_secret: Callable[[], T]) -> T:
    """``try_secret()`` under ``key``'s throttle: LockedOutError while locked, else its result.

    A RosterError from ``try_secret`` counts as a failure and is raised again,
    except by the failure that locks ``key``, which raises LockedOutError so the
    person learns the lock at once; a result forgets the failures.
    """
    check(key)
    try:
        result = try_secret()
    except RosterError:
        until = fail(key)
        if until is not None:
            raise LockedOutError(until) from None
        raise
    succeed(key)
    return result
