"""Read-only queries of the admin console: pages of members, invitations, records and audit events.

Every query is scoped to one account and filters and pages in SQL (LIMIT/OFFSET
on an ordered, indexed key, then the id so pages are stable; the audit trail,
which only grows, by keyset instead), so an account with 100,000 members costs
a page, not a load. A page asks for one row more than it
shows: that row only says whether a next page exists, without a COUNT.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any, Generic, TypeVar

import peewee

from .errors import NotFoundError
from .i18n import N_, Text
from .ops import AuditEvent
from .security import OAuthClient
from .tenancy import Account, DirectoryRecord, Group, GroupMember, Invitation, Membership, User

PAGE_SIZE = 50
MEMBER_TABS = ("active", "deactivated")
REASONS = {
    "no_valid_email": N_("The directory sent no valid email address for this person."),
    "already_member_through_other_record": N_("The person is already a member through another directory record."),
    "email_rejected": N_("The email address was refused (a disposable or not allowed domain)."),
    "removed_from_account": N_("The person was removed from the account."),
    "user_deleted": N_("The person deleted their user."),
}

T = TypeVar("T")


@dataclasses.dataclass
class Page(Generic[T]):
    """One page of rows; ``number`` starts at 1."""

    rows: list[T]
    number: int
    has_next: bool

    @property
    def has_previous(self) -> bool:
        return self.number > 1


def _page(query: Any, number: int, size: int = PAGE_SIZE) -> Page[Any]:
    number = max(1, number)
    rows = list(query.limit(size + 1).offset((number - 1) * size))
    return Page(rows[:size], number, len(rows) > size)


def _like(text: str) -> str:
    escaped = text.strip().lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _contains(column: Any, text: str) -> Any:
    """``column`` contains ``text``, case-insensitively, with % and _ taken literally (same on both databases)."""
    return peewee.NodeList((peewee.fn.LOWER(column), peewee.SQL("LIKE"), _like(text), peewee.SQL("ESCAPE '\\'")))


# ----------------------------------------------------------------- accounts


def admin_accounts(user_id: str) -> list[Account]:
    """The accounts where ``user_id`` is an active admin (R7), by name."""
    return list(Account.select().join(Membership).where(
        (Membership.user == user_id) & (Membership.status == "active") & (Membership.role == "admin")
    ).order_by(Account.name, Account.id))


def sub_accounts(account: Account) -> list[Account]:
    return list(Account.select().where(Account.parent == account.id).order_by(Account.name))


# ----------------------------------------------------------------- members


def members_page(account: Account, status: str, search: str = "", number: int = 1,
                 size: int = PAGE_SIZE) -> Page[Membership]:
    """Members of ``account`` in ``status`` (active or deactivated), by email, matching ``search`` in name or email."""
    query = (Membership.select(Membership, User).join(User)
             .where((Membership.account == account.id) & (Membership.status == status))
             .order_by(User.email_key, Membership.id))
    if search.strip():
        query = query.where(_contains(User.email_key, search) | _contains(User.given_name, search)
                            | _contains(User.family_name, search) | _contains(User.display_name, search))
    return _page(query, number, size)


def invitations_page(account: Account, search: str = "", number: int = 1, size: int = PAGE_SIZE) -> Page[Invitation]:
    """Invitations still open (pending, maybe past their expiry), newest first."""
    query = (Invitation.select().where((Invitation.account == account.id) & (Invitation.status == "pending"))
             .order_by(Invitation.created_at.desc(), Invitation.id))
    if search.strip():
        query = query.where(_contains(Invitation.email_key, search) | _contains(Invitation.given_name, search)
                            | _contains(Invitation.family_name, search))
    return _page(query, number, size)


def attention_page(account: Account, search: str = "", number: int = 1,
                   size: int = PAGE_SIZE) -> Page[DirectoryRecord]:
    """Directory records that link to nobody, with ``unlinked_reason`` saying why (DESIGN.md §3)."""
    query = (DirectoryRecord.select().where((DirectoryRecord.account == account.id)
                                            & DirectoryRecord.membership.is_null())
             .order_by(DirectoryRecord.created_at, DirectoryRecord.id))
    if search.strip():
        query = query.where(_contains(DirectoryRecord.user_name_key, search))
    return _page(query, number, size)


def membership_in(account: Account, membership_id: str) -> Membership:
    """The membership of ``account`` with this id (and its user); another account's is not found."""
    found: Membership | None = (Membership.select(Membership, User).join(User)
                                .where((Membership.id == membership_id) & (Membership.account == account.id)).first())
    if found is None:
        raise NotFoundError("No such member in this account.")
    return found


def membership_by_email(account: Account, email: str) -> Membership:
    key = email.strip().lower()
    found: Membership | None = (Membership.select(Membership, User).join(User)
                                .where((Membership.account == account.id) & (User.email_key == key)).first())
    if found is None:
        raise NotFoundError(Text("%(email)s is not a member of %(account)s.", email=email, account=account.name),
                            field="email")
    return found


def invitation_in(account: Account, invitation_id: str) -> Invitation:
    found = Invitation.get_or_none((Invitation.id == invitation_id) & (Invitation.account == account.id))
    if found is None:
        raise NotFoundError("No such invitation in this account.")
    return found


def group_ids_of(membership: Membership) -> list[str]:
    return [link.group_id for link in GroupMember.select(GroupMember.group).where(
        GroupMember.membership == membership.id)]


def groups_of(memberships: Sequence[Membership]) -> dict[str, list[str]]:
    """Group names per membership id, for one page of members (one query)."""
    names: dict[str, list[str]] = {m.id: [] for m in memberships}
    if not names:
        return names
    rows: Any = (GroupMember.select(GroupMember.membership, Group.display_name).join(Group)
                 .where(GroupMember.membership.in_(list(names))).order_by(Group.display_name_key).tuples())
    for membership_id, name in rows:
        names[membership_id].append(name)
    return names


# ----------------------------------------------------------------- groups


def group_choices(account: Account) -> list[tuple[str, str]]:
    """(id, name) of the account's groups, by name: the choices of a form."""
    return [(g.id, g.display_name) for g in Group.select(Group.id, Group.display_name)
            .where(Group.account == account.id).order_by(Group.display_name_key)]


def groups_with_counts(account: Account) -> list[tuple[Group, int]]:
    count = peewee.fn.COUNT(GroupMember.membership)
    query = (Group.select(Group, count.alias("member_count")).join(GroupMember, peewee.JOIN.LEFT_OUTER)
             .where(Group.account == account.id).group_by(Group.id).order_by(Group.display_name_key))
    return [(g, int(getattr(g, "member_count", 0))) for g in query]


def group_members_page(group: Group, number: int = 1, size: int = PAGE_SIZE) -> Page[Membership]:
    query = (Membership.select(Membership, User).join(User).switch(Membership).join(GroupMember)
             .where(GroupMember.group == group.id).order_by(User.email_key, Membership.id))
    return _page(query, number, size)


def client_in(account: Account, client_id: str) -> OAuthClient:
    found = OAuthClient.get_or_none((OAuthClient.client_id == client_id) & (OAuthClient.account == account.id))
    if found is None:
        raise NotFoundError("No such client in this account.")
    return found


# ----------------------------------------------------------------- audit


@dataclasses.dataclass
class AuditFilter:
    actor: str = ""
    action: str = ""
    since: dt.datetime | None = None
    until: dt.datetime | None = None  # exclusive


_EPOCH = dt.datetime(1970, 1, 1)


@dataclasses.dataclass(frozen=True)
class Position:
    """A place in the trail (an event's time and id): pages start after it, never at an OFFSET."""

    at: dt.datetime
    id: int

    @classmethod
    def of(cls, event: AuditEvent) -> Position:
        return cls(event.at, int(event.id))

    def token(self) -> str:
        """The position as a URL value: microseconds since 1970 and the id."""
        return f"{(self.at - _EPOCH) // dt.timedelta(microseconds=1)}-{self.id}"

    @classmethod
    def parse(cls, token: str | None) -> Position | None:
        """The position a :meth:`token` names; None for anything else."""
        micros, _, id_ = (token or "").partition("-")
        if not (micros.isdigit() and id_.isdigit()) or len(micros) > 18 or len(id_) > 19:
            return None
        try:
            return cls(_EPOCH + dt.timedelta(microseconds=int(micros)), int(id_))
        except OverflowError:
            return None


@dataclasses.dataclass
class AuditPage:
    """Events newest first; ``older``/``newer`` are where the next pages start (None: no such page)."""

    rows: list[AuditEvent]
    older: Position | None
    newer: Position | None


def _older_than(p: Position) -> Any:
    return (AuditEvent.at < p.at) | ((AuditEvent.at == p.at) & (AuditEvent.id < p.id))


def _newer_than(p: Position) -> Any:
    return (AuditEvent.at > p.at) | ((AuditEvent.at == p.at) & (AuditEvent.id > p.id))


def audit_events(account: Account, where: AuditFilter) -> Any:
    """The account's audit events matching ``where`` by actor (label or id), action and time; unordered."""
    query = AuditEvent.select().where(AuditEvent.account_id == account.id)
    if where.actor.strip():
        query = query.where(_contains(AuditEvent.actor_label, where.actor) | (AuditEvent.actor_id == where.actor))
    if where.action:
        query = query.where(AuditEvent.action == where.action)
    if where.since is not None:
        query = query.where(AuditEvent.at >= where.since)
    if where.until is not None:
        query = query.where(AuditEvent.at < where.until)
    return query


def audit_page(account: Account, where: AuditFilter, *, before: Position | None = None,
               after: Position | None = None, size: int = PAGE_SIZE) -> AuditPage:
    """A page of the account's events, newest first: the newest, those just ``before`` or just ``after`` a position.

    Keyset pagination on (time, id): each page costs one indexed range scan of
    ``size + 1`` rows however deep it is, and a page does not shift when new
    events arrive. Whether a page exists on the other side is one ``LIMIT 1``.
    """
    newest_first = (AuditEvent.at.desc(), AuditEvent.id.desc())
    if after is not None:
        rows = list(audit_events(account, where).where(_newer_than(after))
                    .order_by(AuditEvent.at, AuditEvent.id).limit(size + 1))
        if not rows:
            return audit_page(account, where, size=size)
        newer = Position.of(rows[size - 1]) if len(rows) > size else None
        rows = rows[:size][::-1]
        edge = Position.of(rows[-1])
        older = edge if audit_events(account, where).where(_older_than(edge)).exists() else None
        return AuditPage(rows, older, newer)
    query = audit_events(account, where).order_by(*newest_first)
    if before is not None:
        query = query.where(_older_than(before))
    rows = list(query.limit(size + 1))
    older = Position.of(rows[size - 1]) if len(rows) > size else None
    rows = rows[:size]
    newer = None
    if before is not None:
        newer_side = Position.of(rows[0]) if rows else before
        if audit_events(account, where).where(_newer_than(newer_side)).limit(1).exists():
            newer = newer_side
    return AuditPage(rows, older, newer)


def audit_batches(account: Account, where: AuditFilter, size: int = 500) -> Iterator[list[AuditEvent]]:
    """Every event matching ``where``, newest first, ``size`` at a time (one keyset query each): an export."""
    position: Position | None = None
    while True:
        query = audit_events(account, where).order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        if position is not None:
            query = query.where(_older_than(position))
        rows = list(query.limit(size))
        if rows:
            yield rows
        if len(rows) < size:
            return
        position = Position.of(rows[-1])


def audit_actions(account: Account) -> list[str]:
    """The actions the account's trail holds, for the filter's choices."""
    rows: Any = (AuditEvent.select(AuditEvent.action).distinct()
                 .where(AuditEvent.account_id == account.id).order_by(AuditEvent.action).tuples())
    return [action for (action,) in rows]
