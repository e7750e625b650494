"""WebAuthn second factors (R10): security keys and passkeys, with the ``webauthn`` package.

A ceremony has two halves. ``registration_options`` / ``authentication_options``
return the options JSON for ``navigator.credentials.create()`` / ``.get()``
and the challenge; the caller keeps the challenge (in its signed session)
and hands it back, with the browser's response, to ``finish_registration`` /
``verify_authentication``. Settings (``rp_id``, ``rp_name``, ``origin``)
arrive as arguments.

The challenge begins with the time it was issued (models.clock), so a
challenge is good for ``CHALLENGE_TTL`` only, and an assertion is refused
once its credential has been used after the challenge was issued: a
replayed assertion fails even for authenticators whose counter stays 0
(most synced passkeys). Both that and the signature counter (WebAuthn L2
§6.1.1) are enforced by one conditional UPDATE, so two concurrent uses of
one assertion cannot both pass.

Throttling of attempts is the caller's part (models.throttle), as for TOTP.
"""

from __future__ import annotations

import datetime as dt
import secrets as _secrets
import struct
from typing import Any

import peewee as pw
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_registration_credential_json,
)
from webauthn.helpers.cose import COSEAlgorithmIdentifier
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from . import audit, clock, notifications
from .audit import Actor
from .database import transaction
from .errors import ForbiddenError, InvalidInputError, NotFoundError
from .i18n import Text
from .mfa import has_second_factor
from .security import RecoveryCode, WebAuthnCredential
from .tenancy import User

CHALLENGE_TTL = dt.timedelta(minutes=5)
NICKNAME_MAX = 100
# ES256 first: what nearly every authenticator makes; RS256 for Windows Hello; EdDSA for newer keys
ALGORITHMS = [
    COSEAlgorithmIdentifier.ECDSA_SHA_256,
    COSEAlgorithmIdentifier.EDDSA,
    COSEAlgorithmIdentifier.RSASSA_PKCS1_v1_5_SHA_256,
]
_EPOCH = dt.datetime(1970, 1, 1)
_RANDOM_BYTES = 24

Origin = str | list[str]
_TRANSPORTS = frozenset(t.value for t in AuthenticatorTransport)


# --- challenges -------------------------------------------------------------


def _new_challenge() -> bytes:
    """8 bytes of issue time (µs since the epoch, UTC) then 24 random bytes."""
    micros = (clock.now() - _EPOCH) // dt.timedelta(microseconds=1)
    return struct.pack(">Q", micros) + _secrets.token_bytes(_RANDOM_BYTES)


def _issued_at(challenge: bytes) -> dt.datetime:
    """When ``challenge`` was issued; InvalidInputError if it is not one of ours or has expired."""
    if not isinstance(challenge, bytes) or len(challenge) != 8 + _RANDOM_BYTES:
        raise InvalidInputError("This security key request is not valid; start again.", reason="invalid_challenge")
    (micros,) = struct.unpack(">Q", challenge[:8])
    issued = _EPOCH + dt.timedelta(microseconds=micros)
    if clock.now() - issued > CHALLENGE_TTL:
        raise InvalidInputError("This security key request has expired; start again.", reason="expired_challenge")
    return issued


# --- errors -----------------------------------------------------------------

# what the webauthn package says (its messages) → what a person can do about it
_REFUSALS = (
    ("challenge", "challenge_mismatch",
     "This response answers another request (perhaps an older tab); start again."),
    ("origin", "origin_mismatch",
     "This response came from another web address; open this page at its usual address and try again."),
    ("RP ID", "rp_id_mismatch",
     "This key answered for another site; use a key or passkey made for this one."),
)
_CLONED = "This key's use counter did not go up, so it may have been copied; use another key or ask for help."


def _refusal(exc: Exception, default: str) -> InvalidInputError:
    text = str(exc)
    for needle, reason, message in _REFUSALS:
        if needle in text:
            return InvalidInputError(message, reason=reason)
    return InvalidInputError(default, reason="invalid_response")


def _descriptor(credential: WebAuthnCredential) -> PublicKeyCredentialDescriptor:
    transports = [AuthenticatorTransport(t) for t in credential.transports if t in _TRANSPORTS]
    return PublicKeyCredentialDescriptor(id=base64url_to_bytes(credential.credential_id), transports=transports or None)


# --- registration -------------------------------------------------------------


def registration_options(user: User, *, rp_id: str, rp_name: str) -> tuple[str, bytes]:
    """Options for ``navigator.credentials.create()`` (JSON) and the challenge the caller keeps.

    A discoverable credential (passkey) and user verification are preferred,
    not required, so plain security keys still work; the person's existing
    keys are excluded so one authenticator is not registered twice.
    """
    challenge = _new_challenge()
    options = generate_registration_options(
        rp_id=rp_id,
        rp_name=rp_name,
        # the opaque user id, never the email: authenticators keep the handle (WebAuthn L2 §14.6.1)
        user_id=user.id.encode(),
        user_name=user.email,
        user_display_name=user.name or user.email,
        challenge=challenge,
        timeout=int(CHALLENGE_TTL.total_seconds() * 1000),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[_descriptor(c) for c in list_for(user)],
        supported_pub_key_algs=ALGORITHMS,
    )
    return options_to_json(options), challenge


def finish_registration(user: User, response_json: str | dict[str, Any], *, challenge: bytes, rp_id: str,
                        origin: Origin, nickname: str | None = None, by: Actor) -> WebAuthnCredential:
    """Verify the browser's ``navigator.credentials.create()`` response and store the new key.

    ``challenge`` is the one ``registration_options`` returned; ``origin`` the
    page's origin (``https://host[:port]``) or a list of accepted ones.
    Raises InvalidInputError (a message a person can act on; ``reason`` says
    which) for an expired or foreign challenge, another origin or RP ID, a
    malformed or forged response, a key already registered, or a bad nickname.
    """
    _issued_at(challenge)
    name = _clean_nickname(nickname) if nickname is not None else None
    try:
        parsed = parse_registration_credential_json(response_json)
        verified = verify_registration_response(
            credential=parsed, expected_challenge=challenge, expected_rp_id=rp_id, expected_origin=origin,
        )
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise _refusal(exc, "The security key's response could not be verified; try again.") from exc
    device_type = verified.credential_device_type.value
    credential_id = bytes_to_base64url(verified.credential_id)
    transports = [t.value for t in parsed.response.transports or []]
    if name is None:
        name = "Passkey" if verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE else "Security key"
    try:
        with transaction():
            if WebAuthnCredential.select().where(WebAuthnCredential.credential_id == credential_id).exists():
                raise _already_registered()
            credential = WebAuthnCredential.create(
                user=user.id,
                credential_id=credential_id,
                public_key=bytes_to_base64url(verified.credential_public_key),
                sign_count=verified.sign_count,
                transports=transports,
                nickname=name,
                device_type=device_type,
            )
            audit.record(by, "mfa.webauthn_added", account_id=None, target_type="user", target_id=user.id,
                         credential_id=credential.id, device_type=device_type, nickname=name)
            notifications.notify("passkey_added", user.id, by=by, key=name)
    except pw.IntegrityError as exc:
        # the same key registered by two requests at once: the unique index decides
        raise _already_registered() from exc
    return credential


def _already_registered() -> InvalidInputError:
    return InvalidInputError("This security key or passkey is already registered; use another one.",
                             reason="already_registered")


def _clean_nickname(nickname: str) -> str:
    cleaned = " ".join(nickname.split())
    if not cleaned:
        raise InvalidInputError("Give the key a name.", field="nickname", reason="required")
    if len(cleaned) > NICKNAME_MAX:
        raise InvalidInputError(Text("Use at most %(count)s characters.", count=NICKNAME_MAX), field="nickname",
                                reason="too_long")
    return cleaned


# --- authentication -----------------------------------------------------------


def authentication_options(*, rp_id: str, user: User | None = None) -> tuple[str, bytes]:
    """Options for ``navigator.credentials.get()`` (JSON) and the challenge the caller keeps.

    With ``user`` (a second factor after the password), ``allowCredentials``
    lists that person's keys; without, it is empty so the browser offers the
    passkeys it holds for ``rp_id`` (discoverable sign-in).
    """
    challenge = _new_challenge()
    options = generate_authentication_options(
        rp_id=rp_id,
        challenge=challenge,
        timeout=int(CHALLENGE_TTL.total_seconds() * 1000),
        allow_credentials=[_descriptor(c) for c in list_for(user)] if user is not None else [],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return options_to_json(options), challenge


def verify_authentication(response_json: str | dict[str, Any], *, challenge: bytes, rp_id: str, origin: Origin,
                          user: User | None = None) -> tuple[User, WebAuthnCredential]:
    """Verify a ``navigator.credentials.get()`` response; returns the person and the key used.

    ``challenge`` is the one ``authentication_options`` returned. With
    ``user``, the key must be theirs. The signature counter must increase
    unless it is 0 on both sides; a counter that does not is refused and
    audited (``mfa.webauthn_clone_suspected``), as is an assertion whose key
    was used after its challenge was issued (``mfa.webauthn_assertion_replayed``).
    Raises InvalidInputError (``reason`` says why) or ForbiddenError for a
    user who may not sign in.
    """
    issued_at = _issued_at(challenge)
    unknown = InvalidInputError("This security key or passkey is not registered for your user.",
                                reason="unknown_credential")
    try:
        parsed = parse_authentication_credential_json(response_json)
    except (WebAuthnException, ValueError, TypeError, KeyError) as exc:
        raise _refusal(exc, "The security key's response could not be read; try again.") from exc
    stored = WebAuthnCredential.get_or_none(WebAuthnCredential.credential_id == bytes_to_base64url(parsed.raw_id))
    if stored is None or (user is not None and stored.user_id != user.id):
        raise unknown
    # a discoverable credential names its person; it must be the key's owner
    if parsed.response.user_handle and parsed.response.user_handle != stored.user_id.encode():
        raise unknown
    try:
        verified = verify_authentication_response(
            credential=parsed, expected_challenge=challenge, expected_rp_id=rp_id, expected_origin=origin,
            credential_public_key=base64url_to_bytes(stored.public_key),
            # the counter is checked below, once the signature is known to be genuine
            credential_current_sign_count=0,
        )
    except (WebAuthnException, ValueError, TypeError) as exc:
        raise _refusal(exc, "The security key's response could not be verified; try again.") from exc
    owner = User.get_by_id(stored.user_id)
    if owner.status != "active":
        raise ForbiddenError("This user cannot sign in; ask an administrator of your account.", reason="inactive")

    presented = verified.new_sign_count
    counter_rises = WebAuthnCredential.sign_count == 0 if presented == 0 else WebAuthnCredential.sign_count < presented
    # max(): an instance whose clock is behind the issuer's must still close this challenge
    used_at = max(clock.now(), issued_at)
    with transaction():
        updated = (
            WebAuthnCredential.update(sign_count=presented, last_used_at=used_at)
            .where((WebAuthnCredential.id == stored.id) & counter_rises
                   & (WebAuthnCredential.last_used_at.is_null() | (WebAuthnCredential.last_used_at < issued_at)))
            .execute()
        )
    if updated != 1:
        _refuse_reuse(owner, stored.id, presented)
    return owner, WebAuthnCredential.get_by_id(stored.id)


def _refuse_reuse(owner: User, row_id: str, presented: int) -> None:
    """Audit why the conditional UPDATE found nothing to change, then refuse (the audit row is kept)."""
    with transaction():
        current = WebAuthnCredential.get_or_none(WebAuthnCredential.id == row_id)
        if current is None:
            raise InvalidInputError("This security key or passkey is not registered for your user.",
                                    reason="unknown_credential")
        if (presented > 0 or current.sign_count > 0) and presented <= current.sign_count:
            audit.record(Actor.for_user(owner), "mfa.webauthn_clone_suspected", account_id=None,
                         target_type="user", target_id=owner.id, credential_id=row_id,
                         stored_sign_count=current.sign_count, presented_sign_count=presented)
            error = InvalidInputError(_CLONED, reason="sign_count")
        else:
            audit.record(Actor.for_user(owner), "mfa.webauthn_assertion_replayed", account_id=None,
                         target_type="user", target_id=owner.id, credential_id=row_id)
            error = InvalidInputError("This security key response was already used; start again.",
                                      reason="replayed")
    raise error


def amr_method(credential: WebAuthnCredential) -> str:
    """RFC 8176 §2: ``hwk`` for a key bound to one authenticator, ``swk`` for a synced passkey."""
    return "swk" if credential.device_type == CredentialDeviceType.MULTI_DEVICE.value else "hwk"


# --- the person's keys -------------------------------------------------------


def list_for(user: User) -> list[WebAuthnCredential]:
    """The person's keys and passkeys, oldest first."""
    return list(
        WebAuthnCredential.select()
        .where(WebAuthnCredential.user == user.id)
        .order_by(WebAuthnCredential.created_at, WebAuthnCredential.id)
    )


def _own(user: User, credential_id: str) -> WebAuthnCredential:
    credential = WebAuthnCredential.get_or_none(
        (WebAuthnCredential.id == credential_id) & (WebAuthnCredential.user == user.id)
    )
    if credential is None:
        raise NotFoundError("This security key was not found.")
    return credential


def rename(user: User, credential_id: str, nickname: str, by: Actor) -> WebAuthnCredential:
    """Rename one of the person's keys (``credential_id`` is the row id); NotFoundError for anyone else's."""
    name = _clean_nickname(nickname)
    with transaction():
        credential = _own(user, credential_id)
        WebAuthnCredential.update(nickname=name).where(WebAuthnCredential.id == credential.id).execute()
        audit.record(by, "mfa.webauthn_renamed", account_id=None, target_type="user", target_id=user.id,
                     credential_id=credential.id, nickname=name)
    credential.nickname = name
    return credential


def remove(user: User, credential_id: str, by: Actor) -> None:
    """Remove one of the person's keys. Without any second factor left, the recovery codes go too."""
    with transaction():
        nickname = WebAuthnCredential.select(WebAuthnCredential.nickname).where(
            (WebAuthnCredential.id == credential_id) & (WebAuthnCredential.user == user.id)).scalar()
        deleted = (
            WebAuthnCredential.delete()
            .where((WebAuthnCredential.id == credential_id) & (WebAuthnCredential.user == user.id))
            .execute()
        )
        if deleted != 1:
            raise NotFoundError("This security key was not found.")
        recovery_removed = 0
        if not has_second_factor(user):
            recovery_removed = RecoveryCode.delete().where(RecoveryCode.user == user.id).execute()
        audit.record(by, "mfa.webauthn_removed", account_id=None, target_type="user", target_id=user.id,
                     credential_id=credential_id, recovery_codes_removed=recovery_removed)
        notifications.notify("passkey_removed", user.id, by=by, key=nickname or "")
