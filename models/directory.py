"""Directory records: the account's directory's view of its people (DESIGN.md §3).

What SCIM reads and writes as a User. A record links to at most one
membership, found by the record's login email; a record that links to nobody
says why in ``unlinked_reason``. Records never change a registered person's
login email (R4); ``active`` follows the membership (R6, R11 via members).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import peewee

from . import audit, clock, directory_index, emails, groups, invitations, members, passwords
from .accounts import lock, require_admin
from .audit import Actor
from .database import transaction
from .errors import ConflictError, InvalidInputError, NotFoundError
from .tenancy import Account, DirectoryRecord, Membership, User

NO_VALID_EMAIL = "no_valid_email"
ALREADY_MEMBER = "already_member_through_other_record"
EMAIL_REJECTED = "email_rejected"


def user_name_key(user_name: str) -> str:
    """userName is compared case-insensitively (RFC 7643 §4.1.1, caseExact false)."""
    return user_name.strip().lower()


def login_email(user_name: str, attributes: dict[str, Any]) -> str | None:
    """The email a record links by: userName if it is an email, else primary, else work, else first."""
    try:
        return emails.normalize(user_name)
    except InvalidInputError:
        pass
    entries = [e for e in attributes.get("emails") or [] if isinstance(e, dict) and e.get("value")]
    ordered = ([e for e in entries if e.get("primary") is True]
               + [e for e in entries if str(e.get("type") or "").lower() == "work"] + entries)
    if not ordered:
        return None
    try:
        return emails.normalize(str(ordered[0]["value"]))
    except InvalidInputError:
        return None


def is_active(record: DirectoryRecord, membership: Membership | None) -> bool:
    """``active`` is the membership's status; an unlinked record keeps what its directory said."""
    if membership is not None:
        return bool(membership.status != "deactivated")
    return bool(record.attributes.get("active", True))


def get_record(account: Account, record_id: str) -> DirectoryRecord:
    """A record of ``account``; another account's record is not found, like an unknown one."""
    record = DirectoryRecord.get_or_none((DirectoryRecord.id == record_id) & (DirectoryRecord.account == account.id))
    if record is None:
        raise NotFoundError(f"No user {record_id} in this account.")
    return record


def membership_of(record: DirectoryRecord) -> Membership | None:
    if record.membership_id is None:
        return None
    return Membership.get_or_none(Membership.id == record.membership_id)


def _clean(user_name: str, attributes: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if not isinstance(user_name, str) or not user_name.strip() or len(user_name) > 512:
        raise InvalidInputError("userName must be a non-empty string of at most 512 characters.",
                                field="userName", reason="invalid_value")
    kept = {k: v for k, v in attributes.items() if k not in ("id", "meta", "password", "userName", "externalId")}
    return user_name.strip(), kept


def _link(account: Account, record_id: str, user_name: str, attributes: dict[str, Any], by: Actor,
          password: str | None) -> tuple[str | None, str | None]:
    """R2 for a record: (membership id, None) when linked, (None, reason) otherwise."""
    email = login_email(user_name, attributes)
    if email is None:
        return None, NO_VALID_EMAIL
    user = members.find_user(email)
    if user is not None:
        existing = Membership.get_or_none((Membership.user == user.id) & (Membership.account == account.id))
        if existing is not None:
            if DirectoryRecord.select().where((DirectoryRecord.membership == existing.id)
                                              & (DirectoryRecord.id != record_id)).exists():
                return None, ALREADY_MEMBER
            return existing.id, None  # a member added by hand is now also in the directory
    name = attributes.get("name") or {}
    invitee = invitations.Invitee(email, str(name.get("givenName") or "")[:200],
                                  str(name.get("familyName") or "")[:200])
    [result] = invitations.bulk_invite(account, [invitee], by=by, via="scim")
    if result.outcome == "rejected" or result.membership_id is None:
        return None, EMAIL_REJECTED
    if password is not None:
        _initial_password(result.membership_id, password)
    return result.membership_id, None


def _initial_password(membership_id: str, password: str) -> None:
    """A password from the directory is only an initial one: never replaces a person's own."""
    user = User.select().join(Membership).where(Membership.id == membership_id).get()
    if user.password_hash is None:
        passwords.check_policy(password, email=user.email)
        User.update(password_hash=passwords.hash_password(password), updated_at=clock.now()).where(
            User.id == user.id).execute()


def _set_active(membership_id: str | None, active: bool, by: Actor) -> None:
    membership = Membership.get_or_none(Membership.id == membership_id) if membership_id else None
    if membership is None:
        return
    if not active and membership.status != "deactivated":
        members.deactivate(membership, by=by)
    elif active and membership.status == "deactivated":
        members.reactivate(membership, by=by)


def create_record(account: Account, user_name: str, attributes: dict[str, Any], external_id: str | None, *,
                  by: Actor, password: str | None = None) -> DirectoryRecord:
    """Create a record and link it to a person by its login email (DESIGN.md §3, R2).

    Refused with ConflictError (reason ``uniqueness``) when the account has the
    userName already, compared case-insensitively. A record that cannot link is
    still created, with the reason in ``unlinked_reason``.
    """
    user_name, attributes = _clean(user_name, attributes)
    with transaction():
        require_admin(account, by)
        lock(account)
        try:
            with transaction():
                record = DirectoryRecord.create(account=account.id, user_name=user_name,
                                                user_name_key=user_name_key(user_name), external_id=external_id,
                                                attributes=attributes)
        except peewee.IntegrityError as exc:
            raise ConflictError(f"The userName {user_name!r} is taken in this account.", field="userName",
                                reason="uniqueness") from exc
        directory_index.reindex(record.id, attributes)
        membership_id, reason = _link(account, record.id, user_name, attributes, by, password)
        DirectoryRecord.update(membership=membership_id, unlinked_reason=reason).where(
            DirectoryRecord.id == record.id).execute()
        if membership_id is not None:
            groups.record_linked(record.id, membership_id)
        _set_active(membership_id, bool(attributes.get("active", True)), by)
        audit.record(by, "directory_record.created", account_id=account.id, target_type="directory_record",
                     target_id=record.id, user_name=user_name, membership_id=membership_id, unlinked_reason=reason)
    return DirectoryRecord.get_by_id(record.id)


Replacement = tuple[str, dict[str, Any], str | None, str | None]
"""What a directory says of a person: (userName, attributes, externalId, initial password)."""

Check = Callable[[int], None]
"""Called with the record's current version under the lock; raises to refuse (e.g. an If-Match precondition)."""

Change = Callable[[DirectoryRecord, Membership | None], Replacement | None]
"""Computes a replacement from the current record and membership; None when nothing changes."""


def replace_record(record: DirectoryRecord, user_name: str, attributes: dict[str, Any], external_id: str | None,
                   *, by: Actor, password: str | None = None, check: Check | None = None) -> DirectoryRecord:
    """Replace what the directory says (RFC 7644 §3.5.1); ``active`` deactivates or reactivates (R6).

    A linked record keeps its person whatever its userName or emails become
    (R4); an unlinked one tries to link again. ``check`` runs first, under
    the lock, with the record's current version.
    """
    return update_record(record, lambda current, membership: (user_name, attributes, external_id, password),
                         by=by, check=check, action="directory_record.replaced")


def update_record(record: DirectoryRecord, change: Change, *, by: Actor, check: Check | None = None,
                  action: str = "directory_record.updated") -> DirectoryRecord:
    """Read, change and write a record as one step (RFC 7644 §3.5.2: PATCH is read-modify-write).

    ``change`` sees the record as it is under the account lock, so a
    concurrent change is never lost. Every write raises the record's version,
    ``active`` included; a change that returns None writes nothing and keeps
    the version. A refusal anywhere (R1 for the last admin, a uniqueness
    conflict, an exception from ``check`` or ``change``) changes nothing.
    """
    with transaction():
        require_admin(record.account_id, by)
        lock(record.account_id)
        current = DirectoryRecord.get_or_none(DirectoryRecord.id == record.id)
        if current is None:
            raise NotFoundError(f"No user {record.id} in this account.")
        if check is not None:
            check(current.version)
        replacement = change(current, membership_of(current))
        if replacement is None:
            return current
        user_name, attributes, external_id, password = replacement
        user_name, attributes = _clean(user_name, attributes)
        if "active" not in attributes:
            # a replacement that leaves out "active" keeps the status: it is the
            # membership's, and reactivating someone by omission would be a hole
            attributes["active"] = is_active(current, membership_of(current))
        try:
            with transaction():
                DirectoryRecord.update(user_name=user_name, user_name_key=user_name_key(user_name),
                                       external_id=external_id, attributes=attributes,
                                       version=DirectoryRecord.version + 1, updated_at=clock.now()).where(
                    DirectoryRecord.id == current.id).execute()
        except peewee.IntegrityError as exc:
            raise ConflictError(f"The userName {user_name!r} is taken in this account.", field="userName",
                                reason="uniqueness") from exc
        directory_index.reindex(current.id, attributes)
        membership_id = current.membership_id
        if membership_id is None:
            account = Account.get_by_id(current.account_id)
            membership_id, reason = _link(account, current.id, user_name, attributes, by, password)
            DirectoryRecord.update(membership=membership_id, unlinked_reason=reason).where(
                DirectoryRecord.id == current.id).execute()
            if membership_id is not None:
                groups.record_linked(current.id, membership_id)  # its groups' permissions follow
        elif password is not None:
            _initial_password(membership_id, password)
        _set_active(membership_id, bool(attributes.get("active", True)), by)
        audit.record(by, action, account_id=current.account_id, target_type="directory_record",
                     target_id=current.id, user_name=user_name)
    return DirectoryRecord.get_by_id(record.id)


def delete_record(record: DirectoryRecord, *, by: Actor, check: Check | None = None) -> None:
    """Delete the record and remove its membership (R6, R11); refused for the last admin (R1).

    ``check`` runs first, under the lock, with the record's current version.
    """
    with transaction():
        require_admin(record.account_id, by)
        lock(record.account_id)
        current = DirectoryRecord.get_or_none(DirectoryRecord.id == record.id)
        if current is None:
            raise NotFoundError(f"No user {record.id} in this account.")
        if check is not None:
            check(current.version)
        membership = membership_of(current)
        if membership is not None:
            members.remove(membership, by=by)
        groups.record_leaving(current.id)
        DirectoryRecord.delete().where(DirectoryRecord.id == current.id).execute()
        audit.record(by, "directory_record.deleted", account_id=current.account_id, target_type="directory_record",
                     target_id=current.id, user_name=current.user_name)
