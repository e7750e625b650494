"""Read-only queries of the admin console: pages of members, invitations, records and audit events.

Every query is scoped to one account and filters and pages in SQL (LIMIT/OFFSET
on an ordered, indexed key, then the id so pages are stable), so an account with
100,000 members costs a page, not a load. A page asks for one row more than it
shows: that row only says whether a next page exists, without a COUNT.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

import peewee

from .errors import NotFoundError
from .ops import AuditEvent
from .security import OAuthClient
from .tenancy import Account, DirectoryRecord, Group, GroupMember, Invitation, Membership, User

PAGE_SIZE = 50
MEMBER_TABS = ("active", "deactivated")
REASONS = {
    "no_valid_email": "The directory sent no valid email address for this person.",
    "already_member_through_other_record": "The person is already a member through another directory record.",
    "email_rejected": "The email address was refused (a disposable or not allowed domain).",
    "removed_from_account": "The person was removed from the account.",
    "user_deleted": "The person deleted their user.",
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
        raise NotFoundError(f"{email} is not a member of {account.name}.", field="email")
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


def audit_page(account: Account, where: AuditFilter, number: int = 1, size: int = PAGE_SIZE) -> Page[AuditEvent]:
    """The account's audit events, newest first, filtered by actor (label or id), action and time."""
    query = (AuditEvent.select().where(AuditEvent.account_id == account.id)
             .order_by(AuditEvent.at.desc(), AuditEvent.id.desc()))
    if where.actor.strip():
        query = query.where(_contains(AuditEvent.actor_label, where.actor) | (AuditEvent.actor_id == where.actor))
    if where.action:
        query = query.where(AuditEvent.action == where.action)
    if where.since is not None:
        query = query.where(AuditEvent.at >= where.since)
    if where.until is not None:
        query = query.where(AuditEvent.at < where.until)
    return _page(query, number, size)


def audit_actions(account: Account) -> list[str]:
    """The actions the account's trail holds, for the filter's choices."""
    rows: Any = (AuditEvent.select(AuditEvent.action).distinct()
                 .where(AuditEvent.account_id == account.id).order_by(AuditEvent.action).tuples())
    return [action for (action,) in rows]
