"""Signing in: checking a password, which accounts a sign-in may be for, and what it still needs (R8, R10).

The pages and the authorization endpoint ask ``next_step`` what is missing
and send the person there, and ``refusal_for`` why a person may not go on to
an application at all; every decision about credentials and policy is taken
here, so each is tested once, on both databases.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from typing import Any

from . import audit, clock, mfa, passkeys, sso, throttle
from .audit import Actor
from .crypto import Secrets
from .errors import RosterError
from .i18n import N_, Text
from .invitations.links import effective_status
from .passwords import Hasher
from .security import TotpCredential
from .tenancy import Account, Invitation, Membership, User

# "mfa" alone comes from an upstream IdP whose second factor the account trusts (F5, models.sso)
SECOND_FACTORS = frozenset({"otp", "hwk", "swk", "mfa"})


class SignInRefused(RosterError):
    """Wrong email or password. One message for every cause, so it tells an attacker nothing."""

    code = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__(N_("The email or password is not right."), field="password")


def check_password(email: str, password: str, *, ip: str, hasher: Hasher) -> User:
    """The active person with this email and password, or SignInRefused / throttle.LockedOutError.

    Failures count per email and per IP in the database (every instance
    sees them); an unknown email costs the same hash check as a known one.
    """
    email_key = email.strip().lower()
    keys = [throttle.login_email_key(email_key), throttle.login_ip_key(ip or "unknown")]
    for key in keys:
        throttle.check(key)
    user = User.get_or_none(User.email_key == email_key)
    good = hasher.verify(user.password_hash if user else None, password)
    if not good or user is None or user.status != "active":
        until = [throttle.fail(key) for key in keys]
        locked = [u for u in until if u is not None]
        if user is not None:
            audit.record(Actor.for_user(user), "signin.failed", account_id=None, target_type="user",
                         target_id=user.id, ip=ip)
        if locked:
            raise throttle.LockedOutError(max(locked))
        raise SignInRefused()
    for key in keys:
        throttle.succeed(key)
    if user.password_hash and hasher.needs_rehash(user.password_hash):
        _rehash(user, password, hasher)
    return user


def _rehash(user: User, password: str, hasher: Hasher) -> None:
    """Store the password again at the deployment's argon2 cost: only now is it known in clear.

    Only over the hash that was checked, so a password changed meanwhile (reset, profile) stays.
    """
    old = user.password_hash
    user.password_hash = hasher.hash(password)
    User.update(password_hash=user.password_hash).where((User.id == user.id) & (User.password_hash == old)).execute()


def check_second_factor(user: User, code: str, *, secrets: Secrets) -> str:
    """Check a TOTP or recovery code; returns the RFC 8176 method (``otp``). Throttled per person."""

    def try_code() -> str:
        cleaned = code.strip()
        if mfa.verify_totp(user, cleaned, secrets=secrets) or mfa.use_recovery_code(user, cleaned):
            return "otp"
        raise RosterError("That code is not right; enter the current code from your app or an unused recovery "
                          "code.", field="code", reason="invalid_code")

    return throttle.attempt(throttle.totp_key(user.id), try_code)


def check_security_key(user: User, response_json: str | dict[str, Any], *, challenge: bytes, rp_id: str,
                       origin: str) -> str:
    """Check a WebAuthn assertion of one of ``user``'s keys; returns its RFC 8176 method (``hwk`` or ``swk``).

    Throttled with the codes (one count per person), so trying keys does not
    extend the guesses a code allows.
    """

    def try_key() -> str:
        _, credential = passkeys.verify_authentication(response_json, challenge=challenge, rp_id=rp_id,
                                                       origin=origin, user=user)
        return passkeys.amr_method(credential)

    return throttle.attempt(throttle.totp_key(user.id), try_key)


def admitted_accounts(user: User, client_account_id: str | None) -> list[Account]:
    """The accounts a sign-in may be for: the person's active memberships, only the client's if it is bound."""
    query = (Account.select().join(Membership, on=(Membership.account == Account.id))
             .where((Membership.user == user.id) & (Membership.status == "active"))
             .order_by(Account.name, Account.id))
    if client_account_id is not None:
        query = query.where(Account.id == client_account_id)
    return list(query)


# what the relying party is told with access_denied (RFC 6749 §4.1.2.1 allows no double quote or backslash);
# no account is named, for a client that admits every account learns only that the person was refused
REFUSAL_DESCRIPTIONS = {
    "deactivated": "The person's membership in the account is deactivated.",
    "not_member": "The person is not an active member of an account this client admits.",
    "invitation_expired": "The person's invitation to the account has expired.",
    "invitation_pending": "The person has not accepted their invitation to the account yet.",
    "mfa": "The person did not complete the second factor the sign-in requires.",
}
ADMINS_NAMED = 3


@dataclasses.dataclass(frozen=True)
class Refusal:
    """Why a signed-in person may not go on to an application, as the page tells them (issue 13).

    ``reason`` is one of REFUSAL_DESCRIPTIONS. ``account`` is named only when
    the person belongs to it (deactivated, invited, or an active member whose
    second factor is missing), never an account they are not a member of; its
    active admins are named (``admins``) only to a member. ``until``: when the
    invitation expires or expired. ``by_policy``: the second factor is the
    account's rule (R10), not only the application's request (acr_values).
    """

    reason: str
    account: Account | None = None
    admins: tuple[str, ...] = ()
    until: dt.datetime | None = None
    enrolled: bool = False
    by_policy: bool = False

    @property
    def description(self) -> str:
        return REFUSAL_DESCRIPTIONS[self.reason]


def admin_names(account: Account, limit: int = ADMINS_NAMED) -> tuple[str, ...]:
    """The names of up to ``limit`` active admins of ``account`` (R7), to ask; people without a name are left out."""
    query = (User.select(User.display_name, User.given_name, User.family_name)
             .join(Membership, on=(Membership.user == User.id))
             .where((Membership.account == account.id) & (Membership.role == "admin")
                    & (Membership.status == "active") & (User.status == "active"))
             .order_by(User.given_name, User.family_name, User.id))
    found = [user.name for user in query]
    return tuple(name for name in found if name)[:limit]


def refusal_for(user: User, client_account_id: str | None) -> Refusal:
    """Why ``user`` has no account the client admits (``admitted_accounts`` found none).

    The most telling of their memberships there (the client's account, or
    any account for a platform-wide client): deactivated (R6), then an
    invitation that expired, then one still to accept (R3); else they are
    not a member (never were, or were removed), and no account is named.
    """
    query = (Membership.select(Membership, Account).join(Account, on=(Membership.account == Account.id))
             .where((Membership.user == user.id) & Membership.status.in_(("deactivated", "invited")))
             .order_by(Account.name, Account.id))
    if client_account_id is not None:
        query = query.where(Membership.account == client_account_id)
    memberships = list(query)
    for membership in memberships:
        if membership.status == "deactivated":
            return Refusal("deactivated", membership.account, admin_names(membership.account))
    invited: dict[str, list[Refusal]] = {"expired": [], "pending": []}
    for membership in memberships:
        invitation = (Invitation.select().where(Invitation.membership == membership.id)
                      .order_by(Invitation.created_at.desc(), Invitation.id).first())
        if invitation is not None and effective_status(invitation) in invited:
            status = effective_status(invitation)
            invited[status].append(Refusal(f"invitation_{status}", membership.account, until=invitation.expires_at))
    for status in ("expired", "pending"):
        if invited[status]:
            return invited[status][0]
    return Refusal("not_member")


def second_factor_refusal(user: User, account: Account) -> Refusal:
    """A person who cannot give the second factor this sign-in for ``account`` requires (R10, or acr_values=mfa)."""
    return Refusal("mfa", account, admin_names(account), enrolled=mfa.has_second_factor(user),
                   by_policy=mfa.mfa_required_for(account))


@dataclasses.dataclass(frozen=True)
class Step:
    """What a sign-in still needs: ``login``, ``first_login``, ``mfa``, ``mfa_enrol``; None when complete."""

    name: str | None
    reason: str = ""
    connection_id: str | None = None  # ``sso``: the connection to sign in through (F4)


DONE = Step(None)


def next_step(user: User, account: Account | None, *, amr: Iterable[str], auth_time: dt.datetime | None,
              max_age: int | None = None, acr_values: Iterable[str] = (), signing_in: bool = False,
              connection_id: str | None = None) -> Step:
    """The next thing this sign-in must do before it may be used for ``account``.

    ``signing_in`` is the moment after the password, before a session starts:
    a person who enrolled a second factor uses it then, whatever the account
    asks (a factor enrolled later in a session is asked at the next sign-in).
    Then F4: an account that requires SSO of this person is used only by a
    sign-in through its connection (``connection_id``, the session's). Then
    freshness (``max_age``), then R8 (the terms, and a new password after a
    temporary one), then R10: an account with ``mfa_required`` or a
    request for ``acr=mfa`` needs a second factor in this sign-in; a person
    without one enrols now.
    """
    if auth_time is None:
        return Step("login", "Sign in to continue.")
    if account is not None:
        needed = sso.required(user, account)
        if needed is not None and needed.id != connection_id:
            return Step("sso", Text("%(account)s signs its people in through %(connection)s.", account=account.name,
                                    connection=needed.name), needed.id)
    second_factor = bool(SECOND_FACTORS & set(amr))
    if signing_in and not second_factor and mfa.has_second_factor(user):
        return Step("mfa", "Confirm it is you with a second factor.")
    if max_age is not None and clock.now() - auth_time > dt.timedelta(seconds=max(max_age, 0)):
        return Step("login", "Sign in again: the application asked for a recent sign-in.")
    if user.must_change_password:
        return Step("first_login", "Accept the terms and choose your own password.")
    if user.terms_accepted_at is None:
        return Step("first_login", "Accept the terms of use to continue.")
    wants_mfa = "mfa" in set(acr_values) or (account is not None and mfa.mfa_required_for(account))
    if wants_mfa and not second_factor:
        if mfa.has_second_factor(user):
            return Step("mfa", "Confirm it is you with a second factor.")
        if account is None:
            return Step("mfa_enrol", N_("This application requires a second factor: set one up to continue."))
        return Step("mfa_enrol", Text("%(account)s requires a second factor: set one up to continue.",
                                      account=account.name))
    return DONE


def acr_for(amr: Iterable[str]) -> str:
    """What the sign-in achieved, as advertised in discovery: ``mfa`` with a second factor, else ``pwd``."""
    return "mfa" if SECOND_FACTORS & set(amr) else "pwd"


def amr_with(amr: Iterable[str], method: str) -> list[str]:
    """``amr`` after ``method`` succeeded too, with ``mfa`` once two kinds of factor were used (RFC 8176)."""
    if "fed" in amr:  # the upstream sign-in is one factor, Roster's own the other (F5)
        values = [m for m in amr if m != "mfa"]
        return [*values, *(v for v in mfa.amr_for([method]) if v not in values), "mfa"]
    return mfa.amr_for([m for m in amr if m != "mfa"] + [method])



def has_totp(user: User) -> bool:
    return bool(TotpCredential.select().where((TotpCredential.user == user.id)
                                              & TotpCredential.confirmed_at.is_null(False)).exists())
