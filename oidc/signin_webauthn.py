"""WebAuthn at sign-in: a security key or passkey as the second factor, and enrolling one when the account asks.

The browser fetches options, runs navigator.credentials.get/create and
posts the result back (oidc/static/webauthn.js); the ceremony is
oidc.factors', shared with Profile → Security.
"""

from __future__ import annotations

from typing import Any

from flask import jsonify, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response

from models import passkeys, sessions, signin, throttle
from models.errors import RosterError

from . import factors, web_session
from .i18n import translated
from .signin import bp as bp  # the app registers it by this module, with these routes
from .signin import finish_second_factor, next_target, report, second_factor_subject


def _refused(message: str, status: int = 400) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    return response


@bp.post("/login/mfa/webauthn/options")
def webauthn_options() -> Any:
    user, _amr, _pending = second_factor_subject()
    if user is None:
        return _refused(gettext("Your sign-in has expired; start again."), 401)
    return factors.authentication_options(user)


@bp.post("/login/mfa/webauthn")
def webauthn_verify() -> Any:
    user, amr, pending = second_factor_subject()
    if user is None:
        return _refused(gettext("Your sign-in has expired; start again."), 401)
    try:
        method = factors.check_security_key(user, request.get_data(as_text=True))
    except throttle.LockedOutError as exc:
        report("mfa_locked")
        return _refused(translated(exc.message), 429)
    except RosterError as exc:
        report("mfa_failed")
        return _refused(translated(exc.message))
    response = finish_second_factor(user, amr, method, pending)
    answer = jsonify(redirect=response.headers["Location"])
    # each cookie of the sign-in (the session, the known device) added: a (body, status, headers) tuple would
    # set them, the last replacing the others
    for cookie in response.headers.getlist("Set-Cookie"):
        answer.headers.add("Set-Cookie", cookie)
    return answer


@bp.post("/login/mfa/enrol/webauthn/options")
@web_session.login_required
def webauthn_register_options() -> Any:
    user = web_session.current_user()
    assert user is not None
    return factors.registration_options(user)


@bp.post("/login/mfa/enrol/webauthn")
@web_session.login_required
def webauthn_register() -> Any:
    user, live = web_session.current_user(), web_session.current_session()
    assert user is not None and live is not None
    try:
        credential = factors.finish_registration(user, request.get_data(as_text=True))
    except RosterError as exc:
        return _refused(translated(exc.message))
    sessions.add_methods(live, signin.amr_with(live.amr, passkeys.amr_method(credential)))
    if factors.keep_recovery_codes(user):
        return jsonify(redirect=url_for("signin.recovery_codes", next=next_target()))
    return jsonify(redirect=next_target())
