"""Memberships and users: add, deactivate, reactivate, remove, role, leave, delete (R1, R6–R9, R11)."""

from __future__ import annotations

import dataclasses
import secrets as _secrets
from collections.abc import Sequence
from typing import Any

import peewee

from . import audit, clock, emails, mails, notifications, outbox, passwords, permissions
from .accounts import lock, require_admin
from .audit import Actor
from .database import transaction
from .deployment import Deployment
from .errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError, PolicyViolationError
from .groups import resolve_groups
from .i18n import Text
from .passwords import Hasher
from .prepared import Prepared
from .sessions import end_access
from .tenancy import Account, DirectoryRecord, Group, GroupMember, Invitation, Membership, User, directory_says_active


def find_user(email: str) -> User | None:
    return User.get_or_none(User.email_key == emails.key(email))


def get_membership(account: Account, email: str) -> Membership:
    membership: Membership | None = (
        Membership.select().join(User).where((Membership.account == account.id) & (User.email_key == emails.key(email)))
        .first()
    )
    if membership is None:
        raise NotFoundError(Text("%(email)s is not a member of %(account)s.", email=email, account=account.name))
    return membership


def list_members(account: Account, status: str | None = None) -> list[tuple[Membership, User]]:
    query = (Membership.select(Membership, User).join(User).where(Membership.account == account.id)
             .order_by(User.email_key))
    if status:
        query = query.where(Membership.status == status)
    return [(m, m.user) for m in query]


def ensure_an_admin_remains(account_id: str, *, role: str, status: str) -> None:
    """R1: refuse (and so roll back) a change that took a membership of ``role`` and ``status`` (before the
    change) from the account's admins.

    The account must keep an active admin; while it has none, it must keep
    an invited one: right after ``roster init`` its only admin is invited,
    and without them nobody could ever manage the account. Call it under
    the account's lock (:func:`models.accounts.lock`), after the change.
    """
    if role != "admin" or status not in ("active", "invited"):
        return  # not one who manages the account, nor will once they accept their invitation
    left = {m.status for m in Membership.select(Membership.status).where(
        (Membership.account == account_id) & (Membership.role == "admin")
        & Membership.status.in_(("active", "invited"))).distinct()}
    if "active" in left or (status == "invited" and left):
        return
    name = Account.get_by_id(account_id).name
    if status == "active":
        message = Text("%(account)s must keep at least one active admin: make another member an admin first.",
                       account=name)
    else:
        message = Text("%(account)s must keep at least one active or invited admin, and this invited admin is its "
                       "only one: invite another admin (or make a member one) first.", account=name)
    raise PolicyViolationError(message, reason="last_admin")


def _touch_directory_views(membership_id: str, *, groups: bool = False, active: bool | None = None) -> None:
    """A membership change shows in the SCIM views of it: bump their versions so ETags change.

    ``active``: the membership's new status, which its record stores (directory.is_active).
    """
    now = clock.now()
    changes: dict[Any, Any] = {DirectoryRecord.version: DirectoryRecord.version + 1, DirectoryRecord.updated_at: now}
    if active is not None:
        changes[DirectoryRecord.active] = active
    DirectoryRecord.update(changes).where(DirectoryRecord.membership == membership_id).execute()
    if groups:
        Group.update(version=Group.version + 1, updated_at=now).where(
            Group.id.in_(GroupMember.select(GroupMember.group).where(GroupMember.membership == membership_id))
        ).execute()


def unlink_directory_records(membership_ids: list[str], reason: str | None) -> None:
    """Before the memberships are deleted (which unlinks their records): why, and each record's ``active``.

    A record linked to nobody is as active as its directory last said
    (directory.is_active), which a console deactivation did not change.
    """
    records = list(DirectoryRecord.select(DirectoryRecord.id, DirectoryRecord.attributes).where(
        DirectoryRecord.membership.in_(membership_ids)))
    for active in (True, False):
        ids = [r.id for r in records if directory_says_active(r.attributes) == active]
        if ids:
            changes: dict[Any, Any] = {DirectoryRecord.active: active}
            if reason is not None:
                changes[DirectoryRecord.unlinked_reason] = reason
            DirectoryRecord.update(changes).where(DirectoryRecord.id.in_(ids)).execute()


def _reload_locked(membership: Membership) -> Membership:
    lock(membership.account_id)
    fresh = Membership.get_or_none(Membership.id == membership.id)
    if fresh is None:
        raise NotFoundError("This membership does not exist any more.")
    return fresh


# ----------------------------------------------------------------- R8


@dataclasses.dataclass
class AddedUser:
    membership: Membership
    user: User
    created_user: bool
    temporary_password: str | None = None


def add_user(
    account: Account,
    email: str,
    *,
    given_name: str = "",
    family_name: str = "",
    role: str = "user",
    preset: str | None = None,
    modules: list[str] | None = None,
    groups: Sequence[str] = (),
    sub_account_scope: list[str] | None = None,
    password: str | None = None,
    temporary_password: bool = False,
    by: Actor,
    via: str = "console",
    deployment: Deployment,
) -> AddedUser:
    """Create a member directly, without an invitation (R8).

    A new person gets ``password``, or a temporary password mailed to them
    that must be changed (with the terms accepted) at the first sign-in. A
    person who has a Roster user already gets the membership at once and a
    notice (R2); their own password is kept.
    """
    require_admin(account, by)
    email = emails.check_invitable(email, account.allowed_email_domains)
    granted = permissions.resolve(role, preset=preset, modules=modules)
    scope = permissions.check_scope(account, sub_account_scope)
    group_list = resolve_groups(account, groups)
    if password is not None:
        passwords.check_policy(password, email=email)
    with transaction():
        lock(account)  # first, like every writer of the account's groups and members (models.groups)
        user, created, temporary = _person_for(email, given_name, family_name, password, temporary_password,
                                                 deployment.hasher)
        try:
            with transaction():
                membership = Membership.create(user=user.id, account=account.id, status="active", role=role,
                                               permissions=granted, sub_account_scope=scope, created_via=via)
        except peewee.IntegrityError as exc:
            raise ConflictError(Text("%(email)s is already a member of %(account)s.", email=email,
                                     account=account.name), field="email", reason="already_member") from exc
        if group_list:
            group_list = resolve_groups(account, [g.id for g in group_list])  # none deleted since: NotFoundError
            GroupMember.insert_many([{"group": g.id, "membership": membership.id} for g in group_list]).execute()
        if temporary is not None:
            outbox.enqueue(mails.temporary_password(account, email, temporary, deployment, user))
        elif not created:
            notifications.notify("added", user.id, account_id=account.id, by=by)
        audit.record(by, "membership.created", account_id=account.id, target_type="membership",
                     target_id=membership.id, email=email, role=role, via=via, new_user=created,
                     temporary_password=temporary is not None,
                     **({"sub_account_scope": scope} if scope is not None else {}))
    return AddedUser(membership, User.get_by_id(user.id), created, temporary)


def _person_for(email: str, given_name: str, family_name: str, password: str | None,
                temporary_password: bool, hasher: Hasher) -> tuple[User, bool, str | None]:
    """The user ``email`` names, made an active one when new (or pending): (user, created, temporary password).

    A new person gets ``password``, or a temporary one when there is none or
    ``temporary_password`` asks; an existing person keeps theirs.
    """
    user = find_user(email)
    created = user is None or user.status == "pending"
    if user is None:
        try:
            with transaction():
                user = User.create(email=email, email_key=emails.key(email), given_name=given_name.strip(),
                                   family_name=family_name.strip(), status="pending")
        except peewee.IntegrityError:
            user = find_user(email)
            assert user is not None
            created = user.status == "pending"
    temporary = None
    if created:
        if temporary_password or password is None:
            temporary = _secrets.token_urlsafe(12)
            password = temporary
        User.update(
            status="active",
            password_hash=hasher.hash(password),
            must_change_password=temporary is not None,
            given_name=given_name.strip() or user.given_name,
            family_name=family_name.strip() or user.family_name,
            updated_at=clock.now(),
        ).where(User.id == user.id).execute()
    return user, created, temporary


def complete_first_login(user: User, *, accept_terms: bool, new_password: str | None = None,
                         hasher: Hasher) -> User:
    """R8: the terms before anything else, and a password of their own for a person given a temporary one.

    A person whose operator set their real password (``roster user create
    --password-stdin``) only accepts the terms; ``new_password`` is used only
    while ``must_change_password`` says the current one is temporary.
    """
    if not accept_terms:
        raise InvalidInputError("Accept the terms of use to continue.", field="accept_terms")
    changes: dict[str, object] = {}
    if user.must_change_password:
        if not new_password:
            raise InvalidInputError("Choose your own password.", field="new_password")
        passwords.check_policy(new_password, email=user.email)
        if hasher.verify(user.password_hash, new_password):
            raise InvalidInputError("Choose a password other than the temporary one.", field="new_password")
        changes = {"password_hash": hasher.hash(new_password), "must_change_password": False}
    with transaction():
        now = clock.now()
        User.update(terms_accepted_at=now, updated_at=now, **changes).where(User.id == user.id).execute()
        audit.record(Actor.for_user(user), "user.first_login_completed", account_id=None, target_type="user",
                     target_id=user.id, password_changed=bool(changes))
    return User.get_by_id(user.id)


def change_password(user: User, *, current: str, new: str, hasher: Hasher) -> None:
    """R9: a person changes their own password (the current one is required)."""
    if not hasher.verify(user.password_hash, current):
        raise InvalidInputError("The current password is not correct.", field="current_password")
    passwords.check_policy(new, email=user.email)
    with transaction():
        User.update(password_hash=hasher.hash(new), must_change_password=False,
                    updated_at=clock.now()).where(User.id == user.id).execute()
        audit.record(Actor.for_user(user), "user.password_changed", account_id=None, target_type="user",
                     target_id=user.id)
        notifications.notify("password_changed", user.id)


# ----------------------------------------------------------------- R6, R1, R11


def deactivate(membership: Membership, *, by: Actor) -> Membership:
    """Keep the membership but block all access to the account; ends access there (R6, R11)."""
    with transaction():
        require_admin(membership.account_id, by)
        membership = _reload_locked(membership)
        set_status_locked(membership, False, by=by)
    return membership


def reactivate(membership: Membership, *, by: Actor) -> Membership:
    with transaction():
        require_admin(membership.account_id, by)
        membership = _reload_locked(membership)
        set_status_locked(membership, True, by=by)
    return membership


_SET_STATUS = Prepared(lambda status, updated_at, membership_id: Membership.update(
    status=status, updated_at=updated_at).where(Membership.id == membership_id))


def set_status_locked(membership: Membership, active: bool, *, by: Actor, views_touched: bool = False) -> bool:
    """Deactivate (R6, R11, R1) or reactivate ``membership``; True when its status changed.

    For callers that have checked ``by``, hold the account's lock in their
    transaction and read ``membership`` under it (:func:`deactivate` and
    :func:`reactivate` do). ``membership`` is updated in place.
    ``views_touched``: the caller has raised the version of the membership's
    directory record (there is at most one) in this transaction already, and
    stored ``active`` in it.
    """
    if active == (membership.status != "deactivated"):
        return False
    now = clock.now()
    if active:
        # a person who never registered goes back to invited, not active
        registered = User.select(User.status).where(User.id == membership.user_id).scalar() != "pending"
        status = "active" if registered else "invited"
    else:
        status = "deactivated"
    was = membership.status
    _SET_STATUS.execute(status, now, membership.id)
    if not views_touched:
        _touch_directory_views(membership.id, active=active)
    if not active:
        ensure_an_admin_remains(membership.account_id, role=membership.role, status=was)
        end_access(membership.user_id, membership.account_id, "membership_deactivated")
    audit.record(by, "membership.deactivated" if not active else "membership.reactivated",
                 account_id=membership.account_id, target_type="membership", target_id=membership.id)
    if "invited" not in (was, status):  # an invitee hears of the account from their invitation, not from these
        notifications.notify("reactivated" if active else "deactivated", membership.user_id,
                             account_id=membership.account_id, by=by)
    membership.status, membership.updated_at = status, now
    return True


def remove(membership: Membership, *, by: Actor) -> None:
    """Delete the membership; the person keeps their other accounts and can be invited again (R6, R11)."""
    with transaction():
        if not (by.user_id and by.user_id == membership.user_id):
            require_admin(membership.account_id, by)
        membership = _reload_locked(membership)
        # before the delete: it sets these foreign keys to NULL
        Invitation.update(status="revoked").where(
            (Invitation.membership == membership.id) & (Invitation.status == "pending")).execute()
        _touch_directory_views(membership.id, groups=True)
        unlink_directory_records([membership.id], "removed_from_account")
        Membership.delete().where(Membership.id == membership.id).execute()
        ensure_an_admin_remains(membership.account_id, role=membership.role, status=membership.status)
        end_access(membership.user_id, membership.account_id, "membership_removed")
        action = "membership.left" if by.user_id == membership.user_id else "membership.removed"
        audit.record(by, action, account_id=membership.account_id, target_type="membership",
                     target_id=membership.id, user_id=membership.user_id)
        if membership.status != "invited":
            notifications.notify(action.removeprefix("membership."), membership.user_id,
                                 account_id=membership.account_id, by=by)


def leave(user: User, account: Account) -> None:
    """R9: a person leaves an account (R1 still holds)."""
    membership = Membership.get_or_none((Membership.user == user.id) & (Membership.account == account.id))
    if membership is None:
        raise NotFoundError(Text("You are not a member of %(account)s.", account=account.name))
    remove(membership, by=Actor.for_user(user))


def set_role(membership: Membership, role: str, *, preset: str | None = None, modules: list[str] | None = None,
             sub_account_scope: list[str] | None | permissions.Keep = permissions.KEEP, by: Actor) -> Membership:
    """Change role, modules and (unless left as KEEP) the sub-account scope; the user role never keeps
    admin-only modules (R7); R1 holds. The event records the values before and after."""
    granted = permissions.resolve(role, preset=preset, modules=modules)
    with transaction():
        require_admin(membership.account_id, by)
        membership = _reload_locked(membership)
        if preset is None and modules is None and role == "user" and membership.role == "user":
            granted = membership.permissions
        scope = membership.sub_account_scope
        if sub_account_scope is not permissions.KEEP:
            scope = permissions.check_scope(Account.get_by_id(membership.account_id), sub_account_scope)
        Membership.update(role=role, permissions=granted, sub_account_scope=scope, updated_at=clock.now()).where(
            Membership.id == membership.id).execute()
        if role != "admin":
            ensure_an_admin_remains(membership.account_id, role=membership.role, status=membership.status)
        scope_change = {} if scope == membership.sub_account_scope else {
            "sub_account_scope": scope, "previous_sub_account_scope": membership.sub_account_scope}
        audit.record(by, "membership.role_changed", account_id=membership.account_id, target_type="membership",
                     target_id=membership.id, role=role, permissions=granted, previous_role=membership.role,
                     previous_permissions=list(membership.permissions or []), **scope_change)
        if membership.status != "invited" and (role, granted) != (membership.role, membership.permissions):
            notifications.notify("role_changed", membership.user_id, account_id=membership.account_id, by=by,
                                 role=role, modules=list(granted))
    return Membership.get_by_id(membership.id)


def disable_user(user: User, *, by: Actor) -> None:
    """Block a person everywhere (an operator's act); every session and token ends (R11)."""
    if by.type not in ("cli", "system"):
        raise ForbiddenError("Only the operator can disable a user everywhere.")
    with transaction():
        User.update(status="disabled", updated_at=clock.now()).where(User.id == user.id).execute()
        end_access(user.id, None, "user_disabled")
        audit.record(by, "user.disabled", account_id=None, target_type="user", target_id=user.id, email=user.email)


def delete_user(user: User, *, by: Actor) -> None:
    """R9: delete the whole user and every membership; refused while they are an account's last admin (R1)."""
    if by.type not in ("cli", "system") and by.user_id != user.id:
        raise ForbiddenError("Only the person themself (or the operator) can delete a user.")
    with transaction():
        memberships = list(Membership.select().where(Membership.user == user.id))
        for account_id in sorted({m.account_id for m in memberships}):
            lock(account_id)
        end_access(user.id, None, "user_deleted")
        ids = [m.id for m in memberships]
        Invitation.update(status="revoked").where(Invitation.membership.in_(ids) & (Invitation.status == "pending")
                                                  ).execute()
        for membership_id in ids:
            _touch_directory_views(membership_id, groups=True)
        unlink_directory_records(ids, "user_deleted")
        Membership.delete().where(Membership.user == user.id).execute()
        for m in memberships:
            ensure_an_admin_remains(m.account_id, role=m.role, status=m.status)
        for m in memberships:
            audit.record(by, "membership.removed", account_id=m.account_id, target_type="membership",
                         target_id=m.id, user_id=user.id, reason="user_deleted")
        notifications.notify("user_deleted", user.id, by=by)  # before the row goes: the mail is sent from it
        User.delete().where(User.id == user.id).execute()
        audit.record(by, "user.deleted", account_id=None, target_type="user", target_id=user.id, email=user.email)
