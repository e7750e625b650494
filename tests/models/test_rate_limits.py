"""Request budgets (models.rate_limits): counted per process, shared through the database, bounded overshoot."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from playhouse.test_utils import count_queries

from models import rate_limits
from models.rate_limits import Budget, Budgets, RateLimitCounter, record, window_start


def admitted(budget: Budget, subject: str, requests: int) -> int:
    return sum(budget.spend(subject) is None for _ in range(requests))


def test_past_the_budget_a_request_is_refused_until_the_window_ends(database, frozen_clock):
    frozen_clock.advance(seconds=20)  # 09:00:20: the window of 09:00 ends in 40 s
    budget = Budget("scim", 5)
    assert [budget.spend("token-a") for _ in range(5)] == [None] * 5
    assert budget.spend("token-a") == 40
    frozen_clock.advance(seconds=39, microseconds=500_000)
    assert budget.spend("token-a") == 1  # half a second left: rounded up, never 0
    # another subject of the same surface has its own budget
    assert admitted(budget, "token-b", 5) == 5
    frozen_clock.advance(seconds=1)  # 09:01:00.5, a new window
    assert admitted(budget, "token-a", 6) == 5
    # every request of a small budget is written: the database holds the deployment's count
    assert RateLimitCounter.get_by_id("scim:token-a").requests == 5
    assert RateLimitCounter.get_by_id("scim:token-a").window_started_at == dt.datetime(2026, 1, 5, 9, 1)


def test_refused_requests_are_not_counted(database, frozen_clock):
    budget = Budget("oauth", 3)
    assert admitted(budget, "client", 10) == 3
    assert RateLimitCounter.get_by_id("oauth:client").requests == 3


def test_a_process_writes_once_per_batch_and_never_for_a_refusal(database, frozen_clock):
    budget = Budget("scim", 100_000)
    assert budget.flush_every == rate_limits.FLUSH_EVERY == 20
    with count_queries() as counted:
        assert admitted(budget, "busy", 19) == 19
    assert counted.count == 0 and RateLimitCounter.get_or_none(RateLimitCounter.subject == "scim:busy") is None
    with count_queries() as counted:
        assert admitted(budget, "busy", 21) == 21
    assert counted.count == 2  # the 20th and the 40th request
    assert RateLimitCounter.get_by_id("scim:busy").requests == 40
    spent = Budget("scim", 2)
    admitted(spent, "spent", 2)
    with count_queries() as counted:
        assert admitted(spent, "spent", 50) == 0
    assert counted.count == 0


def test_the_batch_shrinks_with_the_budget_and_zero_turns_it_off(database, frozen_clock):
    assert Budget("scim", 6000).flush_every == 20
    assert Budget("scim", 1000).flush_every == 10
    assert Budget("scim", 150).flush_every == 1
    off = Budget("scim", 0)
    with count_queries() as counted:
        assert admitted(off, "anyone", 500) == 500
    assert counted.count == 0


def test_settings_are_whole_numbers_of_requests_per_minute():
    budgets = Budgets.per_minute("1200", 0)
    assert (budgets.scim.limit, budgets.oauth.limit) == (1200, 0)
    with pytest.raises(ValueError, match="ROSTER_SCIM_RATE_LIMIT must be a whole number"):
        Budgets.per_minute("lots", 10)
    with pytest.raises(ValueError, match="ROSTER_OAUTH_RATE_LIMIT must be 0"):
        Budgets.per_minute(10, "-1")


def test_windows_are_aligned_the_same_in_every_process():
    assert window_start(dt.datetime(2026, 1, 5, 9, 0, 59, 999_999)) == dt.datetime(2026, 1, 5, 9, 0)
    assert window_start(dt.datetime(2026, 1, 5, 9, 1)) == dt.datetime(2026, 1, 5, 9, 1)
    assert window_start(dt.datetime(2026, 1, 5, 9, 7, 30), dt.timedelta(minutes=5)) == dt.datetime(2026, 1, 5, 9, 5)


def test_a_write_for_a_newer_window_starts_afresh_and_one_for_an_older_window_changes_nothing(database):
    nine, later = dt.datetime(2026, 1, 5, 9, 0), dt.datetime(2026, 1, 5, 9, 1)
    assert record("s", nine, 3) == 3
    assert record("s", nine, 4) == 7
    assert record("s", later, 2) == 2
    assert record("s", nine, 50) is None  # a process whose clock lags: its old window is over
    row = RateLimitCounter.get_by_id("s")
    assert (row.window_started_at, row.requests) == (later, 2)


def test_two_processes_share_the_budget_within_the_bound(database, frozen_clock):
    first, second = Budget("scim", 1000), Budget("scim", 1000)  # two workers of one deployment
    assert first.flush_every == 10
    counts = [0, 0]
    refused_at = None
    for i in range(3000):
        if (first, second)[i % 2].spend("token") is None:
            counts[i % 2] += 1
        elif refused_at is None:
            refused_at = sum(counts)
    total = sum(counts)
    # never refused before the budget was spent; at most one batch per process beyond it
    assert refused_at is not None and refused_at >= 1000
    assert 1000 <= total <= 1000 + 2 * first.flush_every
    assert counts[0] > 400 and counts[1] > 400  # both served, from one shared count


def test_a_process_that_slept_through_the_window_learns_the_total_within_one_batch(database, frozen_clock):
    idle, busy = Budget("scim", 1000), Budget("scim", 1000)
    assert admitted(idle, "token", 10) == 10  # writes once (10 = one batch) and sees 10
    assert admitted(busy, "token", 2000) == 990
    # the idle one still believes 10 were made: it admits until its next write shows the total
    assert admitted(idle, "token", 100) == idle.flush_every
    assert idle.spend("token") == 60


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(limit=st.integers(1, 400), processes=st.integers(1, 4),
       steps=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 60), st.booleans()), min_size=1, max_size=40))
def test_any_interleaving_admits_the_budget_and_at_most_a_batch_per_process_more(database, frozen_clock, limit,
                                                                                   processes, steps):
    subject = secrets.token_hex(8)  # examples share the database: each has its own subject
    budgets = [Budget("scim", limit) for _ in range(processes)]
    admitted_in_window = offered_in_window = 0
    refused_early = False
    for process, burst, next_minute in steps:
        for _ in range(burst):
            offered_in_window += 1
            if budgets[process % processes].spend(subject) is None:
                admitted_in_window += 1
            elif admitted_in_window < limit:
                refused_early = True
        assert not refused_early
        assert admitted_in_window <= limit + processes * budgets[0].flush_every
        assert admitted_in_window >= min(offered_in_window, limit)
        if next_minute:
            frozen_clock.advance(minutes=1)
            admitted_in_window = offered_in_window = 0
