"""Inviting (R2, R5): one email, many, or one from a directory record; all through the same chunked path.

Bulk invites are set-based: one transaction per chunk, a handful of
statements per chunk, and the database's unique indexes (not a
check-then-insert) decide races, through INSERT … ON CONFLICT DO NOTHING.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from .. import audit, clock, emails, notifications, outbox, permissions, prepared
from .. import mails as notices
from ..accounts import lock, require_admin
from ..audit import Actor
from ..database import supports_returning, transaction
from ..deployment import Deployment
from ..errors import ConflictError, InvalidInputError
from ..fields import new_id
from ..groups import resolve_groups
from ..i18n import Text
from ..tenancy import Account, GroupMember, Invitation, Membership, User
from .links import new_token_fields, url_of

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
    deployment: Deployment,
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
        deployment=deployment,
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
    deployment: Deployment,
) -> list[InviteResult]:
    """Invite many emails; one result per email, in order: invited, added (an existing
    person gets the membership at once, R2), already_member, already_invited or rejected (R5)."""
    require_admin(account, by)
    granted = permissions.resolve(role, preset=preset, modules=modules)
    group_ids = [g.id for g in resolve_groups(account, groups)]
    scope = permissions.check_scope(account, sub_account_scope)
    people = [i if isinstance(i, Invitee) else Invitee(i) for i in invitees]
    results, accepted = _screen(account, people)
    keys = list(accepted)
    for start in range(0, len(keys), CHUNK):
        chunk = {k: people[accepted[k]] for k in keys[start : start + CHUNK]}
        with transaction():
            lock(account)  # first, as every writer of the account: the groups are read again under it
            if group_ids:
                group_ids = [g.id for g in resolve_groups(account, group_ids)]  # one deleted since: NotFoundError
            for key, result in _invite_chunk(account, chunk, role, granted, group_ids, scope, by, via,
                                                       deployment).items():
                results[accepted[key]] = result
    return results


def invite_from_directory(account: Account, invitee: Invitee, *, user: User | None, by: Actor,
                          deployment: Deployment) -> InviteResult:
    """One email of a directory record (models.directory): what :func:`bulk_invite` does for one email.

    The same rules (R2, R5) on the same path, without its per-call costs: the
    caller holds the transaction and has checked ``by``, and ``user`` is the
    Roster user of the email it has just looked up (None: there is none).
    """
    [result], accepted = _screen(account, [invitee])
    if accepted:
        key = next(iter(accepted))
        result = _invite_chunk(account, {key: invitee}, "user", permissions.resolve("user"), [], None, by, "scim",
                               deployment, known={key: user})[key]
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
            results[index].reason = Text("%(email)s is listed more than once.", email=person.email)
            continue
        accepted[key] = index
    return results, accepted


@dataclasses.dataclass(frozen=True)
class _Terms:
    """What one chunk of an invite grants and records, the same for each of its emails."""

    account: Account
    role: str
    granted: list[str]
    scope: list[str] | None
    by: Actor
    via: str
    now: dt.datetime
    expires_at: dt.datetime
    deployment: Deployment


def _invite_chunk(
    account: Account,
    chunk: dict[str, Invitee],
    role: str,
    granted: list[str],
    group_ids: list[str],
    scope: list[str] | None,
    by: Actor,
    via: str,
    deployment: Deployment,
    known: dict[str, User | None] | None = None,
) -> dict[str, InviteResult]:
    """Invite the emails of one chunk (keyed by email key) in the caller's transaction; a result per key.

    In order: the users (created for new emails), the account's memberships
    and live invitations of those emails, new memberships and their groups,
    the invitations, then the mails and audit events, each a statement or two
    for the whole chunk.
    """
    now = clock.now()
    terms = _Terms(account, role, granted, scope, by, via, now, now + dt.timedelta(days=account.invitation_ttl_days),
                   deployment)
    users, created_users = users_for(chunk, now, known)
    memberships, live = _current_state(account, list(chunk), users, created_users, now)
    results, new_memberships, to_invite = _sort_out(chunk, users, memberships, live, terms)
    created = _add_memberships(chunk, users, new_memberships, group_ids, results)
    to_invite = [(k, m) for k, m in to_invite if m in created or k not in results]
    invitation_rows = _invitation_rows(chunk, to_invite, terms)
    invited = _insert_ignoring_conflicts(Invitation, invitation_rows)
    _announce(users, invitation_rows, invited, results, terms)
    return results


def _current_state(account: Account, keys: list[str], users: dict[str, User], created_users: set[str],
                   now: dt.datetime) -> tuple[dict[str, Membership], set[str]]:
    """The account's memberships of these users (by user id) and the keys with a live pending invitation.

    Pending invitations past their expiry are marked expired on the way.
    """
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
    return memberships, {i.email_key for i in pending if i.expires_at > now}


def _sort_out(chunk: dict[str, Invitee], users: dict[str, User], memberships: dict[str, Membership], live: set[str],
              terms: _Terms) -> tuple[dict[str, InviteResult], list[dict[str, Any]], list[tuple[str, str]]]:
    """Each email's fate before any write (R2, R5): the refusals' results, the membership rows to insert,
    and the (key, membership id) pairs to invite; a registered person is added at once."""
    results: dict[str, InviteResult] = {}
    new_memberships: list[dict[str, Any]] = []
    to_invite: list[tuple[str, str]] = []  # (key, membership id)
    for key, person in chunk.items():
        user = users[key]
        existing = memberships.get(user.id)
        if key in live:
            results[key] = InviteResult(person.email, "already_invited",
                                        Text("%(email)s has a pending invitation already.", email=person.email))
        elif existing is not None and existing.status != "invited":
            results[key] = InviteResult(person.email, "already_member",
                                        Text("%(email)s is already a member.", email=person.email),
                                        membership_id=existing.id)
        elif existing is not None:
            to_invite.append((key, existing.id))  # the earlier invitation expired: invite again
        else:
            membership_id = new_id()
            registered = user.status != "pending"
            new_memberships.append(
                {"id": membership_id, "user": user.id, "account": terms.account.id,
                 "status": "active" if registered else "invited", "role": terms.role, "permissions": terms.granted,
                 "sub_account_scope": terms.scope, "created_via": terms.via, "created_at": terms.now,
                 "updated_at": terms.now}
            )
            if registered:
                results[key] = InviteResult(person.email, "added", membership_id=membership_id)
            else:
                to_invite.append((key, membership_id))
    return results, new_memberships, to_invite


def _add_memberships(chunk: dict[str, Invitee], users: dict[str, User], new_memberships: list[dict[str, Any]],
                     group_ids: list[str], results: dict[str, InviteResult]) -> set[str]:
    """Insert the new memberships and their groups; the ids that went in.

    A person another request added in the meantime gets ``already_member`` in ``results``.
    """
    created = _insert_ignoring_conflicts(Membership, new_memberships)
    for row in new_memberships:
        if row["id"] not in created:  # another request added this person in the meantime
            key = next(k for k, u in users.items() if u.id == row["user"])
            results[key] = InviteResult(chunk[key].email, "already_member",
                                        Text("%(email)s is already a member.", email=chunk[key].email))
    if group_ids and created:
        GroupMember.insert_many(
            [{"group": g, "membership": m} for m in created for g in group_ids]
        ).on_conflict_ignore().execute()
    return created


def _invitation_rows(chunk: dict[str, Invitee], to_invite: list[tuple[str, str]],
                     terms: _Terms) -> list[dict[str, Any]]:
    """An invitation row, with a fresh link token, for each (key, membership id)."""
    invitation_rows = []
    for key, membership_id in to_invite:
        invitation_id = new_id()
        person = chunk[key]
        invitation_rows.append(
            {"id": invitation_id, "account": terms.account.id, "membership": membership_id, "email": person.email,
             "email_key": key, "given_name": person.given_name, "family_name": person.family_name,
             "expires_at": terms.expires_at, "status": "pending", "invited_by": terms.by.user_id, "sent_count": 1,
             "last_sent_at": terms.now, "created_at": terms.now,
             **new_token_fields(invitation_id, terms.deployment.secrets)}
        )
    return invitation_rows


def _announce(users: dict[str, User], invitation_rows: list[dict[str, Any]], invited: set[str],
              results: dict[str, InviteResult], terms: _Terms) -> None:
    """The results of the invitations, then a mail and an audit event for each invited or added person."""
    account, by, role, via = terms.account, terms.by, terms.role, terms.via
    mails, events = [], []
    for row in invitation_rows:
        key = row["email_key"]
        if row["id"] not in invited:
            results[key] = InviteResult(row["email"], "already_invited",
                                        Text("%(email)s has a pending invitation already.", email=row["email"]))
            continue
        link = url_of(row["id"], row["token_nonce"], terms.deployment)
        results[key] = InviteResult(row["email"], "invited", membership_id=row["membership"],
                                    invitation_id=row["id"], link=link)
        mails.append(notices.invited(account, row["email"], link, terms.expires_at, terms.deployment,
                                     users.get(key)))
        events.append(audit.event(by, "invitation.created", account_id=account.id, target_type="invitation",
                                  target_id=row["id"], email=row["email"], role=role, via=via))
    added = []
    for key, result in results.items():
        if result.outcome == "added":
            added.append(users[key].id)
            events.append(audit.event(by, "membership.created", account_id=account.id, target_type="membership",
                                      target_id=result.membership_id or "", email=result.email, role=role, via=via))
    outbox.enqueue(*mails)
    notifications.notify_many("added", account_id=account.id, by=by, user_ids=added)
    audit.record_many(events)


def users_for(chunk: dict[str, Invitee], now: dt.datetime,
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
