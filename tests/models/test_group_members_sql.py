"""Group membership changes are set operations in SQL: the work follows the change, not the group's size.

Both member tables are held to it: group_member (memberships, which carry
the group's permissions) and group_record (the directory records SCIM names).
"""

from __future__ import annotations

from typing import Any

import pytest
from playhouse.test_utils import count_queries

from models import GroupMember, InvalidInputError, directory_groups
from models.directory_groups import MemberChanges
from models.fields import new_id
from models.tenancy import DirectoryRecord, GroupRecord, Membership, User


def _people(account: Any, count: int, prefix: str) -> list[str]:
    """``count`` linked directory records of ``account``, inserted in bulk; their ids."""
    users, memberships, records = [], [], []
    for i in range(count):
        email = f"{prefix}{i}@bulk.example"
        user_id, membership_id = new_id(), new_id()
        users.append({"id": user_id, "email": email, "email_key": email, "status": "active"})
        memberships.append({"id": membership_id, "user": user_id, "account": account.id, "status": "active"})
        records.append({"id": new_id(), "account": account.id, "membership": membership_id, "user_name": email,
                        "user_name_key": email, "attributes": {}})
    for model, rows in ((User, users), (Membership, memberships), (DirectoryRecord, records)):
        for start in range(0, count, 500):
            model.insert_many(rows[start : start + 500]).execute()
    return [r["id"] for r in records]


def _statements(change: Any) -> list[str]:
    with count_queries() as counted:
        change()
    return [q.msg[0] for q in counted.get_queries()]


def _grown(account: Any, by: Any, size: int, name: str) -> Any:
    """A group of ``size`` members with directory records, grown 500 at a time as the directory would."""
    group = directory_groups.create_directory_group(account, name, by=by)
    records = _people(account, size, name)
    for start in range(0, size, 500):
        directory_groups.update_group(group, members=MemberChanges(add=tuple(records[start : start + 500])), by=by)
    return group


def _reads_the_member_list(statement: str) -> bool:
    return (statement.startswith("SELECT") and ("group_member" in statement or "group_record" in statement)
            and "COUNT" not in statement and "IN (SELECT" not in statement)


@pytest.mark.parametrize("shape", ["add", "remove", "replace"])
def test_statements_do_not_grow_with_the_group(account, cli_actor, shape):
    small, large = _grown(account, cli_actor, 50, "small"), _grown(account, cli_actor, 5_000, "large")
    assert GroupMember.select().where(GroupMember.group == large.id).count() == 5_000
    assert GroupRecord.select().where(GroupRecord.group == large.id).count() == 5_000
    counts = []
    for group in (small, large):
        newcomers = _people(account, 100, f"new-{group.display_name}-")
        directory_groups.update_group(group, members=MemberChanges(add=tuple(newcomers[:50])), by=cli_actor)
        changes = {"add": MemberChanges(add=tuple(newcomers)),
                   "remove": MemberChanges(remove=tuple(newcomers[:50])),
                   "replace": MemberChanges(add=tuple(newcomers), replace=True)}[shape]
        statements = _statements(lambda g=group, c=changes: directory_groups.update_group(g, members=c, by=cli_actor))
        counts.append(len(statements))
        # no statement reads the group's member list itself
        assert not any(_reads_the_member_list(s) for s in statements), statements
    assert counts[0] == counts[1]
    expected = {"add": 5_100, "remove": 5_000, "replace": 100}[shape]
    assert GroupMember.select().where(GroupMember.group == large.id).count() == expected
    assert GroupRecord.select().where(GroupRecord.group == large.id).count() == expected


def test_adding_100_to_5000_touches_100_rows(account, cli_actor):
    group = _grown(account, cli_actor, 5_000, "big")
    newcomers = _people(account, 100, "late")
    before = GroupMember.select().count(), GroupRecord.select().count()
    directory_groups.update_group(group, members=MemberChanges(add=tuple(newcomers)), by=cli_actor)
    assert (GroupMember.select().count(), GroupRecord.select().count()) == (before[0] + 100, before[1] + 100)
    # 10 bulk adds, then this one
    assert directory_groups.find_group(account, group.id).version == group.version + 1 + 10


def test_unlinked_records_are_members_unknown_ones_are_refused_and_nothing_changes(account, cli_actor):
    group = _grown(account, cli_actor, 3, "few")
    [unlinked] = _people(account, 1, "loose")
    DirectoryRecord.update(membership=None, unlinked_reason="no_valid_email").where(
        DirectoryRecord.id == unlinked).execute()
    [fine] = _people(account, 1, "fine")
    with pytest.raises(InvalidInputError, match="No user missing"):
        directory_groups.update_group(group, display_name="Renamed",
                                      members=MemberChanges(add=(fine, unlinked, "missing")), by=cli_actor)
    fresh = directory_groups.find_group(account, group.id)
    assert fresh.display_name == "few" and fresh.version == group.version + 1  # one bulk add in _grown
    assert GroupMember.select().where(GroupMember.group == group.id).count() == 3
    assert GroupRecord.select().where(GroupRecord.group == group.id).count() == 3

    directory_groups.update_group(group, members=MemberChanges(add=(fine, unlinked)), by=cli_actor)
    assert [r for r, _, _ in directory_groups.directory_members([group.id])[group.id]].count(unlinked) == 1
    assert GroupRecord.select().where(GroupRecord.group == group.id).count() == 5
    assert GroupMember.select().where(GroupMember.group == group.id).count() == 4  # the unlinked one has no person


def test_a_group_of_records_the_console_also_holds_lists_each_member_once(account, cli_actor):
    group = _grown(account, cli_actor, 3, "twice")
    listed = directory_groups.directory_members([group.id])[group.id]
    assert len(listed) == len({r for r, _, _ in listed}) == 3
