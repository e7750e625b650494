"""WebAuthn at sign-in: a security key or passkey as the second factor, and enrolling one when the account asks.

The browser fetches options, runs navigator.credentials.get/create and
posts the result back (oidc/static/webauthn.js); the challenge waits in
the signed session cookie between the two requests. Verification is
models.passkeys'.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import urlsplit

from flask import current_app, jsonify, request, session, url_for
from werkzeug.wrappers import Response

from models import mfa, passkeys, sessions, signin, throttle
from models.audit import Actor
from models.errors import RosterError

from . import web_session
from .signin import bp, finish_second_factor, next_target, report, second_factor_subject

CHALLENGE = "webauthn_challenge"


def relying_party() -> tuple[str, str]:
    """The WebAuthn RP ID (the host of BASE_URL) and the origin pages are served from."""
    base = urlsplit(current_app.config["BASE_URL"])
    return base.hostname or "localhost", f"{base.scheme}://{base.netloc}"


def _keep(challenge: bytes) -> None:
    session[CHALLENGE] = base64.urlsafe_b64encode(challenge).decode()


def _take() -> bytes:
    kept = session.pop(CHALLENGE, "")
    return base64.urlsafe_b64decode(kept) if kept else b""


def _refused(message: str, status: int = 400) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


@bp.post("/login/mfa/webauthn/options")
def webauthn_options() -> Any:
    user, _, _ = second_factor_subject()
    if user is None:
        return _refused("Your sign-in has expired; start again.", 401)
    rp_id, _ = relying_party()
    options, challenge = passkeys.authentication_options(rp_id=rp_id, user=user)
    _keep(challenge)
    return current_app.response_class(options, mimetype="application/json")


@bp.post("/login/mfa/webauthn")
def webauthn_verify() -> Any:
    user, amr, pending = second_factor_subject()
    if user is None:
        return _refused("Your sign-in has expired; start again.", 401)
    key = throttle.totp_key(user.id)
    rp_id, origin = relying_party()
    try:
        throttle.check(key)
        _, credential = passkeys.verify_authentication(request.get_data(as_text=True), challenge=_take(),
                                                       rp_id=rp_id, origin=origin, user=user)
    except throttle.LockedOutError as exc:
        report("mfa_locked")
        return _refused(exc.message, 429)
    except RosterError as exc:
        throttle.fail(key)
        report("mfa_failed")
        return _refused(exc.message)
    throttle.succeed(key)
    response = finish_second_factor(user, amr, passkeys.amr_method(credential), pending)
    return jsonify(redirect=response.headers["Location"]), 200, [
        ("Set-Cookie", c) for c in response.headers.getlist("Set-Cookie")]


@bp.post("/login/mfa/enrol/webauthn/options")
@web_session.login_required
def webauthn_register_options() -> Any:
    user = web_session.current_user()
    assert user is not None
    rp_id, _ = relying_party()
    options, challenge = passkeys.registration_options(user, rp_id=rp_id, rp_name="Roster")
    _keep(challenge)
    return current_app.response_class(options, mimetype="application/json")


@bp.post("/login/mfa/enrol/webauthn")
@web_session.login_required
def webauthn_register() -> Any:
    user, live = web_session.current_user(), web_session.current_session()
    assert user is not None and live is not None
    rp_id, origin = relying_party()
    try:
        credential = passkeys.finish_registration(user, request.get_data(as_text=True), challenge=_take(),
                                                  rp_id=rp_id, origin=origin, by=Actor.for_user(user))
    except RosterError as exc:
        return _refused(exc.message)
    sessions.add_methods(live, signin.amr_with(live.amr, passkeys.amr_method(credential)))
    codes = mfa.first_recovery_codes(user)
    if codes:
        session["new_recovery_codes"] = codes
        return jsonify(redirect=url_for("signin.recovery_codes", next=next_target()))
    return jsonify(redirect=next_target())
