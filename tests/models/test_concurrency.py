"""The database, not a check-then-insert, keeps the invariants when requests race.

Threads each get their own connection (peewee keeps connections per thread),
so on PostgreSQL these are concurrent transactions on separate connections
and on SQLite concurrent writers queuing on the busy timeout.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from typing import Any

import pytest

from models import (
    Actor,
    ConflictError,
    Invitation,
    Membership,
    PolicyViolationError,
    User,
    accounts,
    invitations,
    members,
)
from models.database import bind, db, open_database
from models.deployment import Deployment
from models.settings import Settings
from oidc.links import PageLinks

PASSWORD = "a long and unusual passphrase"
RACERS = 6


def race(work: list[Callable[[], Any]]) -> list[Any]:
    """Run each callable in its own thread, released at the same instant; return results or exceptions."""
    barrier = threading.Barrier(len(work))
    results: list[Any] = [None] * len(work)

    def run(index: int) -> None:
        db.connect(reuse_if_open=True)
        try:
            barrier.wait()
            results[index] = work[index]()
        except Exception as exc:  # the outcome under test, collected for the assertions
            results[index] = exc
        finally:
            db.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(work))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


@pytest.fixture
def many_accounts(database, cli_actor):
    return [accounts.create_account(f"Account {i}", "vendor", by=cli_actor) for i in range(RACERS)]


def test_one_user_per_email_when_invites_race(many_accounts, cli_actor, deployment):
    db.close()
    results = race([lambda a=a: invitations.invite(a, "Racer@Example.com", by=cli_actor,
                                                   deployment=deployment) for a in many_accounts])

    db.connect(reuse_if_open=True)
    assert all(r.outcome == "invited" for r in results), results
    assert User.select().where(User.email_key == "racer@example.com").count() == 1
    assert Membership.select().count() == RACERS


def test_one_membership_per_user_and_account_when_adds_race(many_accounts, cli_actor, deployment):
    account = many_accounts[0]
    db.close()
    results = race([lambda: members.add_user(account, "same@example.com", password=PASSWORD, by=cli_actor,
                                             deployment=deployment)] * RACERS)

    db.connect(reuse_if_open=True)
    winners = [r for r in results if isinstance(r, members.AddedUser)]
    assert len(winners) == 1, results
    assert all(isinstance(r, ConflictError) for r in results if r not in winners)
    assert Membership.select().where(Membership.account == account.id).count() == 1


def test_one_pending_invitation_per_account_and_email_when_invites_race(many_accounts, cli_actor, deployment):
    account = many_accounts[0]
    db.close()
    results = race([lambda: invitations.bulk_invite(account, ["dup@example.com"], by=cli_actor,
                                                    deployment=deployment)[0]] * RACERS)

    db.connect(reuse_if_open=True)
    outcomes = sorted(r.outcome for r in results)
    assert outcomes == ["already_invited"] * (RACERS - 1) + ["invited"], results
    assert Invitation.select().where(Invitation.account == account.id).count() == 1
    assert Membership.select().where(Membership.account == account.id).count() == 1


@pytest.mark.parametrize("how", ["demote", "remove", "deactivate"])
def test_r1_holds_when_two_admins_are_taken_away_at_once(database, cli_actor, how, deployment):
    for round_ in range(5):
        account = accounts.create_account(f"Race {how} {round_}", "vendor", by=cli_actor)
        pair = [members.add_user(account, f"admin{i}@race.example", role="admin", by=cli_actor,
                                 deployment=deployment).membership
                for i in range(2)]
        act = {"demote": lambda m: members.set_role(m, "user", by=cli_actor),
               "remove": lambda m: members.remove(m, by=cli_actor),
               "deactivate": lambda m: members.deactivate(m, by=cli_actor)}[how]
        db.close()
        results = race([lambda m=m, act=act: act(m) for m in pair])

        db.connect(reuse_if_open=True)
        refused = [r for r in results if isinstance(r, PolicyViolationError)]
        assert len(refused) == 1, results
        active_admins = Membership.select().where((Membership.account == account.id)
                                                  & (Membership.status == "active")
                                                  & (Membership.role == "admin")).count()
        assert active_admins == 1


def _invite_many(url: str, account_id: str, worker: int, count: int) -> None:
    bind(open_database(url))
    deployment = Deployment(Settings(secret_key="test", base_url="http://roster.test"), PageLinks("http://roster.test"))
    db.connect()
    account = accounts.get_account(account_id)
    for i in range(count):
        # one transaction per invitation: the worst case for write contention
        invitations.invite(account, f"w{worker}-{i}@example.com", by=Actor.cli(), deployment=deployment)
    db.close()


def test_several_processes_write_at_once_and_nothing_is_lost(database_url, database, cli_actor):
    account = accounts.create_account("Busy", "vendor", by=cli_actor)
    db.close()
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_invite_many, args=(database_url, account.id, w, 60)) for w in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(120)
    assert [p.exitcode for p in workers] == [0, 0, 0, 0]
    db.connect(reuse_if_open=True)
    assert Invitation.select().where(Invitation.account == account.id).count() == 240
    assert User.select().count() == 240
