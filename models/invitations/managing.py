"""Managing sent invitations (R3, R4): find, list, resend, copy the link, revoke, edit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from .. import audit, clock, emails, mails, members, outbox, permissions
from ..accounts import lock, require_admin
from ..audit import Actor
from ..database import transaction
from ..deployment import Deployment
from ..errors import ConflictError, NotFoundError, PolicyViolationError
from ..groups import resolve_groups, set_groups
from ..i18n import N_, Text
from ..tenancy import Account, GroupMember, Invitation, Membership, User
from .inviting import Invitee, users_for
from .links import effective_status, invitation_url, new_token_fields


def find_invitation(account: Account, email: str) -> Invitation:
    """The newest invitation of ``email`` to ``account``."""
    invitation: Invitation | None = (
        Invitation.select()
        .where((Invitation.account == account.id) & (Invitation.email_key == emails.key(email)))
        .order_by(Invitation.created_at.desc(), Invitation.id)
        .first()
    )
    if invitation is None:
        raise NotFoundError(Text("No invitation for %(email)s in %(account)s.", email=email, account=account.name))
    return invitation


def list_invitations(account: Account, status: str | None = "pending") -> list[Invitation]:
    query = Invitation.select().where(Invitation.account == account.id).order_by(Invitation.created_at.desc())
    if status:
        query = query.where(Invitation.status == status)
    return list(query)


# whole sentences for each status the refusal can name, not a status word put into one, so that each language
# can say them its own way
_NOT_OPEN = {  # (status, what was asked)
    ("accepted", "resent"): N_("This invitation was accepted already; it cannot be resent."),
    ("revoked", "resent"): N_("This invitation was revoked already; it cannot be resent."),
    ("accepted", "revoked"): N_("This invitation was accepted already; it cannot be revoked."),
    ("revoked", "revoked"): N_("This invitation was revoked already; it cannot be revoked."),
}
_NO_LINK = {
    "expired": N_("This invitation is expired; resend it for a new link."),
    "revoked": N_("This invitation is revoked; resend it for a new link."),
    "accepted": N_("This invitation is accepted; resend it for a new link."),
}
_NOT_EDITED = {
    "expired": N_("This invitation is expired; only a pending invitation can be edited."),
    "revoked": N_("This invitation is revoked; only a pending invitation can be edited."),
    "accepted": N_("This invitation is accepted; only a pending invitation can be edited."),
}


def _require_open(invitation: Invitation, action: str) -> None:
    if invitation.status not in ("pending", "expired"):
        raise PolicyViolationError(_NOT_OPEN[invitation.status, action], reason=f"invitation_{invitation.status}")


def resend(invitation: Invitation, *, by: Actor, deployment: Deployment) -> str:
    """New token (the old link stops working), expiry restarts, mail again (R3). Returns the link."""
    with transaction():
        invitation = Invitation.get_by_id(invitation.id)
        require_admin(invitation.account_id, by)
        _require_open(invitation, "resent")
        return _send_again(invitation, Account.get_by_id(invitation.account_id), by, deployment)


def _send_again(invitation: Invitation, account: Account, by: Actor, deployment: Deployment) -> str:
    """In the caller's transaction: a new token and expiry, the mail to the invitation's email, the event."""
    now = clock.now()
    expires_at = now + dt.timedelta(days=account.invitation_ttl_days)
    fields = new_token_fields(invitation.id, deployment.secrets)
    Invitation.update(status="pending", expires_at=expires_at, sent_count=Invitation.sent_count + 1,
                      last_sent_at=now, **fields).where(Invitation.id == invitation.id).execute()
    invitation = Invitation.get_by_id(invitation.id)
    link = invitation_url(invitation, deployment)
    # in the invited person's language (their pending user's, or theirs if they registered meanwhile)
    reader = (User.select().join(Membership, on=(Membership.user == User.id))
              .where(Membership.id == invitation.membership_id).first())
    outbox.enqueue(mails.invited(account, invitation.email, link, expires_at, deployment, reader))
    audit.record(by, "invitation.resent", account_id=account.id, target_type="invitation",
                 target_id=invitation.id, email=invitation.email)
    return link


def link(invitation: Invitation, *, by: Actor, deployment: Deployment) -> str:
    """The current link, to pass on by hand ("copy link"); only while it can still be used."""
    require_admin(invitation.account_id, by)
    status = effective_status(invitation)
    if status != "pending":
        raise PolicyViolationError(_NO_LINK[status], reason=f"invitation_{status}")
    return invitation_url(invitation, deployment)


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
         family_name: str | None = None, role: str | None = None, preset: str | None = None,
         modules: list[str] | None = None, groups: Sequence[str] | None = None,
         sub_account_scope: list[str] | None | permissions.Keep = permissions.KEEP, send_new_link: bool = False,
         by: Actor, deployment: Deployment) -> Invitation:
    """Change a pending invitation (R4): its email and name, and the invited membership's role, modules
    (``preset``/``modules`` as :func:`invite` takes them), groups and sub-account scope; None (KEEP for the
    scope, where None means every sub-account) leaves a part as it is.

    The link stays the same unless the email changes and ``send_new_link``
    asks for a new one: then the old link stops working and a new one goes to
    the new address (a resend, R3). Role and groups change through
    :func:`models.members.set_role` and :func:`models.groups.set_groups`, so
    R1 and R7 hold and each change has its own audit event; the email and
    name change is ``invitation.edited``. All or nothing.
    """
    with transaction():
        lock(invitation.account_id)  # first, as every writer of the account (R1)
        invitation = Invitation.get_by_id(invitation.id)
        require_admin(invitation.account_id, by)
        if invitation.status != "pending":
            raise PolicyViolationError(_NOT_EDITED[invitation.status], reason=f"invitation_{invitation.status}")
        account = Account.get_by_id(invitation.account_id)
        changes: dict[str, Any] = {}
        if given_name is not None and given_name.strip()[:200] != invitation.given_name:
            changes["given_name"] = given_name.strip()[:200]
        if family_name is not None and family_name.strip()[:200] != invitation.family_name:
            changes["family_name"] = family_name.strip()[:200]
        if email is not None and emails.key(email) != invitation.email_key:
            email = emails.check_invitable(email, account.allowed_email_domains)
            changes.update(email=email, email_key=emails.key(email))
            _move_invited_membership(account, invitation, email, changes, deployment.product_name)
        if changes:
            Invitation.update(**changes).where(Invitation.id == invitation.id).execute()
            audit.record(by, "invitation.edited", account_id=account.id, target_type="invitation",
                         target_id=invitation.id, **{k: v for k, v in changes.items() if k != "email_key"})
        if (role is not None or preset is not None or modules is not None or groups is not None
                or sub_account_scope is not permissions.KEEP):
            _edit_access(invitation, role, preset, modules, groups, sub_account_scope, by)
        if send_new_link and "email" in changes:
            _send_again(Invitation.get_by_id(invitation.id), account, by, deployment)
    return Invitation.get_by_id(invitation.id)


def _edit_access(invitation: Invitation, role: str | None, preset: str | None, modules: list[str] | None,
                 groups: Sequence[str] | None, scope: list[str] | None | permissions.Keep, by: Actor) -> None:
    """The invited membership's role, modules, scope and groups, each changed only when it differs."""
    membership = Membership.get_or_none(Membership.id == invitation.membership_id)
    if membership is None:
        raise PolicyViolationError("This invitation has no membership to change any more; invite again.",
                                   reason="invitation_revoked")
    new_role = role or membership.role
    if scope is not permissions.KEEP:
        scope = permissions.check_scope(Account.get_by_id(membership.account_id), scope)
        if scope == membership.sub_account_scope:
            scope = permissions.KEEP
    if new_role != membership.role or preset is not None or modules is not None or scope is not permissions.KEEP:
        granted = permissions.resolve(new_role, preset=preset, modules=modules)
        changed = (new_role, granted) != (membership.role, list(membership.permissions or []))
        if changed or scope is not permissions.KEEP:
            members.set_role(membership, new_role, preset=preset, modules=modules, sub_account_scope=scope, by=by)
    if groups is not None:
        wanted = {g.id for g in resolve_groups(Account.get_by_id(membership.account_id), groups)}
        current = {row.group_id for row in GroupMember.select().where(GroupMember.membership == membership.id)}
        if wanted != current:
            set_groups(membership, list(wanted), by=by)


def _move_invited_membership(account: Account, invitation: Invitation, email: str, changes: dict[str, Any],
                             product_name: str) -> None:
    """Point the invited membership at the (pending) user of the new email."""
    key = emails.key(email)
    if Invitation.select().where((Invitation.account == account.id) & (Invitation.email_key == key)
                                 & (Invitation.status == "pending") & (Invitation.expires_at > clock.now())).exists():
        raise ConflictError(Text("%(email)s has a pending invitation already.", email=email), field="email",
                            reason="already_invited")
    users, _ = users_for({key: Invitee(email, changes.get("given_name", ""), changes.get("family_name", ""))},
                          clock.now())
    new_user = users[key]
    if Membership.select().where((Membership.account == account.id) & (Membership.user == new_user.id)).exists():
        raise ConflictError(Text("%(email)s is already a member.", email=email), field="email", reason="already_member")
    if new_user.status != "pending":
        # the new email belongs to a registered person: the invitation can
        # only lead to registration of a new one, so refuse rather than link silently
        raise ConflictError(Text("%(email)s already has a %(product)s user; invite that email instead.", email=email,
                                 product=product_name),
                            field="email", reason="registered_user")
    old = Membership.get_or_none(Membership.id == invitation.membership_id)
    if old is not None:
        old_user_id = old.user_id
        Membership.update(user=new_user.id, updated_at=clock.now()).where(Membership.id == old.id).execute()
        if not Membership.select().where(Membership.user == old_user_id).exists():
            User.delete().where((User.id == old_user_id) & (User.status == "pending")).execute()
