"""Directory records: the account's directory's view of its people (DESIGN.md §3).

What SCIM reads and writes as a User. A record links to at most one
membership, found by the record's login email; a record that links to nobody
says why in ``unlinked_reason``. Records never change a registered person's
login email (R4); ``active`` follows the membership (R6, R11 via members).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, cast

import peewee

from . import (
    audit,
    clock,
    directory_groups,
    directory_index,
    emails,
    invitations,
    members,
    passwords,
    prepared,
    versions,
)
from .accounts import lock, require_admin
from .audit import Actor
from .database import is_postgres, transaction
from .deployment import Deployment
from .errors import ConflictError, InvalidInputError, NotFoundError
from .fields import new_id
from .i18n import Text
from .passwords import Hasher
from .prepared import Prepared
from .tenancy import Account, DirectoryRecord, Membership, User, directory_says_active

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
    return directory_says_active(record.attributes)


def get_record(account: Account, record_id: str) -> DirectoryRecord:
    """A record of ``account`` and its membership (read in the same statement, for :func:`membership_of`).

    Another account's record is not found, like an unknown one.
    """
    record = _with_membership(_RECORD_OF_ACCOUNT.first(record_id, account.id))
    if record is None:
        raise NotFoundError(Text("No user %(id)s in this account.", id=record_id))
    return record


def membership_of(record: DirectoryRecord) -> Membership | None:
    """The record's membership; read with the record by :func:`load_record`, else read now."""
    loaded = record.__dict__.get("_membership", _UNREAD)
    if loaded is not _UNREAD and (loaded is None or loaded.id == record.membership_id):
        return cast(Membership | None, loaded)
    if record.membership_id is None:
        return None
    return Membership.get_or_none(Membership.id == record.membership_id)


_UNREAD: Any = object()


def _record_query(*condition: Any) -> Any:
    return (DirectoryRecord.select(DirectoryRecord, Membership)
            .join(Membership, peewee.JOIN.LEFT_OUTER, on=(DirectoryRecord.membership == Membership.id),
                  attr="_joined_membership")
            .where(*condition).limit(1))


# read on every SCIM User request: built once (models.prepared)
_RECORD = Prepared(lambda record_id: _record_query(DirectoryRecord.id == record_id))
_RECORD_FOR_UPDATE = Prepared(lambda record_id: _record_query(DirectoryRecord.id == record_id)
                              .for_update(of=DirectoryRecord))
_RECORD_BY_USER_NAME = Prepared(lambda account_id, key: _record_query(
    (DirectoryRecord.account == account_id) & (DirectoryRecord.user_name_key == key)))
_USER_BY_EMAIL = Prepared(lambda email_key: User.select().where(User.email_key == email_key).limit(1))
_RECORD_OF_ACCOUNT = Prepared(lambda record_id, account_id: _record_query(
    (DirectoryRecord.id == record_id) & (DirectoryRecord.account == account_id)))


_REPLACE = Prepared(lambda user_name, key, external_id, attributes, active, updated_at, record_id: (
    DirectoryRecord.update(
        user_name=user_name, user_name_key=key, external_id=external_id,
        attributes=peewee.Value(attributes, converter=False),  # the caller passes it as JSON text
        active=peewee.Value(active, converter=False), version=DirectoryRecord.version + 1, updated_at=updated_at,
    ).where(DirectoryRecord.id == record_id)))


def _with_membership(record: DirectoryRecord | None) -> DirectoryRecord | None:
    if record is not None:
        joined = record.__dict__.pop("_joined_membership", None)
        record.__dict__["_membership"] = joined if joined is not None and joined.id is not None else None
    return record


def load_record(record_id: str, *, for_update: bool = False) -> DirectoryRecord | None:
    """A record and its membership in one statement (:func:`membership_of` then reads nothing)."""
    query = _RECORD_FOR_UPDATE if for_update and is_postgres() else _RECORD
    return _with_membership(query.first(record_id))


def find_record_by_user_name(account_id: str, key: str) -> DirectoryRecord | None:
    """The account's record whose userName folds to ``key`` (unique per account), with its membership."""
    return _with_membership(_RECORD_BY_USER_NAME.first(account_id, key))


_MAX_LENGTH = 512  # of userName, its folded key and externalId: the columns' size (PostgreSQL refuses more)


def _clean(user_name: str, attributes: dict[str, Any], external_id: str | None = None,
           ) -> tuple[str, dict[str, Any], str | None]:
    # the folded key too: lower() can lengthen a string ("İ" becomes two characters)
    if not isinstance(user_name, str) or not user_name.strip() or len(user_name) > _MAX_LENGTH \
            or len(user_name_key(user_name)) > _MAX_LENGTH:
        raise InvalidInputError("userName must be a non-empty string of at most 512 characters.",
                                field="userName", reason="invalid_value")
    if external_id is not None and (not isinstance(external_id, str) or len(external_id) > _MAX_LENGTH):
        raise InvalidInputError("externalId must be a string of at most 512 characters.",
                                field="externalId", reason="invalid_value")
    kept = {k: v for k, v in attributes.items() if k not in ("id", "meta", "password", "userName", "externalId")}
    return user_name.strip(), kept, external_id


@dataclasses.dataclass(frozen=True)
class _Link:
    """What R2 did for a record: the membership it links to (with its status), or why it links to nobody."""

    membership_id: str | None = None
    status: str | None = None
    reason: str | None = None
    new_membership: bool = False  # created for this record: in no group, no other record's


def _link(account: Account, record_id: str, user_name: str, attributes: dict[str, Any], by: Actor,
          password: str | None, deployment: Deployment) -> _Link:
    """R2 for a record: the membership it links to, or the reason it links to nobody."""
    email = login_email(user_name, attributes)
    if email is None:
        return _Link(reason=NO_VALID_EMAIL)
    user = _USER_BY_EMAIL.first(emails.key(email))  # members.find_user, with the SQL built once
    if user is not None:
        linked = _link_existing(account, record_id, user.id)
        if linked is not None:
            return linked
    name = attributes.get("name") or {}
    invitee = invitations.Invitee(email, str(name.get("givenName") or "")[:200],
                                  str(name.get("familyName") or "")[:200])
    result = invitations.invite_from_directory(account, invitee, user=user, by=by, deployment=deployment)
    if result.outcome in ("already_member", "already_invited") and result.membership_id is None:
        # another request made (or invited) this person a member in the meantime: the unique index, or the
        # invitation it committed, says so
        raced = members.find_user(email)
        linked = _link_existing(account, record_id, raced.id) if raced is not None else None
        if linked is not None:
            return linked
    if result.outcome == "rejected" or result.membership_id is None:
        return _Link(reason=EMAIL_REJECTED)
    if password is not None:
        _initial_password(result.membership_id, password, account_id=account.id, record_id=record_id, by=by,
                          hasher=deployment.hasher)
    return _Link(result.membership_id, "active" if result.outcome == "added" else "invited", new_membership=True)


def _link_existing(account: Account, record_id: str, user_id: str) -> _Link | None:
    """The person's membership of ``account``, if any, under the account's lock (one record per person)."""
    lock(account)
    existing = Membership.get_or_none((Membership.user == user_id) & (Membership.account == account.id))
    if existing is None:
        return None
    if DirectoryRecord.select().where((DirectoryRecord.membership == existing.id)
                                      & (DirectoryRecord.id != record_id)).exists():
        return _Link(reason=ALREADY_MEMBER)
    return _Link(existing.id, existing.status)  # a member added by hand is now also in the directory


def _initial_password(membership_id: str, password: str, *, account_id: str, record_id: str, by: Actor,
                      hasher: Hasher) -> None:
    """A password from the directory is only an initial one: never replaces a person's own.

    One that misses Roster's policy is not set, and the request still
    succeeds: Okta's password sync sends its users' passwords under Okta's
    own policy (8 characters, say). The audit log says why (never the
    password); the person chooses one when they accept their invitation.
    """
    user = User.select().join(Membership).where(Membership.id == membership_id).get()
    if user.password_hash is None:
        problem = passwords.policy_problem(password, email=user.email)
        if problem is not None:
            audit.record(by, "directory_record.password_not_set", account_id=account_id,
                         target_type="directory_record", target_id=record_id, reason=problem)
            return
        User.update(password_hash=hasher.hash(password), updated_at=clock.now()).where(
            User.id == user.id).execute()


def _set_active(link: _Link, active: bool, by: Actor, membership: Membership | None = None) -> bool:
    """``active`` from the directory applied to the linked membership (R6); True when its status changed.

    The caller holds the account's lock (R1) or created the membership itself (invited: never an admin),
    and has written the record in this transaction (its version is raised, its ``active`` is ``active``:
    the membership has no other record).
    """
    if link.membership_id is None or active == (link.status != "deactivated"):
        return False
    if membership is None or membership.id != link.membership_id:
        membership = Membership.get_or_none(Membership.id == link.membership_id)
        if membership is None:
            return False
    return members.set_status_locked(membership, active, by=by, views_touched=True)


def _locked(account_id: str, record_id: str, by: Actor, expected: versions.Expected) -> DirectoryRecord:
    """The account's record as it is now, after the account lock (R1 and linking; every writer takes it
    before the record's row), at a version the caller ``expected``.

    Read once, under the lock: another account's record is not found, like an unknown one.
    """
    require_admin(account_id, by)
    lock(account_id)
    current = load_record(record_id)
    if current is None or current.account_id != account_id:
        raise NotFoundError(Text("No user %(id)s in this account.", id=record_id))
    versions.require(current.version, expected)
    return current


def create_record(account: Account, user_name: str, attributes: dict[str, Any], external_id: str | None, *,
                  by: Actor, password: str | None = None, deployment: Deployment) -> DirectoryRecord:
    """Create a record and link it to a person by its login email (DESIGN.md §3, R2).

    Refused with ConflictError (reason ``uniqueness``) when the account has the
    userName already, compared case-insensitively. A record that cannot link is
    still created, with the reason in ``unlinked_reason``.
    """
    user_name, attributes, external_id = _clean(user_name, attributes, external_id)
    record_id = new_id()
    with transaction():
        require_admin(account, by)
        link = _link(account, record_id, user_name, attributes, by, password, deployment)
        try:
            # no savepoint: a refusal rolls the whole creation back, invitation included
            prepared.insert(DirectoryRecord, [dict(
                id=record_id, account=account.id, user_name=user_name, user_name_key=user_name_key(user_name),
                external_id=external_id, attributes=attributes, membership=link.membership_id,
                unlinked_reason=link.reason, active=directory_says_active(attributes))])
        except peewee.IntegrityError as exc:
            raise ConflictError(Text("The userName %(name)r is taken in this account.", name=user_name),
                                field="userName", reason="uniqueness") from exc
        directory_index.reindex(record_id, attributes, new=True)
        if link.membership_id is not None and not link.new_membership:
            directory_groups.record_linked(record_id, link.membership_id, new_record=True)
        _set_active(link, directory_says_active(attributes), by)
        audit.record(by, "directory_record.created", account_id=account.id, target_type="directory_record",
                     target_id=record_id, user_name=user_name, membership_id=link.membership_id,
                     unlinked_reason=link.reason)
    record = load_record(record_id)
    if record is None:  # deleted by another request since
        raise NotFoundError(Text("No user %(id)s in this account.", id=record_id))
    return record


Replacement = tuple[str, dict[str, Any], str | None, str | None]
"""What a directory says of a person: (userName, attributes, externalId, initial password)."""

Change = Callable[[DirectoryRecord, Membership | None], Replacement | None]
"""Computes a replacement from the current record and membership; None when nothing changes."""


def replace_record(account_id: str, record_id: str, user_name: str, attributes: dict[str, Any], external_id: str | None,
                   *, by: Actor, password: str | None = None, expected: versions.Expected = None,
                   deployment: Deployment) -> DirectoryRecord:
    """Replace what the directory says (RFC 7644 §3.5.1); ``active`` deactivates or reactivates (R6).

    A linked record keeps its person whatever its userName or emails become
    (R4); an unlinked one tries to link again. PreconditionFailedError, and
    nothing changed, when the record's version under the lock is not ``expected``.
    """
    return update_record(account_id, record_id,
                         lambda current, membership: (user_name, attributes, external_id, password),
                         by=by, expected=expected, action="directory_record.replaced", deployment=deployment)


def update_record(account_id: str, record_id: str, change: Change, *, by: Actor, expected: versions.Expected = None,
                  action: str = "directory_record.updated", deployment: Deployment) -> DirectoryRecord:
    """Read, change and write a record as one step (RFC 7644 §3.5.2: PATCH is read-modify-write).

    ``change`` sees the record as it is under the account lock, so a
    concurrent change is never lost. Every write raises the record's version,
    ``active`` included; a change that returns None writes nothing and keeps
    the version. A refusal anywhere (R1 for the last admin, a uniqueness
    conflict, another version than ``expected``, an exception from ``change``)
    changes nothing.
    """
    with transaction():
        current = _locked(account_id, record_id, by, expected)
        membership = membership_of(current)
        replacement = change(current, membership)
        if replacement is None:
            return current
        user_name, attributes, external_id, password = replacement
        user_name, attributes, external_id = _clean(user_name, attributes, external_id)
        if "active" not in attributes:
            # a replacement that leaves out "active" keeps the status: it is the
            # membership's, and reactivating someone by omission would be a hole
            attributes["active"] = is_active(current, membership)
        now = clock.now()
        try:
            # no savepoint: a refusal rolls the whole change back
            _REPLACE.execute(user_name, user_name_key(user_name), external_id,
                             DirectoryRecord.attributes.db_value(attributes), directory_says_active(attributes),
                             now, current.id)
        except peewee.IntegrityError as exc:
            raise ConflictError(Text("The userName %(name)r is taken in this account.", name=user_name),
                                field="userName", reason="uniqueness") from exc
        if list(directory_index.values_of(attributes)) != list(directory_index.values_of(current.attributes)):
            directory_index.reindex(current.id, attributes)
        if user_name != current.user_name or _display(attributes) != _display(current.attributes):
            directory_groups.record_renamed(current.id)  # the groups show the member's userName and displayName
        relink = current.membership_id is None
        link = _relinked(current, user_name, attributes, password, by, deployment) if relink else _kept_link(
            current, membership, password, by, deployment.hasher)
        _set_active(link, directory_says_active(attributes), by, membership)
        audit.record(by, action, account_id=current.account_id, target_type="directory_record",
                     target_id=current.id, user_name=user_name)
    if not relink:
        # what was written, under the lock: the record's new values and its membership (updated in place)
        current.user_name, current.user_name_key, current.external_id = user_name, user_name_key(user_name), external_id
        current.attributes, current.version, current.updated_at = attributes, current.version + 1, now
        current.active = directory_says_active(attributes)
        return current
    updated = load_record(record_id)
    if updated is None:  # deleted by another request since
        raise NotFoundError(Text("No user %(id)s in this account.", id=record_id))
    return updated


def _relinked(current: DirectoryRecord, user_name: str, attributes: dict[str, Any], password: str | None,
              by: Actor, deployment: Deployment) -> _Link:
    """An unlinked record, replaced, tries to link again by its new emails (R2); its groups' permissions follow."""
    account = Account.get_by_id(current.account_id)
    link = _link(account, current.id, user_name, attributes, by, password, deployment)
    DirectoryRecord.update(membership=link.membership_id, unlinked_reason=link.reason).where(
        DirectoryRecord.id == current.id).execute()
    if link.membership_id is not None:
        directory_groups.record_linked(current.id, link.membership_id)
    return link


def _kept_link(current: DirectoryRecord, membership: Membership | None, password: str | None, by: Actor,
               hasher: Hasher) -> _Link:
    """A linked record keeps its person whatever it now says (R4); an initial password still reaches them."""
    assert current.membership_id is not None
    if password is not None:
        _initial_password(current.membership_id, password, account_id=current.account_id, record_id=current.id,
                          by=by, hasher=hasher)
    return _Link(current.membership_id, membership.status if membership is not None else None)


def _display(attributes: dict[str, Any]) -> Any:
    return attributes.get("displayName")


def delete_record(account_id: str, record_id: str, *, by: Actor, expected: versions.Expected = None) -> None:
    """Delete the record and remove its membership (R6, R11); refused for the last admin (R1).

    PreconditionFailedError, and nothing deleted, when its version under the lock is not ``expected``.
    """
    with transaction():
        current = _locked(account_id, record_id, by, expected)
        membership = membership_of(current)
        if membership is not None:
            members.remove(membership, by=by)
        directory_groups.record_leaving(current.id)
        DirectoryRecord.delete().where(DirectoryRecord.id == current.id).execute()
        audit.record(by, "directory_record.deleted", account_id=current.account_id, target_type="directory_record",
                     target_id=current.id, user_name=current.user_name)
