"""Second factors (R10): TOTP, recovery codes, and what a sign-in's ``amr`` says about them.

TOTP seeds are kept encrypted (models.crypto); recovery codes only as a
hash (models.secrets). Time comes from models.clock, never the system
clock, so tests and every instance agree on the current step. Single use
is enforced by the database: a conditional UPDATE that only one of two
concurrent attempts can win.

Throttling of attempts is the caller's part (models.signin, through
models.throttle.attempt under ``totp_key(user.id)``), so a sign-in counts
TOTP, recovery-code and security-key failures together.
"""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import secrets as _secrets
from collections.abc import Iterable

import pyotp

from . import audit, clock, notifications
from .audit import Actor
from .crypto import Secrets
from .database import transaction
from .deployment import Deployment
from .errors import ConflictError, InvalidInputError, NotFoundError
from .secrets import token_hash
from .security import RecoveryCode, TotpCredential, WebAuthnCredential
from .tenancy import Account, User

STEP_SECONDS = 30
DIGITS = 6
# accepted time steps around the current one: previous, current, next
WINDOW = 1
RECOVERY_CODE_COUNT = 10


# --- TOTP -----------------------------------------------------------------


def _current_step() -> int:
    """The TOTP time step of models.clock's now (naive UTC)."""
    now = clock.now().replace(tzinfo=dt.UTC)
    return int(now.timestamp()) // STEP_SECONDS


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)


def _matching_step(secret: str, code: str) -> int | None:
    """The step within ±WINDOW of now whose code is ``code``, compared in constant time; None if none."""
    code = "".join(code.split())
    if len(code) != DIGITS or not code.isdigit():
        return None
    totp = _totp(secret)
    current = _current_step()
    found: int | None = None
    # every candidate is compared, so timing says nothing about which one matched
    for step in range(current - WINDOW, current + WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step).encode(), code.encode()) and found is None:
            found = step
    return found


def _claim_step(credential_id: str, step: int) -> bool:
    """Record ``step`` as used unless it (or a later one) already was: the database decides races."""
    updated: int = (
        TotpCredential.update(last_used_step=step)
        .where((TotpCredential.id == credential_id) & (TotpCredential.last_used_step < step))
        .execute()
    )
    return updated == 1


def begin_totp(user: User, *, label: str | None = None, deployment: Deployment) -> tuple[TotpCredential, str]:
    """Start TOTP enrolment: a new unconfirmed credential and the ``otpauth://`` URI for the QR code.

    Earlier enrolments the person never confirmed are dropped.
    """
    secret = pyotp.random_base32()
    with transaction():
        TotpCredential.delete().where(
            (TotpCredential.user == user.id) & TotpCredential.confirmed_at.is_null()
        ).execute()
        credential = TotpCredential.create(user=user.id, secret_encrypted=deployment.secrets.encrypt(secret))
        audit.record(Actor.for_user(user), "mfa.totp_enrolment_started", account_id=None,
                     target_type="user", target_id=user.id, credential_id=credential.id)
    uri = _totp(secret).provisioning_uri(name=label or user.email, issuer_name=deployment.product_name)
    return credential, uri


def totp_enrolment_pending(user: User, credential_id: str) -> bool:
    """True while ``credential_id`` is an enrolment of ``user``'s that nobody confirmed or replaced.

    A page that shows an enrolment again (a reload) asks this instead of
    starting anew: looking at the same QR code twice is not an event.
    """
    return bool(TotpCredential.select().where(
        (TotpCredential.id == credential_id) & (TotpCredential.user == user.id)
        & TotpCredential.confirmed_at.is_null()
    ).exists())


def confirm_totp(user: User, credential_id: str, code: str, *, secrets: Secrets) -> list[str]:
    """Confirm enrolment with a code from the app; returns 10 new recovery codes, shown once.

    Raises NotFoundError for another person's or an unknown credential,
    ConflictError if already confirmed, InvalidInputError for a wrong code.
    """
    with transaction():
        credential = TotpCredential.get_or_none(
            (TotpCredential.id == credential_id) & (TotpCredential.user == user.id)
        )
        if credential is None:
            raise NotFoundError("This authenticator enrolment was not found; start again.")
        if credential.confirmed_at is not None:
            raise ConflictError("This authenticator is already confirmed.")
        step = _matching_step(secrets.decrypt(credential.secret_encrypted), code)
        if step is None:
            raise InvalidInputError("That code is not right; enter the current code from your authenticator app.",
                                    field="code", reason="invalid_code")
        confirmed = (
            TotpCredential.update(confirmed_at=clock.now(), last_used_step=step)
            .where((TotpCredential.id == credential.id) & TotpCredential.confirmed_at.is_null())
            .execute()
        )
        if confirmed != 1:
            raise ConflictError("This authenticator is already confirmed.")
        codes = _replace_recovery_codes(user)
        audit.record(Actor.for_user(user), "mfa.totp_confirmed", account_id=None,
                     target_type="user", target_id=user.id, credential_id=credential.id)
        notifications.notify("totp_added", user.id)  # its recovery codes are part of it: no second mail
    return codes


def verify_totp(user: User, code: str, *, secrets: Secrets) -> bool:
    """True if ``code`` is valid now (±1 step) for one of the person's confirmed authenticators.

    A time step already accepted for that authenticator is refused, so a
    code cannot be replayed, not even by two requests at once.
    """
    credentials = list(
        TotpCredential.select().where(
            (TotpCredential.user == user.id) & TotpCredential.confirmed_at.is_null(False)
        )
    )
    for credential in credentials:
        step = _matching_step(secrets.decrypt(credential.secret_encrypted), code)
        if step is None or step <= credential.last_used_step:
            continue
        with transaction():
            if _claim_step(credential.id, step):
                return True
    return False


def remove_totp(user: User, credential_id: str, by: Actor) -> None:
    """Remove an authenticator. Without any second factor left, the recovery codes go too."""
    with transaction():
        deleted = (
            TotpCredential.delete()
            .where((TotpCredential.id == credential_id) & (TotpCredential.user == user.id))
            .execute()
        )
        if deleted != 1:
            raise NotFoundError("This authenticator was not found.")
        recovery_removed = 0
        if not has_second_factor(user):
            recovery_removed = RecoveryCode.delete().where(RecoveryCode.user == user.id).execute()
        audit.record(by, "mfa.totp_removed", account_id=None, target_type="user", target_id=user.id,
                     credential_id=credential_id, recovery_codes_removed=recovery_removed)
        notifications.notify("totp_removed", user.id, by=by)


# --- recovery codes -------------------------------------------------------


def _new_recovery_code() -> str:
    """80 random bits as 16 base32 characters, grouped for reading: ``abcd-efgh-ijkl-mnop``."""
    raw = base64.b32encode(_secrets.token_bytes(10)).decode().lower()
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def _normalise_recovery_code(code: str) -> str:
    return "".join(c for c in code.lower() if c.isalnum())


def _replace_recovery_codes(user: User) -> list[str]:
    """Invalidate every earlier code and store 10 new ones hashed; call inside a transaction."""
    RecoveryCode.delete().where(RecoveryCode.user == user.id).execute()
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.insert_many(
        [{"user": user.id, "code_hash": token_hash(_normalise_recovery_code(c)), "created_at": clock.now()}
         for c in codes]
    ).execute()
    return codes


def regenerate_recovery_codes(user: User, *, first: bool = False) -> list[str]:
    """Ten new recovery codes, shown once; every earlier one stops working.

    The person is told (models.notifications) unless these are their ``first``.
    """
    with transaction():
        codes = _replace_recovery_codes(user)
        audit.record(Actor.for_user(user), "mfa.recovery_codes_regenerated", account_id=None,
                     target_type="user", target_id=user.id)
        if not first:
            notifications.notify("recovery_codes_regenerated", user.id)
    return codes


def use_recovery_code(user: User, code: str) -> bool:
    """True once per code: the database lets only one of two concurrent uses through."""
    normalised = _normalise_recovery_code(code)
    if not normalised:
        return False
    with transaction():
        used = (
            RecoveryCode.update(used_at=clock.now())
            .where(
                (RecoveryCode.user == user.id)
                & (RecoveryCode.code_hash == token_hash(normalised))
                & RecoveryCode.used_at.is_null()
            )
            .execute()
        )
        if used != 1:
            return False
        remaining = RecoveryCode.select().where(
            (RecoveryCode.user == user.id) & RecoveryCode.used_at.is_null()
        ).count()
        audit.record(Actor.for_user(user), "mfa.recovery_code_used", account_id=None,
                     target_type="user", target_id=user.id, remaining=remaining)
    return True


def first_recovery_codes(user: User) -> list[str]:
    """Ten codes for a person who just set up a second factor and has none (R10); [] if they have some."""
    if remaining_recovery_codes(user) > 0:
        return []
    return regenerate_recovery_codes(user, first=True)


def remaining_recovery_codes(user: User) -> int:
    return RecoveryCode.select().where((RecoveryCode.user == user.id) & RecoveryCode.used_at.is_null()).count()


# --- policy ---------------------------------------------------------------


def has_second_factor(user: User) -> bool:
    """A confirmed authenticator app or any WebAuthn key/passkey."""
    if TotpCredential.select().where(
        (TotpCredential.user == user.id) & TotpCredential.confirmed_at.is_null(False)
    ).exists():
        return True
    return bool(WebAuthnCredential.select().where(WebAuthnCredential.user == user.id).exists())


def mfa_required_for(account: Account) -> bool:
    """R10: signing in to this account's context needs a second factor."""
    return bool(account.mfa_required)


# RFC 8176 values for the methods a sign-in used, and the factor each one is
_AMR = {
    "password": "pwd",
    "pwd": "pwd",
    "totp": "otp",
    "otp": "otp",
    # a recovery code is a one-time password the person keeps
    "recovery_code": "otp",
    "security_key": "hwk",
    "hwk": "hwk",
    "passkey": "swk",
    "swk": "swk",
}
_FACTOR = {"pwd": "knowledge", "otp": "possession", "hwk": "possession", "swk": "possession"}


def amr_for(methods: Iterable[str]) -> list[str]:
    """RFC 8176 ``amr`` values for the methods used, in order, with ``mfa`` when two kinds of factor were.

    Methods: password/pwd, totp/otp, recovery_code, security_key/hwk, passkey/swk.
    """
    values: list[str] = []
    for method in methods:
        try:
            value = _AMR[method]
        except KeyError:
            raise ValueError(f"unknown authentication method {method!r}") from None
        if value not in values:
            values.append(value)
    if len({_FACTOR[v] for v in values}) >= 2:
        values.append("mfa")
    return values
