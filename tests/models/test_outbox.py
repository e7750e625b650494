"""The outbox (models.outbox): claims are leases, failures back off, no message is claimed twice."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from models import OutboxMessage, outbox
from models.database import db, transaction

MESSAGES = 200
CLAIMERS = 6


def queue(count: int = 1, kind: str = "mail") -> list[int]:
    with transaction():
        outbox.enqueue(*[
            {**outbox.mail(f"person{i}@example.com", f"Subject {i}", f"Body {i}"), "kind": kind} for i in range(count)
        ])
    return [m.id for m in OutboxMessage.select(OutboxMessage.id).order_by(OutboxMessage.id)]


def fetch(message_id: int) -> OutboxMessage:
    return OutboxMessage.get_by_id(message_id)


def test_enqueue_claim_and_mark_sent(database, frozen_clock):
    [message_id] = queue()

    [claimed] = outbox.claim(worker="sender-a")

    assert claimed.id == message_id
    assert claimed.recipient == "person0@example.com"
    assert claimed.subject == "Subject 0"
    assert claimed.body == "Body 0"
    assert claimed.claimed_by.startswith("sender-a:")
    assert claimed.lease_until == frozen_clock.current + outbox.LEASE
    assert outbox.pending_count() == 1

    outbox.mark_sent(claimed)

    sent = fetch(message_id)
    assert (sent.status, sent.attempts, sent.sent_at, sent.lease_until) == ("sent", 1, frozen_clock.current, None)
    assert outbox.pending_count() == 0
    assert outbox.claim() == []


def test_enqueue_in_a_rolled_back_transaction_queues_nothing(database):
    with pytest.raises(RuntimeError), transaction():
        outbox.enqueue(outbox.mail("a@example.com", "S", "B"))
        raise RuntimeError("the change failed")

    assert OutboxMessage.select().count() == 0


def test_claim_respects_the_limit_and_order(database):
    ids = queue(5)

    first = outbox.claim(limit=2)
    second = outbox.claim(limit=10)

    assert [m.id for m in first] == ids[:2]
    assert [m.id for m in second] == ids[2:]
    assert first[0].claimed_by != second[0].claimed_by


def test_a_leased_message_is_claimable_again_only_when_the_lease_expires(database, frozen_clock):
    [message_id] = queue()
    [first] = outbox.claim(worker="sender-that-dies")

    frozen_clock.advance(seconds=outbox.LEASE.total_seconds())
    assert outbox.claim(worker="sender-b") == []  # held up to and including lease_until

    frozen_clock.advance(seconds=1)
    [again] = outbox.claim(worker="sender-b")

    assert again.id == message_id
    assert again.claimed_by.startswith("sender-b:")
    # the first sender lost its lease: whatever it reports late changes nothing
    outbox.mark_sent(first)
    assert fetch(message_id).status == "pending"
    outbox.mark_sent(again)
    assert fetch(message_id).status == "sent"


def test_a_message_due_later_is_not_claimed_before_then(database, frozen_clock):
    [message_id] = queue()
    OutboxMessage.update(next_attempt_at=frozen_clock.current + dt.timedelta(minutes=1)).execute()

    assert outbox.claim() == []
    frozen_clock.advance(minutes=1)
    assert [m.id for m in outbox.claim()] == [message_id]


def test_mark_failed_backs_off_exponentially_then_gives_up(database, frozen_clock):
    [message_id] = queue()
    expected_delays = [5, 10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600]  # seconds, capped at an hour
    assert len(expected_delays) == outbox.MAX_ATTEMPTS - 1

    for attempt, delay in enumerate(expected_delays, start=1):
        [message] = outbox.claim()
        outbox.mark_failed(message, f"attempt {attempt} failed")
        failed = fetch(message_id)
        assert (failed.status, failed.attempts, failed.last_error) == ("pending", attempt, f"attempt {attempt} failed")
        assert failed.next_attempt_at == frozen_clock.current + dt.timedelta(seconds=delay)
        assert failed.lease_until is None

        frozen_clock.advance(seconds=delay - 1)
        assert outbox.claim() == [], f"claimed before the backoff of attempt {attempt} ended"
        frozen_clock.advance(seconds=1)

    [message] = outbox.claim()
    outbox.mark_failed(message, "the last straw")

    given_up = fetch(message_id)
    assert (given_up.status, given_up.attempts) == ("failed", outbox.MAX_ATTEMPTS)
    frozen_clock.advance(days=1)
    assert outbox.claim() == []
    assert outbox.pending_count() == 0


def test_the_error_kept_is_bounded(database):
    queue()
    [message] = outbox.claim()

    outbox.mark_failed(message, "x" * 10_000)

    assert len(fetch(message.id).last_error) == 2000


def test_concurrent_claims_take_every_message_exactly_once(database):
    """Several threads (on PostgreSQL, several connections) claim 200 messages in small batches."""
    ids = queue(MESSAGES)
    barrier = threading.Barrier(CLAIMERS)
    claimed: list[list[int]] = [[] for _ in range(CLAIMERS)]
    errors: list[BaseException] = []

    def claimer(index: int) -> None:
        db.connect(reuse_if_open=True)
        try:
            barrier.wait()
            while batch := outbox.claim(limit=7, worker=f"claimer-{index}"):
                claimed[index].extend(m.id for m in batch)
        except BaseException as exc:  # collected so the test fails with it, not a silent thread
            errors.append(exc)
        finally:
            db.close()

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(CLAIMERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)

    assert not errors
    every = [message_id for batch in claimed for message_id in batch]
    assert sorted(every) == ids  # each one, once
    assert outbox.claim() == []
    assert OutboxMessage.select().where(OutboxMessage.claimed_by.is_null()).count() == 0
