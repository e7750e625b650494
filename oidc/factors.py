"""The second-factor ceremonies, one of each for the sign-in pages and Profile → Security.

Enrolling an authenticator app (TOTP) and a security key or passkey
(WebAuthn), and checking a key at sign-in, each take two requests: what
waits between them (the enrolment started, the WebAuthn challenge, the
recovery codes to show once) lives in Flask's signed session cookie. The
decisions are models.mfa's, models.passkeys' and models.signin's.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any
from urllib.parse import urlsplit

import pyotp
from flask import current_app, session
from werkzeug.wrappers import Response

from models import mfa, passkeys, signin
from models.audit import Actor
from models.deployment import Deployment
from models.errors import InvalidInputError
from models.security import WebAuthnCredential
from models.tenancy import User

TOTP_ENROLMENT = "totp_enrolment"
CHALLENGE = "webauthn_challenge"
RECOVERY_CODES = "new_recovery_codes"


@dataclasses.dataclass(frozen=True)
class RelyingParty:
    """Who WebAuthn keys are made for: the RP ID, the origin the pages are served from, a name to show."""

    id: str
    origin: str
    name: str


def relying_party() -> RelyingParty:
    """From BASE_URL: its host is the RP ID; its scheme, host and port the origin (a path is no part of one)."""
    deployment = Deployment.of(current_app)
    base = urlsplit(deployment.settings.base_url)
    return RelyingParty(base.hostname or "localhost", f"{base.scheme}://{base.netloc}", deployment.product_name)


# --- authenticator app (TOTP) ------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class TotpEnrolment:
    """An authenticator app being set up: the unconfirmed credential and its ``otpauth://`` URI."""

    credential_id: str
    uri: str

    @property
    def secret(self) -> str:
        """The key to type in when the QR code cannot be scanned."""
        return str(pyotp.parse_uri(self.uri).secret)


def begin_totp(user: User) -> TotpEnrolment:
    """The enrolment this browser has under way for ``user``, else a new one kept for the confirming request.

    Showing the enrolment page again (a reload, a wrong code) shows the same
    QR code and records nothing: only a new enrolment is an event (and drops
    an earlier unconfirmed one).
    """
    kept = totp_enrolment()
    if kept is not None and mfa.totp_enrolment_pending(user, kept.credential_id):
        return kept
    credential, uri = mfa.begin_totp(user, deployment=Deployment.of(current_app))
    session[TOTP_ENROLMENT] = {"id": credential.id, "uri": uri}
    return TotpEnrolment(credential.id, uri)


def totp_enrolment() -> TotpEnrolment | None:
    """The enrolment this browser started, if any."""
    kept = session.get(TOTP_ENROLMENT)
    if not isinstance(kept, dict):
        return None
    return TotpEnrolment(str(kept["id"]), str(kept["uri"]))


def confirm_totp(user: User, enrolment: TotpEnrolment, code: str) -> list[str]:
    """Confirm ``enrolment`` with a code from the app: the person's new recovery codes (RosterError if wrong)."""
    codes = mfa.confirm_totp(user, enrolment.credential_id, code, secrets=Deployment.of(current_app).secrets)
    drop_totp_enrolment()
    return codes


def drop_totp_enrolment() -> None:
    session.pop(TOTP_ENROLMENT, None)


# --- security keys and passkeys (WebAuthn) ---------------------------------------------


def _keep_challenge(challenge: bytes) -> None:
    session[CHALLENGE] = base64.urlsafe_b64encode(challenge).decode()


def drop_challenge() -> None:
    """Forget the challenge: a response that could not be read used up its request."""
    session.pop(CHALLENGE, None)


def _take_challenge() -> bytes:
    """The challenge of the options this browser fetched last; each is used once."""
    kept = session.pop(CHALLENGE, None)
    if not kept:
        raise InvalidInputError("This security key request has expired; start again.", reason="expired_challenge")
    return base64.urlsafe_b64decode(kept)


def _options(options: str) -> Response:
    return current_app.response_class(options, mimetype="application/json")


def registration_options(user: User) -> Response:
    """The JSON for ``navigator.credentials.create()``; the challenge waits for :func:`finish_registration`."""
    rp = relying_party()
    options, challenge = passkeys.registration_options(user, rp_id=rp.id, rp_name=rp.name)
    _keep_challenge(challenge)
    return _options(options)


def finish_registration(user: User, credential: str | dict[str, Any],
                        nickname: str | None = None) -> WebAuthnCredential:
    """Store the key of the browser's ``navigator.credentials.create()`` result (RosterError if refused)."""
    challenge = _take_challenge()
    rp = relying_party()
    return passkeys.finish_registration(user, credential, challenge=challenge, rp_id=rp.id, origin=rp.origin,
                                        nickname=nickname, by=Actor.for_user(user))


def authentication_options(user: User) -> Response:
    """The JSON for ``navigator.credentials.get()`` with ``user``'s keys; the challenge waits for the answer."""
    options, challenge = passkeys.authentication_options(rp_id=relying_party().id, user=user)
    _keep_challenge(challenge)
    return _options(options)


def check_security_key(user: User, credential: str | dict[str, Any]) -> str:
    """The RFC 8176 method of ``user``'s key that answered (RosterError, throttle.LockedOutError if not)."""
    challenge = _take_challenge()
    rp = relying_party()
    return signin.check_security_key(user, credential, challenge=challenge, rp_id=rp.id, origin=rp.origin)


# --- recovery codes ------------------------------------------------------------------


def keep_recovery_codes(user: User) -> bool:
    """After a first second factor: its recovery codes, kept for the next page to show once; False if none."""
    codes = mfa.first_recovery_codes(user)
    if codes:
        session[RECOVERY_CODES] = codes
    return bool(codes)


def take_recovery_codes() -> list[str]:
    """The codes :func:`keep_recovery_codes` kept, gone from the session once read."""
    codes: list[str] = session.pop(RECOVERY_CODES, None) or []
    return codes
