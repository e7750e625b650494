"""The directory's groups: what SCIM reads and writes as Groups, members as directory records.

Every change is a set operation in SQL on the rows named, never a loaded member
list, and takes the account lock first (see models.groups for why).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any, cast

import peewee

from . import audit, clock, versions
from .accounts import lock, require_admin
from .audit import Actor
from .database import db, is_postgres, supports_returning, transaction
from .errors import ConflictError, InvalidInputError, NotFoundError
from .i18n import Text
from .prepared import Prepared
from .tenancy import Account, DirectoryRecord, Group, GroupMember, GroupRecord

# SCIM speaks of group members as directory records (SCIM User ids), linked to
# a person or not (DESIGN.md §3). The model:
#
# - GroupRecord (group, record) holds every member the directory named;
# - GroupMember (group, membership) holds the people in the group, which is
#   what grants the group's permissions. The directory's writes keep it in
#   step: a linked record added or removed adds or removes its membership
#   too, and a record linked later gets the memberships of its groups
#   (record_linked);
# - a group's SCIM members are the union: its GroupRecord records, and the
#   records linked to its GroupMember memberships (members the console added
#   to a group show in the directory when they have a record). Memberships
#   with no record are not SCIM Users: listed nowhere, never replaced.
#
# Every change is a set operation in SQL on the rows named, never a loaded
# member list.

_CHUNK = 500  # ids per statement: well under SQLite's and PostgreSQL's parameter limits


@dataclasses.dataclass(frozen=True)
class MemberChanges:
    """Changes to a group's members, named by directory record ids (SCIM User ids).

    ``replace``: the directory's members become exactly ``add`` (members the
    console added without a directory record stay). Otherwise ``remove`` goes
    and ``add`` comes; the two never overlap.
    """

    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    replace: bool = False


KEEP: Any = object()  # "leave this attribute as it is"


_GROUP_OF_ACCOUNT = Prepared(lambda group_id, account_id: Group.select().where(
    (Group.id == group_id) & (Group.account == account_id)).limit(1))


def find_group(account: Account, group_id: str) -> Group:
    """The group of ``account`` with this id; another account's group is not found, like an unknown one."""
    group: Group | None = _GROUP_OF_ACCOUNT.first(group_id, account.id)
    if group is None:
        raise NotFoundError(Text("No group %(id)s in this account.", id=group_id))
    return group


def locked_group(group: Group, expected: versions.Expected = None) -> Group:
    """``group`` as it is now, read after the account lock, at a version the caller ``expected``.

    NotFoundError when another request deleted it since the caller read it.
    """
    lock(group.account_id)
    current: Group | None = _GROUP_OF_ACCOUNT.first(group.id, group.account_id)
    if current is None:
        raise NotFoundError(Text("No group %(id)s in this account.", id=group.id))
    versions.require(current.version, expected)
    return current


def _chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), _CHUNK):
        yield list(ids[start : start + _CHUNK])


def _records_in(account_id: str, record_ids: Iterable[str]) -> dict[str, str | None]:
    """Record id → its membership id (None when unlinked), in order; an id no record of the account has is refused."""
    ids = list(dict.fromkeys(record_ids))
    found: dict[str, str | None] = {}
    for chunk in _chunks(ids):
        query = DirectoryRecord.select(DirectoryRecord.id, DirectoryRecord.membership).where(
            (DirectoryRecord.account == account_id) & DirectoryRecord.id.in_(chunk))
        found.update(cast(Iterable[tuple[str, str | None]], query.tuples()))
    missing = [i for i in ids if i not in found]
    if missing:
        raise InvalidInputError(
            Text("No user %(ids)s in this account: group members are users of the group's account.",
                 ids=", ".join(missing[:10])),
            field="members", reason="invalid_value")
    return {i: found[i] for i in ids}


def member_links(group_ids: Any) -> Any:
    """SELECT (group_id, record_id) of the SCIM members of these groups (a list or a subquery): the union above."""
    by_record = GroupRecord.select(GroupRecord.group.alias("group_id"), GroupRecord.record.alias("record_id")).where(
        GroupRecord.group.in_(group_ids))
    by_membership = (GroupMember.select(GroupMember.group.alias("group_id"), DirectoryRecord.id.alias("record_id"))
                     .join(DirectoryRecord, on=(DirectoryRecord.membership == GroupMember.membership))
                     .where(GroupMember.group.in_(group_ids)))
    return by_record | by_membership


def groups_with_member(condition: Any = None) -> Any:
    """SELECT of the ids of groups with a SCIM member whose DirectoryRecord meets ``condition`` (any member if None).

    For filters on ``members`` (RFC 7644 §3.4.2.2): used as ``Group.id IN (…)``,
    so the condition is true or false, never NULL.
    """
    by_record = GroupRecord.select(GroupRecord.group).join(
        DirectoryRecord, on=(GroupRecord.record == DirectoryRecord.id))
    by_membership = GroupMember.select(GroupMember.group).join(
        DirectoryRecord, on=(DirectoryRecord.membership == GroupMember.membership))
    if condition is not None:
        by_record, by_membership = by_record.where(condition), by_membership.where(condition)
    return by_record | by_membership


def _apply_member_changes(group: Group, changes: MemberChanges) -> dict[str, int]:
    """Set operations in SQL: each statement touches the rows named, never the whole group.

    Returns what changed, for the audit: members newly in the group, and the
    rows removed from each member table (a removal reads nothing first).
    """
    account_id = group.account_id
    added_records = _records_in(account_id, changes.add)
    records_removed = memberships_removed = 0
    if changes.replace:
        keep = list(added_records)
        records_removed += GroupRecord.delete().where(
            (GroupRecord.group == group.id) & GroupRecord.record.not_in(keep)).execute()
        others = DirectoryRecord.select(DirectoryRecord.membership).where(
            (DirectoryRecord.account == account_id) & DirectoryRecord.membership.is_null(False)
            & DirectoryRecord.id.not_in(keep))
        memberships_removed += GroupMember.delete().where(
            (GroupMember.group == group.id) & GroupMember.membership.in_(others)).execute()
    for chunk in _chunks(list(dict.fromkeys(changes.remove))):
        named = DirectoryRecord.select(DirectoryRecord.membership).where(
            (DirectoryRecord.account == account_id) & DirectoryRecord.membership.is_null(False)
            & DirectoryRecord.id.in_(chunk))
        records_removed += GroupRecord.delete().where(
            (GroupRecord.group == group.id) & GroupRecord.record.in_(chunk)).execute()
        memberships_removed += GroupMember.delete().where(
            (GroupMember.group == group.id) & GroupMember.membership.in_(named)).execute()
    added = 0
    for chunk in _chunks(list(added_records)):
        added += _add_chunk(group.id, {r: added_records[r] for r in chunk})
    return {"members_added": added, "record_links_removed": int(records_removed),
            "membership_links_removed": int(memberships_removed)}


def _add_chunk(group_id: str, records: dict[str, str | None]) -> int:
    """Add records (id → membership id) to a group; returns how many were not members before.

    A record was a member when its group_record row or its membership's
    group_member row was there: RETURNING names the rows that went in, else
    both tables are probed by primary key, never the whole group.
    """
    linked = [m for m in records.values() if m is not None]
    record_rows = GroupRecord.insert_many([{"group": group_id, "record": r} for r in records]).on_conflict_ignore()
    member_rows = GroupMember.insert_many([{"group": group_id, "membership": m} for m in linked]
                                          ).on_conflict_ignore()
    if supports_returning():
        new_records = {row[0] for row in record_rows.returning(GroupRecord.record).tuples().execute()}
        new_memberships = {row[0] for row in member_rows.returning(GroupMember.membership).tuples().execute()} \
            if linked else set()
        return sum(1 for r, m in records.items() if r in new_records and (m is None or m in new_memberships))
    present = set(cast(Iterable[str], GroupRecord.select(GroupRecord.record).where(
        (GroupRecord.group == group_id) & GroupRecord.record.in_(list(records))).scalars()))
    if linked:
        present_memberships = set(cast(Iterable[str], GroupMember.select(GroupMember.membership).where(
            (GroupMember.group == group_id) & GroupMember.membership.in_(linked)).scalars()))
        present.update(r for r, m in records.items() if m in present_memberships)
    record_rows.execute()
    if linked:
        member_rows.execute()
    return len(records) - len(present)


def create_directory_group(account: Account, name: str, *, external_id: str | None = None,
                           member_records: Sequence[str] = (), by: Actor) -> Group:
    """A group created by the account's directory (RFC 7644 §3.3), with members named by record ids.

    The name is unique in the account, compared case-insensitively
    (ConflictError, reason ``uniqueness``); externalId need not be. A member
    that is not a record of the account is InvalidInputError, and nothing is
    created. Records need not be linked to a person.
    """
    with transaction():
        group = create_group(account, name, external_id=external_id, by=by)  # the account lock first
        if member_records:
            _apply_member_changes(group, MemberChanges(add=tuple(member_records)))
            audit.record(by, "group.members_added", account_id=account.id, target_type="group",
                         target_id=group.id, records=list(member_records))
    return group


def update_group(group: Group, *, display_name: str | None = None, external_id: Any = KEEP,
                 members: MemberChanges | None = None, by: Actor, expected: versions.Expected = None) -> Group:
    """Change a group in one transaction and give it a new version (RFC 7644 §3.5.1, §3.5.2).

    ``display_name`` None and ``external_id`` KEEP leave those as they are.
    Members change as set operations in SQL (see :class:`MemberChanges`): a
    change of 100 members touches 100 rows of each member table whatever the
    group's size. Refused with ConflictError (``uniqueness``) for a name
    another group of the account has, InvalidInputError for a member that is
    not a record of the account (a user deleted by a request that came first
    included), NotFoundError when the group is gone; nothing changes then.
    PreconditionFailedError, and nothing changed, when its version under the lock is not ``expected``.
    """
    values: dict[str, Any] = {"version": Group.version + 1, "updated_at": clock.now()}
    if display_name is not None:
        name = clean_name(display_name)
        values.update(display_name=name, display_name_key=name.lower())
    if external_id is not KEEP:
        values["external_id"] = clean_external_id(external_id)
    with transaction():
        require_admin(group.account_id, by)
        locked_group(group, expected)
        try:
            # no savepoint: a refusal rolls the whole change back
            query = Group.update(values).where(Group.id == group.id)
            if supports_returning():
                updated = list(query.returning(Group).execute())
                changed = len(updated)
            else:
                updated, changed = [], query.execute()
        except peewee.IntegrityError as exc:
            raise ConflictError(Text("A group named %(name)r exists already.", name=display_name), field="display_name",
                                reason="uniqueness") from exc
        if not changed:
            raise NotFoundError(Text("No group %(id)s in this account.", id=group.id))
        detail: dict[str, Any] = {k: v for k, v in (("name", display_name), ("external_id", external_id))
                                  if v is not None and v is not KEEP}
        if members is not None:
            detail.update(_apply_member_changes(group, members), records_added=list(members.add),
                          records_removed=list(members.remove), members_replaced=members.replace)
        audit.record(by, "group.updated", account_id=group.account_id, target_type="group", target_id=group.id,
                     **detail)
    return updated[0] if updated else Group.get_by_id(group.id)



def directory_members(group_ids: Sequence[str]) -> dict[str, list[tuple[str, str, str]]]:
    """The SCIM members of these groups: group id → [(record id, userName, display)], by userName then id.

    Members the console added without a directory record are not SCIM Users,
    so they are left out. Display is the record's displayName, else its userName.
    """
    result: dict[str, list[tuple[str, str, str]]] = {g: [] for g in group_ids}
    for chunk in _chunks(list(group_ids)):
        links = member_links(chunk).alias("links")
        query = (DirectoryRecord.select(links.c.group_id, DirectoryRecord.id, DirectoryRecord.user_name,
                                        _display_name())
                 .join(links, on=(links.c.record_id == DirectoryRecord.id))
                 .order_by(links.c.group_id, DirectoryRecord.user_name_key, DirectoryRecord.id))
        # the driver's rows as they are: every column is text, no per-row conversion
        for group_id, record_id, user_name, display in db.execute(query):
            result[group_id].append((record_id, user_name, str(display or user_name)))
    return result


def _display_name() -> Any:
    """The record's displayName, read in SQL from its attributes (no JSON document is loaded)."""
    if is_postgres():
        return peewee.fn.jsonb_extract_path_text(DirectoryRecord.attributes.cast("jsonb"), "displayName")
    return peewee.fn.json_extract(DirectoryRecord.attributes, "$.displayName")


def record_linked(record_id: str, membership_id: str, *, new_record: bool = False) -> None:
    """A directory record now links to this membership: the person joins the record's groups (permissions flow).

    The groups the membership was in already now show the record as a member
    too, so their versions change. ``new_record``: created in this
    transaction, the record is in no group itself.
    """
    if not new_record:
        GroupMember.insert_from(
            GroupRecord.select(GroupRecord.group, peewee.Value(membership_id)).where(
                GroupRecord.record == record_id),
            [GroupMember.group, GroupMember.membership]).on_conflict_ignore().execute()
    shown = GroupMember.select(GroupMember.group).where(GroupMember.membership == membership_id)
    Group.update(version=Group.version + 1, updated_at=clock.now()).where(Group.id.in_(shown)).execute()


def record_leaving(record_id: str) -> None:
    """Before a directory record is deleted: the groups it is in change (its rows there go by ON DELETE CASCADE)."""
    named = GroupRecord.select(GroupRecord.group).where(GroupRecord.record == record_id)
    Group.update(version=Group.version + 1, updated_at=clock.now()).where(Group.id.in_(named)).execute()


def record_renamed(record_id: str) -> None:
    """The record's userName or displayName changed: its groups show them, so their versions change."""
    by_record = GroupRecord.select(GroupRecord.group).where(GroupRecord.record == record_id)
    by_membership = (GroupMember.select(GroupMember.group)
                     .join(DirectoryRecord, on=(DirectoryRecord.membership == GroupMember.membership))
                     .where(DirectoryRecord.id == record_id))
    Group.update(version=Group.version + 1, updated_at=clock.now()).where(
        Group.id.in_(by_record) | Group.id.in_(by_membership)).execute()


def clean_name(name: str) -> str:
    """A group's display name as stored; InvalidInputError for an empty or overlong one."""
    name = (name or "").strip()
    # the folded key too: lower() can lengthen a string ("İ" becomes two characters); PostgreSQL refuses more
    if not name or len(name) > 256 or len(name.lower()) > 256:
        raise InvalidInputError("A group name of 1 to 256 characters is required.", field="display_name")
    return name


def clean_external_id(external_id: Any) -> Any:
    """An externalId as stored (KEEP passes through); InvalidInputError for a non-string or overlong one."""
    if external_id is not None and external_id is not KEEP and (not isinstance(external_id, str)
                                                                or len(external_id) > 256):
        raise InvalidInputError("externalId must be a string of at most 256 characters.", field="externalId")
    return external_id


def create_group(account: Account, name: str, *, external_id: str | None = None,
                 permissions: list[str] | None = None, by: Actor) -> Group:
    name = clean_name(name)
    external_id = clean_external_id(external_id)
    with transaction():
        require_admin(account, by)
        lock(account)
        try:
            with transaction():
                group = Group.create(account=account.id, display_name=name, display_name_key=name.lower(),
                                     external_id=external_id, permissions=permissions or [])
        except peewee.IntegrityError as exc:
            raise ConflictError(Text("A group named %(name)r exists already in %(account)s.", name=name,
                                     account=account.name),
                                field="display_name", reason="uniqueness") from exc
        audit.record(by, "group.created", account_id=account.id, target_type="group", target_id=group.id, name=name)
    return group
