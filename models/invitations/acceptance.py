"""Accepting an invitation (R3): the page's view of a link, and registration with activation."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from .. import audit, clock, passwords
from ..audit import Actor
from ..crypto import Secrets
from ..database import transaction
from ..errors import InvalidInputError, PolicyViolationError
from ..i18n import N_
from ..passwords import Hasher
from ..tenancy import Account, Invitation, Membership, User
from .links import effective_status, names, replaced, stored_hash


@dataclasses.dataclass
class InvitationView:
    """What the acceptance page needs: the invitation, its state, and whether to register.

    A link replaced by a resend has no invitation (it cannot be used) but
    names its account, so its page can say whom to ask.
    """

    invitation: Invitation | None
    status: str
    needs_registration: bool
    account: Account | None = None


def lookup(token: str, *, secrets: Secrets | None = None) -> InvitationView:
    """Find the invitation of a link token; status says why it cannot be used, if so (R3).

    Statuses: pending, expired, revoked, accepted, invalid — and, given the
    deployment's ``secrets`` to tell a genuine old link from a made-up one,
    ``resent`` for a link a resend replaced (``accepted`` or ``revoked`` when
    its invitation has since been used or revoked). Without ``secrets`` such a
    link is ``invalid``.
    """
    token = token or ""
    invitation = Invitation.get_or_none(Invitation.token_hash == stored_hash(token))
    if invitation is None or not names(token, invitation):
        old = replaced(token, secrets) if secrets is not None else None
        if old is None:
            return InvitationView(None, "invalid", False)
        status = old.status if old.status in ("accepted", "revoked") else "resent"
        return InvitationView(None, status, False, Account.get_or_none(Account.id == old.account_id))
    membership = Membership.get_or_none(Membership.id == invitation.membership_id)
    user = User.get_by_id(membership.user_id) if membership else None
    return InvitationView(invitation, effective_status(invitation), bool(user and user.status == "pending"),
                          Account.get_by_id(invitation.account_id))


# why a link cannot be used (R3), and the way on; {admin} is whom to ask, {account} the account when known
_REFUSED_IN = {
    "invalid": N_("This invitation link is not valid. Check that the whole link from the mail was used, or ask "
                  "{admin} for a new one. If you already have a user, sign in."),
    "expired": N_("This invitation to {account} has expired. Ask {admin} to send it again. If you already have a "
                  "user, sign in."),
    "revoked": N_("This invitation to {account} was revoked. If you still need access, ask {admin}. If you already "
                  "have a user, sign in."),
    "accepted": N_("This invitation to {account} has been used already. Sign in instead."),
    "resent": N_("This link was replaced by a newer one: the invitation to {account} was sent again. Use the link "
                 "in the latest mail, or ask {admin} to send it again. If you already have a user, sign in."),
}
_REFUSED = {
    "invalid": _REFUSED_IN["invalid"],
    "expired": N_("This invitation has expired. Ask {admin} to send it again. If you already have a user, sign in."),
    "revoked": N_("This invitation was revoked. If you still need access, ask {admin}. If you already have a user, "
                  "sign in."),
    "accepted": N_("This invitation has been used already. Sign in instead."),
    "resent": N_("This link was replaced by a newer one: the invitation was sent again. Use the link in the latest "
                 "mail, or ask {admin} to send it again. If you already have a user, sign in."),
}


def _untranslated(text: str) -> str:
    return text


def refusal(status: str, account_name: str | None = None,
            gettext: Callable[[str], str] = _untranslated) -> str:
    """Why a link cannot be used, and the way on: sign in, or ask the account's admin (named when known);
    in the language ``gettext`` translates to (English without)."""
    admin = (gettext(N_("an admin of {account}")).format(account=account_name) if account_name
             else gettext(N_("the admin who invited you")))
    text = (_REFUSED_IN if account_name else _REFUSED)[status]
    return gettext(text).format(admin=admin, account=account_name)


REFUSALS = {status: refusal(status) for status in ("invalid", "expired", "revoked", "accepted", "resent")}


def accept(token: str, *, given_name: str = "", family_name: str = "", password: str | None = None,
           accept_terms: bool = False, hasher: Hasher, secrets: Secrets | None = None) -> Membership:
    """Accept an invitation: register the pending person (name, password, terms) and
    activate the membership. Expired, revoked or used links change nothing (R3);
    with ``secrets``, the refusal of a link a resend replaced says so (see :func:`lookup`)."""
    with transaction():
        view = lookup(token, secrets=secrets)
        if view.status != "pending" or view.invitation is None:
            raise PolicyViolationError(refusal(view.status, view.account.name if view.account else None),
                                       reason=f"invitation_{view.status}")
        invitation = view.invitation
        membership = Membership.get_or_none(Membership.id == invitation.membership_id)
        if membership is None:
            raise PolicyViolationError(refusal("revoked", view.account.name if view.account else None),
                                       reason="invitation_revoked")
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
                        password_hash=hasher.hash(password), terms_accepted_at=now,
                        updated_at=now).where(User.id == user.id).execute()
        # a membership deactivated since the invitation stays so (R6): the person registers, an admin reactivates
        Membership.update(status="active", updated_at=now).where(
            (Membership.id == membership.id) & (Membership.status != "deactivated")).execute()
        Invitation.update(status="accepted", accepted_at=now).where(Invitation.id == invitation.id).execute()
        audit.record(Actor("user", user.id, user.email, user_id=user.id), "invitation.accepted",
                     account_id=invitation.account_id, target_type="invitation", target_id=invitation.id)
    return Membership.get_by_id(membership.id)
