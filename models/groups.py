"""Groups of an account: membership changes are set operations in SQL."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import peewee

from . import audit, clock
from .accounts import require_admin
from .audit import Actor
from .database import transaction
from .errors import ConflictError, InvalidInputError, NotFoundError
from .tenancy import Account, Group, GroupMember, Membership


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
        raise NotFoundError(f"No group {', '.join(map(repr, missing))} in {account.name}.", field="groups")
    return found


def _clean_name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 256:
        raise InvalidInputError("A group name of 1 to 256 characters is required.", field="display_name")
    return name


def create_group(account: Account, name: str, *, external_id: str | None = None,
                 permissions: list[str] | None = None, by: Actor) -> Group:
    name = _clean_name(name)
    with transaction():
        require_admin(account, by)
        try:
            with transaction():
                group = Group.create(account=account.id, display_name=name, display_name_key=name.lower(),
                                     external_id=external_id, permissions=permissions or [])
        except peewee.IntegrityError as exc:
            raise ConflictError(f"A group named {name!r} exists already in {account.name}.",
                                field="display_name", reason="uniqueness") from exc
        audit.record(by, "group.created", account_id=account.id, target_type="group", target_id=group.id, name=name)
    return group


def get_group(account: Account, ref: str) -> Group:
    [group] = resolve_groups(account, [ref])
    return group


def rename_group(group: Group, name: str, *, by: Actor) -> Group:
    name = _clean_name(name)
    with transaction():
        require_admin(group.account_id, by)
        try:
            with transaction():
                Group.update(display_name=name, display_name_key=name.lower(), version=Group.version + 1,
                             updated_at=clock.now()).where(Group.id == group.id).execute()
        except peewee.IntegrityError as exc:
            raise ConflictError(f"A group named {name!r} exists already.", field="display_name",
                                reason="uniqueness") from exc
        audit.record(by, "group.renamed", account_id=group.account_id, target_type="group", target_id=group.id,
                     name=name)
    return Group.get_by_id(group.id)


def delete_group(group: Group, *, by: Actor) -> None:
    with transaction():
        require_admin(group.account_id, by)
        Group.delete().where(Group.id == group.id).execute()
        audit.record(by, "group.deleted", account_id=group.account_id, target_type="group", target_id=group.id,
                     name=group.display_name)


def _memberships_in(account_id: str, membership_ids: Iterable[str]) -> list[str]:
    ids = list(dict.fromkeys(membership_ids))
    found = {m.id for m in Membership.select(Membership.id).where(
        (Membership.account == account_id) & Membership.id.in_(ids))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise NotFoundError(f"No member {', '.join(missing)} in this account.", field="members")
    return ids


def add_members(group: Group, membership_ids: Iterable[str], *, by: Actor) -> int:
    """Add memberships of the group's account; touches only the rows added. Returns how many were new."""
    with transaction():
        require_admin(group.account_id, by)
        ids = _memberships_in(group.account_id, membership_ids)
        if not ids:
            return 0
        before = GroupMember.select().where((GroupMember.group == group.id) & GroupMember.membership.in_(ids)).count()
        GroupMember.insert_many([{"group": group.id, "membership": m} for m in ids]).on_conflict_ignore().execute()
        Group.update(version=Group.version + 1, updated_at=clock.now()).where(Group.id == group.id).execute()
        audit.record(by, "group.members_added", account_id=group.account_id, target_type="group",
                     target_id=group.id, members=ids)
    return len(ids) - before


def remove_members(group: Group, membership_ids: Iterable[str], *, by: Actor) -> int:
    with transaction():
        require_admin(group.account_id, by)
        ids = list(dict.fromkeys(membership_ids))
        removed = GroupMember.delete().where(
            (GroupMember.group == group.id) & GroupMember.membership.in_(ids)).execute()
        Group.update(version=Group.version + 1, updated_at=clock.now()).where(Group.id == group.id).execute()
        audit.record(by, "group.members_removed", account_id=group.account_id, target_type="group",
                     target_id=group.id, members=ids)
    return int(removed)


def set_groups(membership: Membership, group_refs: Sequence[str], *, by: Actor) -> list[Group]:
    """Make ``membership`` a member of exactly these groups of its account."""
    with transaction():
        require_admin(membership.account_id, by)
        account = Account.get_by_id(membership.account_id)
        groups = resolve_groups(account, group_refs)
        wanted = {g.id for g in groups}
        current = {link.group_id for link in GroupMember.select().where(GroupMember.membership == membership.id)}
        if current - wanted:
            GroupMember.delete().where((GroupMember.membership == membership.id)
                                       & GroupMember.group.in_(list(current - wanted))).execute()
        if wanted - current:
            GroupMember.insert_many([{"group": g, "membership": membership.id} for g in wanted - current]).execute()
        changed = list(current ^ wanted)
        if changed:
            Group.update(version=Group.version + 1, updated_at=clock.now()).where(Group.id.in_(changed)).execute()
        audit.record(by, "membership.groups_changed", account_id=account.id, target_type="membership",
                     target_id=membership.id, groups=sorted(wanted))
    return groups


def list_groups(account: Account) -> list[Group]:
    return list(Group.select().where(Group.account == account.id).order_by(Group.display_name_key))


def group_member_emails(group: Group) -> list[str]:
    from .tenancy import User

    return [u.email for u in User.select(User.email).join(Membership).join(GroupMember).where(
        GroupMember.group == group.id).order_by(User.email_key)]
