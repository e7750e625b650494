"""Invitations (R2–R5): invite, bulk invite, resend, revoke, edit, accept.

Bulk invites are set-based: one transaction per chunk, a handful of
statements per chunk, and the database's unique indexes (not a
check-then-insert) decide races, through INSERT … ON CONFLICT DO NOTHING.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import secrets as _secrets
from collections.abc import Iterable, Sequence
from typing import Any

from . import audit, clock, emails, members, outbox, passwords, permissions, prepared, settings
from .accounts import lock, require_admin
from .audit import Actor
from .database import supports_returning, transaction
from .errors import ConflictError, InvalidInputError, NotFoundError, PolicyViolationError
from .fields import new_id
from .groups import resolve_groups
from .secrets import token_hash
from .tenancy import Account, GroupMember, Invitation, Membership, User

CHUNK = 500
OUTCOMES = ("invited", "added", "already_member", "already_invited", "rejected")


@dataclasses.dataclass
class Invitee:
    email: str
    given_name: str = ""
    family_name: str = ""


@dataclasses.dataclass
class InviteResult:
    """What happened to one email of an invite (R5)."""

    email: str
    outcome: str
    reason: str = ""
    membership_id: str | None = None
    invitation_id: str | None = None
    link: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


# ----------------------------------------------------------------- links


def _link_token(invitation_id: str, nonce: str) -> str:
    mac = hmac.new(settings.current.secret_key.encode(), f"invitation:{invitation_id}:{nonce}".encode(),
                   hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def invitation_url(invitation: Invitation) -> str:
    """The link that leads to acceptance (and registration for a new person)."""
    return f"{settings.current.base_url.rstrip('/')}/invitations/{_link_token(invitation.id, invitation.token_nonce)}"


def _new_token_fields(invitation_id: str) -> dict[str, str]:
    nonce = _secrets.token_urlsafe(16)
    return {"token_nonce": nonce, "token_hash": token_hash(_link_token(invitation_id, nonce))}


def effective_status(invitation: Invitation) -> str:
    if invitation.status == "pending" and invitation.expires_at <= clock.now():
        return "expired"
    return invitation.status


# ----------------------------------------------------------------- mails


def _mail_invited(account: Account, email: str, link: str, expires_at: dt.datetime) -> dict[str, Any]:
    product = settings.current.product_name
    return outbox.mail(
        email,
        f"You are invited to {account.name} on {product}",
        f"You have been invited to join {account.name} on {product}.\n\n"
        f"Register and join: {link}\n\nThis link is valid until {expires_at:%Y-%m-%d %H:%M} UTC.\n",
        template="invitation",
        account_id=account.id,
    )


def _mail_added(account: Account, email: str) -> dict[str, Any]:
    product = settings.current.product_name
    return outbox.mail(
        email,
        f"You now have access to {account.name} on {product}",
        f"You have been added to {account.name}. Sign in at {settings.current.base_url} to use it.\n",
        template="added",
        account_id=account.id,
    )


# ----------------------------------------------------------------- invite


def invite(
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
    by: Actor,
    via: str = "console",
) -> InviteResult:
    """Invite one person (R2); raises instead of returning a refusal (R5)."""
    [result] = bulk_invite(
        account,
        [Invitee(email, given_name, family_name)],
        role=role,
        preset=preset,
        modules=modules,
        groups=groups,
        sub_account_scope=sub_account_scope,
        by=by,
        via=via,
    )
    if result.outcome == "rejected":
        raise InvalidInputError(result.reason, field="email", reason="rejected")
    if result.outcome in ("already_member", "already_invited"):
        raise ConflictError(result.reason, field="email", reason=result.outcome)
    return result


def bulk_invite(
    account: Account,
    invitees: Iterable[Invitee | str],
    *,
    role: str = "user",
    preset: str | None = None,
    modules: list[str] | None = None,
    groups: Sequence[str] = (),
    sub_account_scope: list[str] | None = None,
    by: Actor,
    via: str = "console",
) -> list[InviteResult]:
    """Invite many emails; one result per email, in order: invited, added (an existing
    person gets the membership at once, R2), already_member, already_invited or rejected (R5)."""
    require_admin(account, by)
    granted = permissions.resolve(role, preset=preset, modules=modules)
    group_ids = [g.id for g in resolve_groups(account, groups)]
    scope = _check_scope(account, sub_account_scope)
    people = [i if isinstance(i, Invitee) else Invitee(i) for i in invitees]
    results, accepted = _screen(account, people)
    keys = list(accepted)
    for start in range(0, len(keys), CHUNK):
        chunk = {k: people[accepted[k]] for k in keys[start : start + CHUNK]}
        with transaction():
            lock(account)  # first, as every writer of the account: the groups are read again under it
            if group_ids:
                group_ids = [g.id for g in resolve_groups(account, group_ids)]  # one deleted since: NotFoundError
            for key, result in _invite_chunk(account, chunk, role, granted, group_ids, scope, by, via).items():
                results[accepted[key]] = result
    return results


def invite_from_directory(account: Account, invitee: Invitee, *, user: User | None, by: Actor) -> InviteResult:
    """One email of a directory record (models.directory): what :func:`bulk_invite` does for one email.

    The same rules (R2, R5) on the same path, without its per-call costs: the
    caller holds the transaction and has checked ``by``, and ``user`` is the
    Roster user of the email it has just looked up (None: there is none).
    """
    [result], accepted = _screen(account, [invitee])
    if accepted:
        key = next(iter(accepted))
        result = _invite_chunk(account, {key: invitee}, "user", permissions.resolve("user"), [], None, by, "scim",
                               known={key: user})[key]
    return result


def _screen(account: Account, people: list[Invitee]) -> tuple[list[InviteResult], dict[str, int]]:
    """R5 before any write: each email checked (refused ones get their reason) and listed once.

    Returns a result per person (``rejected`` until invited) and the index of each accepted email key.
    """
    results: list[InviteResult] = [InviteResult(p.email, "rejected") for p in people]
    accepted: dict[str, int] = {}
    for index, person in enumerate(people):
        try:
            person.email = emails.check_invitable(person.email, account.allowed_email_domains)
        except InvalidInputError as exc:
            results[index].reason = exc.message
            continue
        key = emails.key(person.email)
        if key in accepted:
            results[index].reason = f"{person.email} is listed more than once."
            continue
        accepted[key] = index
    return results, accepted


def _check_scope(account: Account, scope: list[str] | None) -> list[str] | None:
    if scope is None:
        return None
    children = {a.id for a in Account.select(Account.id).where(Account.parent == account.id)}
    unknown = [s for s in scope if s not in children]
    if unknown:
        raise InvalidInputError(f"Not sub-accounts of {account.name}: {', '.join(unknown)}.", field="sub_accounts")
    return list(scope)


def _invite_chunk(
    account: Account,
    chunk: dict[str, Invitee],
    role: str,
    granted: list[str],
    group_ids: list[str],
    scope: list[str] | None,
    by: Actor,
    via: str,
    known: dict[str, User | None] | None = None,
) -> dict[str, InviteResult]:
    now = clock.now()
    expires_at = now + dt.timedelta(days=account.invitation_ttl_days)
    keys = list(chunk)
    users, created_users = _users_for(chunk, now, known)
    # a user created just now is in no account yet
    older = [u.id for k, u in users.items() if k not in created_users]
    memberships = {
        m.user_id: m
        for m in Membership.select().where((Membership.account == account.id) & Membership.user.in_(older))
    } if older else {}
    pending = list(
        Invitation.select().where(
            (Invitation.account == account.id) & Invitation.email_key.in_(keys) & (Invitation.status == "pending")
        )
    )
    stale = [i.id for i in pending if i.expires_at <= now]
    if stale:
        Invitation.update(status="expired").where(Invitation.id.in_(stale)).execute()
    live = {i.email_key for i in pending if i.expires_at > now}

    results: dict[str, InviteResult] = {}
    new_memberships: list[dict[str, Any]] = []
    to_invite: list[tuple[str, str]] = []  # (key, membership id)
    for key, person in chunk.items():
        user = users[key]
        existing = memberships.get(user.id)
        if key in live:
            results[key] = InviteResult(person.email, "already_invited",
                                        f"{person.email} has a pending invitation already.")
        elif existing is not None and existing.status != "invited":
            results[key] = InviteResult(person.email, "already_member", f"{person.email} is already a member.",
                                        membership_id=existing.id)
        elif existing is not None:
            to_invite.append((key, existing.id))  # the earlier invitation expired: invite again
        else:
            membership_id = new_id()
            registered = user.status != "pending"
            new_memberships.append(
                {"id": membership_id, "user": user.id, "account": account.id,
                 "status": "active" if registered else "invited", "role": role, "permissions": granted,
                 "sub_account_scope": scope, "created_via": via, "created_at": now, "updated_at": now}
            )
            if registered:
                results[key] = InviteResult(person.email, "added", membership_id=membership_id)
            else:
                to_invite.append((key, membership_id))

    created = _insert_ignoring_conflicts(Membership, new_memberships)
    for row in new_memberships:
        if row["id"] not in created:  # another request added this person in the meantime
            key = next(k for k, u in users.items() if u.id == row["user"])
            results[key] = InviteResult(chunk[key].email, "already_member", f"{chunk[key].email} is already a member.")
    to_invite = [(k, m) for k, m in to_invite if m in created or k not in results]
    if group_ids and created:
        GroupMember.insert_many(
            [{"group": g, "membership": m} for m in created for g in group_ids]
        ).on_conflict_ignore().execute()

    invitation_rows = []
    for key, membership_id in to_invite:
        invitation_id = new_id()
        person = chunk[key]
        invitation_rows.append(
            {"id": invitation_id, "account": account.id, "membership": membership_id, "email": person.email,
             "email_key": key, "given_name": person.given_name, "family_name": person.family_name,
             "expires_at": expires_at, "status": "pending", "invited_by": by.user_id, "sent_count": 1,
             "last_sent_at": now, "created_at": now, **_new_token_fields(invitation_id)}
        )
    invited = _insert_ignoring_conflicts(Invitation, invitation_rows)

    mails, events = [], []
    for row in invitation_rows:
        key = row["email_key"]
        if row["id"] not in invited:
            results[key] = InviteResult(row["email"], "already_invited",
                                        f"{row['email']} has a pending invitation already.")
            continue
        link = f"{settings.current.base_url.rstrip('/')}/invitations/{_link_token(row['id'], row['token_nonce'])}"
        results[key] = InviteResult(row["email"], "invited", membership_id=row["membership"],
                                    invitation_id=row["id"], link=link)
        mails.append(_mail_invited(account, row["email"], link, expires_at))
        events.append(audit.event(by, "invitation.created", account_id=account.id, target_type="invitation",
                                  target_id=row["id"], email=row["email"], role=role, via=via))
    for key, result in results.items():
        if result.outcome == "added":
            mails.append(_mail_added(account, users[key].email))
            events.append(audit.event(by, "membership.created", account_id=account.id, target_type="membership",
                                      target_id=result.membership_id or "", email=result.email, role=role, via=via))
    outbox.enqueue(*mails)
    audit.record_many(events)
    return results


def _users_for(chunk: dict[str, Invitee], now: dt.datetime,
               known: dict[str, User | None] | None = None) -> tuple[dict[str, User], set[str]]:
    """The Roster user of each email, creating pending ones for new emails (R2).

    Returns the users and the keys whose user this call created (no
    membership can name those yet). ``known`` holds users the caller has
    just looked up (None: none with that email), so they are not read twice.
    """
    keys = list(chunk)
    known = known or {}
    users = {k: u for k, u in known.items() if u is not None and k in chunk}
    unknown = [k for k in keys if k not in known]
    if unknown:
        users.update({u.email_key: u for u in User.select().where(User.email_key.in_(unknown))})
    missing = [k for k in keys if k not in users]
    created: set[str] = set()
    if missing:
        rows: dict[str, dict[str, Any]] = {
            k: {"id": new_id(), "email": chunk[k].email, "email_key": k, "given_name": chunk[k].given_name,
                "family_name": chunk[k].family_name, "status": "pending", "email_notifications": {},
                "created_at": now, "updated_at": now} for k in missing}
        inserted = _insert_ignoring_conflicts(User, list(rows.values()))
        for k, row in rows.items():
            if row["id"] in inserted:
                users[k] = User(**row)
                created.add(k)
        raced = [k for k in missing if k not in users]  # another request created them in the meantime
        if raced:
            users.update({u.email_key: u for u in User.select().where(User.email_key.in_(raced))})
    return users, created



def _insert_ignoring_conflicts(model: Any, rows: list[dict[str, Any]]) -> set[str]:
    """Insert rows whose ids we drew; return the ids that went in (the rest hit a unique index).

    One statement per chunk: RETURNING names the rows that went in, or else
    the row count does when it is all or nothing; only an older SQLite with a
    partial conflict reads the ids back.
    """
    if not rows:
        return set()
    inserted: set[str] = set()
    returning = supports_returning()
    for start in range(0, len(rows), CHUNK):
        part = rows[start : start + CHUNK]
        # SQL built once per shape (models.prepared): on the SCIM path this is one row each time
        if returning:
            inserted.update(r[0] for r in prepared.insert(model, part, ignore_conflicts=True,
                                                          returning_ids=True).fetchall())
            continue
        count = prepared.insert(model, part, ignore_conflicts=True).rowcount
        ids = [r["id"] for r in part]
        if count == len(part):
            inserted.update(ids)
        elif count:
            inserted.update(r.id for r in model.select(model.id).where(model.id.in_(ids)))
    return inserted


# ----------------------------------------------------------------- manage


def find_invitation(account: Account, email: str) -> Invitation:
    """The newest invitation of ``email`` to ``account``."""
    invitation = (
        Invitation.select()
        .where((Invitation.account == account.id) & (Invitation.email_key == emails.key(email)))
        .order_by(Invitation.created_at.desc(), Invitation.id)
        .first()
    )
    if invitation is None:
        raise NotFoundError(f"No invitation for {email} in {account.name}.")
    return invitation


def list_invitations(account: Account, status: str | None = "pending") -> list[Invitation]:
    query = Invitation.select().where(Invitation.account == account.id).order_by(Invitation.created_at.desc())
    if status:
        query = query.where(Invitation.status == status)
    return list(query)


def _require_open(invitation: Invitation, action: str) -> None:
    if invitation.status not in ("pending", "expired"):
        raise PolicyViolationError(f"This invitation was {invitation.status} already; it cannot be {action}.",
                                   reason=f"invitation_{invitation.status}")


def resend(invitation: Invitation, *, by: Actor) -> str:
    """New token (the old link stops working), expiry restarts, mail again (R3). Returns the link."""
    with transaction():
        invitation = Invitation.get_by_id(invitation.id)
        require_admin(invitation.account_id, by)
        _require_open(invitation, "resent")
        account = Account.get_by_id(invitation.account_id)
        now = clock.now()
        expires_at = now + dt.timedelta(days=account.invitation_ttl_days)
        fields = _new_token_fields(invitation.id)
        Invitation.update(status="pending", expires_at=expires_at, sent_count=Invitation.sent_count + 1,
                          last_sent_at=now, **fields).where(Invitation.id == invitation.id).execute()
        invitation = Invitation.get_by_id(invitation.id)
        link = invitation_url(invitation)
        outbox.enqueue(_mail_invited(account, invitation.email, link, expires_at))
        audit.record(by, "invitation.resent", account_id=account.id, target_type="invitation",
                     target_id=invitation.id, email=invitation.email)
    return link


def link(invitation: Invitation, *, by: Actor) -> str:
    """The current link, to pass on by hand ("copy link"); only while it can still be used."""
    require_admin(invitation.account_id, by)
    if effective_status(invitation) != "pending":
        raise PolicyViolationError(f"This invitation is {effective_status(invitation)}; resend it for a new link.",
                                   reason=f"invitation_{effective_status(invitation)}")
    return invitation_url(invitation)


def revoke(invitation: Invitation, *, by: Actor) -> None:
    """The link stops working and the invited membership goes (R3)."""
    with transaction():
        # the account lock before the invitation's row, as SCIM's and the console's removals take them (R1 too)
        lock(invitation.account_id)
        invitation = Invitation.get_by_id(invitation.id)
        require_admin(invitation.account_id, by)
        _require_open(invitation, "revoked")
        Invitation.update(status="revoked").where(Invitation.id == invitation.id).execute()
        if invitation.membership_id:
            invited = Membership.get_or_none((Membership.id == invitation.membership_id)
                                             & (Membership.status == "invited"))
            if invited is not None:
                members.unlink_directory_records([invited.id], None)
                Membership.delete().where(Membership.id == invited.id).execute()
                members.ensure_an_admin_remains(invited.account_id, role=invited.role, status=invited.status)
        audit.record(by, "invitation.revoked", account_id=invitation.account_id, target_type="invitation",
                     target_id=invitation.id, email=invitation.email)


def edit(invitation: Invitation, *, email: str | None = None, given_name: str | None = None,
         family_name: str | None = None, by: Actor) -> Invitation:
    """Change the email and name of a pending invitation (R4); the link stays the same."""
    with transaction():
        invitation = Invitation.get_by_id(invitation.id)
        require_admin(invitation.account_id, by)
        if invitation.status != "pending":
            raise PolicyViolationError(
                f"This invitation is {invitation.status}; only a pending invitation can be edited.",
                reason=f"invitation_{invitation.status}")
        account = Account.get_by_id(invitation.account_id)
        changes: dict[str, Any] = {}
        if given_name is not None:
            changes["given_name"] = given_name.strip()[:200]
        if family_name is not None:
            changes["family_name"] = family_name.strip()[:200]
        if email is not None and emails.key(email) != invitation.email_key:
            email = emails.check_invitable(email, account.allowed_email_domains)
            changes.update(email=email, email_key=emails.key(email))
            _move_invited_membership(account, invitation, email, changes)
        if changes:
            Invitation.update(**changes).where(Invitation.id == invitation.id).execute()
            audit.record(by, "invitation.edited", account_id=account.id, target_type="invitation",
                         target_id=invitation.id, **{k: v for k, v in changes.items() if k != "email_key"})
    return Invitation.get_by_id(invitation.id)


def _move_invited_membership(account: Account, invitation: Invitation, email: str, changes: dict[str, Any]) -> None:
    """Point the invited membership at the (pending) user of the new email."""
    key = emails.key(email)
    if Invitation.select().where((Invitation.account == account.id) & (Invitation.email_key == key)
                                 & (Invitation.status == "pending") & (Invitation.expires_at > clock.now())).exists():
        raise ConflictError(f"{email} has a pending invitation already.", field="email", reason="already_invited")
    users, _ = _users_for({key: Invitee(email, changes.get("given_name", ""), changes.get("family_name", ""))},
                          clock.now())
    new_user = users[key]
    if Membership.select().where((Membership.account == account.id) & (Membership.user == new_user.id)).exists():
        raise ConflictError(f"{email} is already a member.", field="email", reason="already_member")
    if new_user.status != "pending":
        # the new email belongs to a registered person: the invitation can
        # only lead to registration of a new one, so refuse rather than link silently
        raise ConflictError(f"{email} already has a {settings.current.product_name} user; invite that email instead.",
                            field="email", reason="registered_user")
    old = Membership.get_or_none(Membership.id == invitation.membership_id)
    if old is not None:
        old_user_id = old.user_id
        Membership.update(user=new_user.id, updated_at=clock.now()).where(Membership.id == old.id).execute()
        if not Membership.select().where(Membership.user == old_user_id).exists():
            User.delete().where((User.id == old_user_id) & (User.status == "pending")).execute()


# ----------------------------------------------------------------- accept


@dataclasses.dataclass
class InvitationView:
    """What the acceptance page needs: the invitation, its state, and whether to register."""

    invitation: Invitation | None
    status: str
    needs_registration: bool
    account: Account | None = None


def lookup(token: str) -> InvitationView:
    """Find the invitation of a link token; status says why it cannot be used, if so (R3)."""
    invitation = Invitation.get_or_none(Invitation.token_hash == token_hash(token or ""))
    if invitation is None:
        return InvitationView(None, "invalid", False)
    membership = Membership.get_or_none(Membership.id == invitation.membership_id)
    user = User.get_by_id(membership.user_id) if membership else None
    return InvitationView(invitation, effective_status(invitation), bool(user and user.status == "pending"),
                          Account.get_by_id(invitation.account_id))


REFUSALS = {
    "invalid": "This invitation link is not valid. Ask the account's admin for a new one.",
    "expired": "This invitation has expired. Ask the account's admin to resend it.",
    "revoked": "This invitation was revoked by the account's admin.",
    "accepted": "This invitation has been used already. Sign in instead.",
}


def accept(token: str, *, given_name: str = "", family_name: str = "", password: str | None = None,
           accept_terms: bool = False) -> Membership:
    """Accept an invitation: register the pending person (name, password, terms) and
    activate the membership. Expired, revoked or used links change nothing (R3)."""
    with transaction():
        view = lookup(token)
        if view.status != "pending" or view.invitation is None:
            raise PolicyViolationError(REFUSALS[view.status], reason=f"invitation_{view.status}")
        invitation = view.invitation
        membership = Membership.get_or_none(Membership.id == invitation.membership_id)
        if membership is None:
            raise PolicyViolationError(REFUSALS["revoked"], reason="invitation_revoked")
        user = User.get_by_id(membership.user_id)
        now = clock.now()
        if user.status == "pending":
            if not accept_terms:
                raise InvalidInputError("Accept the terms of use to register.", field="accept_terms")
            given_name = (given_name or invitation.given_name).strip()
            family_name = (family_name or invitation.family_name).strip()
            if not given_name or not family_name:
                raise InvalidInputError("Your first and last name are required.", field="given_name")
            if password is None:
                raise InvalidInputError("Choose a password.", field="password")
            passwords.check_policy(password, email=user.email)
            User.update(given_name=given_name[:200], family_name=family_name[:200], status="active",
                        password_hash=passwords.hash_password(password), terms_accepted_at=now,
                        updated_at=now).where(User.id == user.id).execute()
        # a membership deactivated since the invitation stays so (R6): the person registers, an admin reactivates
        Membership.update(status="active", updated_at=now).where(
            (Membership.id == membership.id) & (Membership.status != "deactivated")).execute()
        Invitation.update(status="accepted", accepted_at=now).where(Invitation.id == invitation.id).execute()
        audit.record(Actor("user", user.id, user.email, user_id=user.id), "invitation.accepted",
                     account_id=invitation.account_id, target_type="invitation", target_id=invitation.id)
    return Membership.get_by_id(membership.id)
