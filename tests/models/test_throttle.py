"""Brute-force throttling: counters in the database, a temporary lockout a person can read."""

from __future__ import annotations

import datetime as dt

import pytest

from models import AuditEvent, RosterError, ThrottleCounter, throttle
from models.database import db

from .test_concurrency import race

KEY = throttle.login_email_key("ada@example.com")


def failures(key: str = KEY) -> int:
    row = ThrottleCounter.get_or_none(ThrottleCounter.key == key)
    return row.failures if row else 0


def test_keys():
    assert throttle.login_email_key("ada@example.com") == "login:email:ada@example.com"
    assert throttle.login_ip_key("2001:db8::1") == "login:ip:2001:db8::1"
    assert throttle.totp_key("u1") == "totp:u1"


def test_locks_after_five_failures_in_the_window(database, frozen_clock):
    for _ in range(4):
        assert throttle.fail(KEY) is None
        throttle.check(KEY)
    until = throttle.fail(KEY)

    assert until == frozen_clock.current + dt.timedelta(minutes=15)
    with pytest.raises(throttle.LockedOutError) as raised:
        throttle.check(KEY)
    assert isinstance(raised.value, RosterError)
    assert raised.value.until == until
    assert str(raised.value) == "Too many attempts; try again after 09:15 UTC."
    assert raised.value.code == "locked_out"
    event = AuditEvent.get(AuditEvent.action == "throttle.locked")
    assert event.detail["key"] == KEY
    # other keys are not affected
    throttle.check(throttle.login_ip_key("192.0.2.1"))


def test_the_message_never_names_a_time_before_the_lock_ends(database, frozen_clock):
    frozen_clock.advance(seconds=20)
    for _ in range(5):
        throttle.fail(KEY)
    with pytest.raises(throttle.LockedOutError, match="after 09:16 UTC"):
        throttle.check(KEY)


def test_the_lock_expires(database, frozen_clock):
    for _ in range(5):
        throttle.fail(KEY)
    frozen_clock.advance(minutes=14, seconds=59)
    with pytest.raises(throttle.LockedOutError):
        throttle.check(KEY)
    frozen_clock.advance(seconds=1)
    throttle.check(KEY)
    assert throttle.locked_until(KEY) is None


def test_failures_outside_the_window_are_forgotten(database, frozen_clock):
    for _ in range(4):
        throttle.fail(KEY)
    frozen_clock.advance(minutes=15)
    assert throttle.fail(KEY) is None
    assert failures() == 1
    for _ in range(3):
        throttle.fail(KEY)
    throttle.check(KEY)
    assert throttle.fail(KEY) is not None


def test_failing_while_locked_does_not_extend_the_lock(database, frozen_clock):
    for _ in range(5):
        throttle.fail(KEY)
    first = throttle.locked_until(KEY)
    frozen_clock.advance(minutes=5)
    assert throttle.fail(KEY) == first
    assert AuditEvent.select().where(AuditEvent.action == "throttle.locked").count() == 1


def test_succeed_resets_the_count(database, frozen_clock):
    for _ in range(4):
        throttle.fail(KEY)
    throttle.succeed(KEY)
    assert failures() == 0
    for _ in range(4):
        assert throttle.fail(KEY) is None
    throttle.check(KEY)


def test_succeed_does_not_lift_an_active_lock(database, frozen_clock):
    for _ in range(5):
        throttle.fail(KEY)
    throttle.succeed(KEY)
    with pytest.raises(throttle.LockedOutError):
        throttle.check(KEY)
    frozen_clock.advance(minutes=15)
    throttle.succeed(KEY)
    assert failures() == 0


def test_limits_can_be_tuned_per_call(database, frozen_clock):
    assert throttle.fail(KEY, max_failures=1, lockout=dt.timedelta(minutes=1)) == (
        frozen_clock.current + dt.timedelta(minutes=1))
    with pytest.raises(throttle.LockedOutError, match="after 09:01 UTC"):
        throttle.check(KEY)


def test_concurrent_failures_are_all_counted(database, frozen_clock):
    racers = 8
    db.close()
    results = race([lambda: throttle.fail(KEY, max_failures=100)] * racers)
    db.connect(reuse_if_open=True)

    assert all(r is None for r in results), results
    assert failures() == racers


def test_concurrent_failures_lock_exactly_once(database, frozen_clock):
    db.close()
    results = race([lambda: throttle.fail(KEY)] * 8)
    db.connect(reuse_if_open=True)

    assert not [r for r in results if isinstance(r, Exception)], results
    assert failures() == 8
    with pytest.raises(throttle.LockedOutError):
        throttle.check(KEY)
    assert AuditEvent.select().where(AuditEvent.action == "throttle.locked").count() == 1
