"""DirectoryRecord.active, stored for sorts and filters, always says what directory.is_active says.

``is_active`` is the rule (the membership's status, else what the directory
last said); the column is a copy kept by every writer: SCIM creates and
replaces, console deactivation and reactivation, removal, user deletion,
invitations revoked and accepted. Generated sequences of those operations,
by every way in, on both databases; after each step the column and the
rule agree for every record of the account.
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from models import Actor, accounts, directory, invitations, members
from models.deployment import Deployment
from models.errors import RosterError
from models.tenancy import DirectoryRecord, Invitation, Membership, User
from scim_server.listing import fetch_page
from scim_server.search import ListQuery
from scim_server.user_listing import USERS

from ..conftest import SECRET_KEY

PEOPLE = 2  # few, so the steps meet on the same person
PASSWORD = "correct horse battery staple"
BY = Actor.cli("tests")
_accounts = itertools.count()


def email(person: int) -> str:
    return f"p{person}@acme.example"


def membership(account: Any, person: int) -> Membership | None:
    user = User.get_or_none(User.email_key == email(person))
    if user is None:
        return None
    return Membership.get_or_none((Membership.user == user.id) & (Membership.account == account.id))


def record(account: Any, person: int) -> DirectoryRecord | None:
    return DirectoryRecord.get_or_none((DirectoryRecord.account == account.id)
                                       & (DirectoryRecord.user_name_key == email(person)))


def scim_create(account: Any, person: int, active: bool, *, deployment: Deployment) -> None:
    directory.create_record(account, email(person), {"emails": [{"value": email(person)}], "active": active},
                            None, by=BY, deployment=deployment)


def scim_set(account: Any, person: int, active: bool | None, *, deployment: Deployment) -> None:
    """A PUT (with or without ``active``) or a PATCH of ``active`` alone."""
    found = record(account, person)
    if found is None:
        return

    def change(current: DirectoryRecord, _membership: Membership | None) -> directory.Replacement:
        attributes = {key: value for key, value in current.attributes.items() if key != "active"}
        if active is not None:
            attributes["active"] = active
        return current.user_name, attributes, current.external_id, None

    directory.update_record(account.id, found.id, change, by=BY, deployment=deployment)


def scim_delete(account: Any, person: int, *, deployment: Deployment) -> None:
    found = record(account, person)
    if found is not None:
        directory.delete_record(account.id, found.id, by=BY)


def console(account: Any, person: int, action: str, *, deployment: Deployment) -> None:
    found = membership(account, person)
    if found is None:
        return
    if action == "deactivate":
        members.deactivate(found, by=BY)
    elif action == "reactivate":
        members.reactivate(found, by=BY)
    else:
        members.remove(found, by=BY)


def add(account: Any, person: int, *, deployment: Deployment) -> None:
    members.add_user(account, email(person), given_name="P", family_name="Q", password=PASSWORD, by=BY, via="cli",
                     deployment=deployment)


def invite(account: Any, person: int, *, deployment: Deployment) -> None:
    invitations.invite(account, email(person), by=BY, deployment=deployment)


def pending_invitation(account: Any, person: int) -> Invitation | None:
    return Invitation.get_or_none((Invitation.account == account.id) & (Invitation.email_key == email(person))
                                  & (Invitation.status == "pending"))


def revoke(account: Any, person: int, *, deployment: Deployment) -> None:
    found = pending_invitation(account, person)
    if found is not None:
        invitations.revoke(found, by=BY)


def accept(account: Any, person: int, *, deployment: Deployment) -> None:
    found = pending_invitation(account, person)
    if found is not None:
        link = invitations.link(found, by=BY, deployment=deployment)
        invitations.accept(link.rsplit("/", 1)[1], given_name="P", family_name="Q", password=PASSWORD,
                           accept_terms=True, hasher=deployment.hasher)


def delete_user(account: Any, person: int, *, deployment: Deployment) -> None:
    user = User.get_or_none(User.email_key == email(person))
    if user is not None:
        members.delete_user(user, by=BY)


# each step is called as step(account, person, *arguments, deployment=deployment)
STEPS = st.one_of(
    st.tuples(st.just(scim_create), st.booleans()),
    st.tuples(st.just(scim_set), st.sampled_from([True, False, None])),
    st.tuples(st.just(scim_delete)),
    st.tuples(st.just(console), st.sampled_from(["deactivate", "reactivate", "remove"])),
    st.tuples(st.just(add)),
    st.tuples(st.just(invite)),
    st.tuples(st.just(revoke)),
    st.tuples(st.just(accept)),
    st.tuples(st.just(delete_user)),
)


def disagreements(account: Any) -> list[tuple[str, bool, bool]]:
    """Records whose column and rule differ; and the SCIM filter, which reads the column, answers by the rule."""
    found, inactive = [], set()
    for stored in DirectoryRecord.select().where(DirectoryRecord.account == account.id):
        rule = directory.is_active(stored, directory.membership_of(stored))
        if stored.active != rule:
            found.append((stored.user_name, stored.active, rule))
        if not rule:
            inactive.add(stored.id)
    page = fetch_page(USERS, account, ListQuery.build(filter="active eq false", count=100), cursor_key=SECRET_KEY,
                      full=False)
    assert {row.id for row in page.rows} == inactive and page.total == len(inactive)
    return found


# the directory said inactive, the console reactivated, then the membership went: the record is inactive again
DIRECTORY_THEN_CONSOLE = [((scim_create, True), 0), ((scim_set, False), 0), ((console, "reactivate"), 0)]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.tuples(STEPS, st.integers(0, PEOPLE - 1)), min_size=1, max_size=14))
@example(steps=[*DIRECTORY_THEN_CONSOLE, ((revoke,), 0)])  # an invited membership revoked
@example(steps=[*DIRECTORY_THEN_CONSOLE, ((console, "remove"), 0)])
@example(steps=[((scim_create, False), 1), ((console, "reactivate"), 1), ((delete_user,), 1)])
def test_the_stored_active_follows_every_writer(database, steps, deployment):
    account = accounts.create_account(f"Acme {next(_accounts)}", "vendor", by=BY)
    members.add_user(account, "admin@acme.example", role="admin", password=PASSWORD, by=BY, via="cli",
                     deployment=deployment)
    for (operation, *arguments), person in steps:
        try:
            operation(account, person, *arguments, deployment=deployment)
        except RosterError:
            pass  # refused (a taken userName, a person already a member): nothing changed
        assert disagreements(account) == [], (operation.__name__, person, arguments)


def test_a_record_linked_to_nobody_keeps_what_its_directory_said_once_its_member_is_removed(account, admin,
                                                                                           deployment):
    """Deactivated in the console, then removed: the record is as active as its directory last said."""
    scim_create(account, 0, True, deployment=deployment)
    console(account, 0, "deactivate", deployment=deployment)
    assert record(account, 0).active is False
    console(account, 0, "remove", deployment=deployment)
    assert record(account, 0).membership_id is None
    assert record(account, 0).active is True
    scim_set(account, 0, False, deployment=deployment)
    assert record(account, 0).active is False
