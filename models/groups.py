"""Groups of an account as the console and CLI change them; the directory's side is models.directory_groups.

``create_group`` (shared by both) is defined there and offered here with the console's other changes.

Membership changes are set operations in SQL.

Every writer of an account's groups takes the account lock (models.accounts.lock)
before it reads or writes a group, a member row, a record or a membership, like
every other writer of the account (models.directory, models.members): two
changes of one account then queue on one row in one order, never on each
other's rows in opposite orders (a deadlock), and each sees the other's
committed result (a user deleted meanwhile is unknown, not a foreign-key error).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import peewee

from . import audit, clock, notifications, versions
from .accounts import lock, require_admin
from .audit import Actor
from .database import transaction
from .directory_groups import clean_name, locked_group
from .directory_groups import create_group as create_group  # offered here: see above
from .errors import ConflictError, NotFoundError
from .i18n import Text
from .tenancy import Account, DirectoryRecord, Group, GroupMember, GroupRecord, Membership


def resolve_groups(account: Account, refs: Sequence[str]) -> list[Group]:
    """Groups of ``account`` named by id or display name; an unknown one is an error."""
    if not refs:
        return []
    found = list(
        Group.select().where(
            (Group.account == account.id)
            & (Group.id.in_(list(refs)) | Group.display_name_key.in_([r.lower() for r in refs]))
        )
    )
    known = {g.id for g in found} | {g.display_name_key for g in found}
    missing = [r for r in refs if r not in known and r.lower() not in known]
    if missing:
        raise NotFoundError(Text("No group %(refs)s in %(account)s.", refs=", ".join(map(repr, missing)),
                                 account=account.name), field="groups")
    return found


def get_group(account: Account, ref: str) -> Group:
    [group] = resolve_groups(account, [ref])
    return group


def rename_group(group: Group, name: str, *, by: Actor) -> Group:
    name = clean_name(name)
    with transaction():
        require_admin(group.account_id, by)
        locked_group(group)
        try:
            with transaction():
                Group.update(display_name=name, display_name_key=name.lower(), version=Group.version + 1,
                             updated_at=clock.now()).where(Group.id == group.id).execute()
        except peewee.IntegrityError as exc:
            raise ConflictError(Text("A group named %(name)r exists already.", name=name), field="display_name",
                                reason="uniqueness") from exc
        audit.record(by, "group.renamed", account_id=group.account_id, target_type="group", target_id=group.id,
                     name=name)
    return Group.get_by_id(group.id)


def delete_group(group: Group, *, by: Actor, expected: versions.Expected = None) -> None:
    """Delete the group; its member rows go with it (ON DELETE CASCADE). NotFoundError when it is gone already.

    PreconditionFailedError, and nothing changed, when its version under the lock is not ``expected``.
    """
    with transaction():
        require_admin(group.account_id, by)
        locked_group(group, expected)
        Group.delete().where(Group.id == group.id).execute()
        audit.record(by, "group.deleted", account_id=group.account_id, target_type="group", target_id=group.id,
                     name=group.display_name)


def _memberships_in(account_id: str, membership_ids: Iterable[str]) -> list[str]:
    ids = list(dict.fromkeys(membership_ids))
    found = {m.id for m in Membership.select(Membership.id).where(
        (Membership.account == account_id) & Membership.id.in_(ids))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFoundError(Text("No member %(ids)s in this account.", ids=", ".join(missing)), field="members")
    return ids


def add_members(group: Group, membership_ids: Iterable[str], *, by: Actor) -> int:
    """Add memberships of the group's account; touches only the rows added. Returns how many were new."""
    with transaction():
        require_admin(group.account_id, by)
        locked_group(group)
        ids = _memberships_in(group.account_id, membership_ids)
        if not ids:
            return 0
        before = {link.membership_id for link in GroupMember.select(GroupMember.membership).where(
            (GroupMember.group == group.id) & GroupMember.membership.in_(ids))}
        GroupMember.insert_many([{"group": group.id, "membership": m} for m in ids]).on_conflict_ignore().execute()
        Group.update(version=Group.version + 1, updated_at=clock.now()).where(Group.id == group.id).execute()
        audit.record(by, "group.members_added", account_id=group.account_id, target_type="group",
                     target_id=group.id, members=ids)
        _tell_members(group, [m for m in ids if m not in before], by, added=True)
    return len(ids) - len(before)


def remove_members(group: Group, membership_ids: Iterable[str], *, by: Actor) -> int:
    with transaction():
        require_admin(group.account_id, by)
        locked_group(group)
        ids = list(dict.fromkeys(membership_ids))
        members = [link.membership_id for link in GroupMember.select(GroupMember.membership).where(
            (GroupMember.group == group.id) & GroupMember.membership.in_(ids))]
        removed = GroupMember.delete().where(
            (GroupMember.group == group.id) & GroupMember.membership.in_(ids)).execute()
        _forget_records_of(ids, [group.id])
        Group.update(version=Group.version + 1, updated_at=clock.now()).where(Group.id == group.id).execute()
        audit.record(by, "group.members_removed", account_id=group.account_id, target_type="group",
                     target_id=group.id, members=ids)
        _tell_members(group, members, by, added=False)
    return int(removed)


def _tell_members(group: Group, membership_ids: list[str], by: Actor, *, added: bool) -> None:
    """The account-change mail to each person an admin put into (or took out of) ``group``, in one statement.

    Only the console's and the CLI's changes: a SCIM client's group pushes
    (models.directory_groups) mirror a directory that can move thousands of
    people at once, whose own tools tell them, so Roster stays silent there.
    """
    if membership_ids:
        notifications.notify_many("groups_changed", account_id=group.account_id, by=by, membership_ids=membership_ids,
                                  **{"groups_added" if added else "groups_removed": [group.display_name]})


def _forget_records_of(membership_ids: list[str], group_ids: list[str]) -> None:
    """A person taken out of groups by hand leaves them in the directory's view too (their records go)."""
    records = DirectoryRecord.select(DirectoryRecord.id).where(DirectoryRecord.membership.in_(membership_ids))
    GroupRecord.delete().where(GroupRecord.group.in_(group_ids) & GroupRecord.record.in_(records)).execute()


def set_groups(membership: Membership, group_refs: Sequence[str], *, by: Actor) -> list[Group]:
    """Make ``membership`` a member of exactly these groups of its account."""
    with transaction():
        require_admin(membership.account_id, by)
        lock(membership.account_id)
        status = Membership.select(Membership.status).where(Membership.id == membership.id).scalar()
        if status is None:
            raise NotFoundError("This membership does not exist any more.")
        account = Account.get_by_id(membership.account_id)
        groups = resolve_groups(account, group_refs)
        wanted = {g.id for g in groups}
        names = {g.id: g.display_name for g in Group.select(Group.id, Group.display_name).join(GroupMember).where(
            GroupMember.membership == membership.id)}
        current = set(names)
        if current - wanted:
            GroupMember.delete().where((GroupMember.membership == membership.id)
                                       & GroupMember.group.in_(list(current - wanted))).execute()
            _forget_records_of([membership.id], list(current - wanted))
        if wanted - current:
            GroupMember.insert_many([{"group": g, "membership": membership.id} for g in wanted - current]).execute()
        changed = list(current ^ wanted)
        if changed:
            Group.update(version=Group.version + 1, updated_at=clock.now()).where(Group.id.in_(changed)).execute()
        audit.record(by, "membership.groups_changed", account_id=account.id, target_type="membership",
                     target_id=membership.id, groups=sorted(wanted))
        if changed and status != "invited":  # an invitation's groups are the invitee's news when they accept
            notifications.notify("groups_changed", membership.user_id, account_id=account.id, by=by,
                                 groups_added=sorted(g.display_name for g in groups if g.id not in current),
                                 groups_removed=sorted(names[g] for g in current - wanted))
    return groups


def list_groups(account: Account) -> list[Group]:
    return list(Group.select().where(Group.account == account.id).order_by(Group.display_name_key))


def group_member_emails(group: Group) -> list[str]:
    from .tenancy import User

    return [u.email for u in User.select(User.email).join(Membership).join(GroupMember).where(
        GroupMember.group == group.id).order_by(User.email_key)]
