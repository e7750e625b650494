"""Accepting an invitation (R3): the page's view of a link, and registration with activation."""

from __future__ import annotations

import dataclasses

from .. import audit, clock, passwords
from ..audit import Actor
from ..database import transaction
from ..errors import InvalidInputError, PolicyViolationError
from ..passwords import Hasher
from ..secrets import token_hash
from ..tenancy import Account, Invitation, Membership, User
from .links import effective_status


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
           accept_terms: bool = False, hasher: Hasher) -> Membership:
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
                        password_hash=hasher.hash(password), terms_accepted_at=now,
                        updated_at=now).where(User.id == user.id).execute()
        # a membership deactivated since the invitation stays so (R6): the person registers, an admin reactivates
        Membership.update(status="active", updated_at=now).where(
            (Membership.id == membership.id) & (Membership.status != "deactivated")).execute()
        Invitation.update(status="accepted", accepted_at=now).where(Invitation.id == invitation.id).execute()
        audit.record(Actor("user", user.id, user.email, user_id=user.id), "invitation.accepted",
                     account_id=invitation.account_id, target_type="invitation", target_id=invitation.id)
    return Membership.get_by_id(membership.id)
