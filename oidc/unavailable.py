"""503 while the database cannot serve, in the format of the OAuth endpoint or page that was asked.

SCIM answers its own (scim_server/errors.py). The JSON endpoints answer
``temporarily_unavailable`` (RFC 6749 §4.1.2.1 names it; token, userinfo,
revocation, introspection and JWKS clients read the same object); the
authorization endpoint shows a page rather than redirecting, since the
redirect URI cannot be checked against its client without the database.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, jsonify, make_response, request
from flask_babel import gettext as _
from markupsafe import escape
from werkzeug.wrappers import Response

from models.database import DatabaseUnavailableError
from models.i18n import N_

from .pages import page_headers

log = logging.getLogger("roster.http")

JSON_ENDPOINTS = frozenset({"oauth.token", "oauth.userinfo", "oauth.revoke", "oauth.introspect",
                            "oidc_discovery.jwks", "oidc_discovery.openid_configuration"})
TITLE = N_("Roster is temporarily unavailable")


def init_app(app: Flask) -> None:
    app.register_error_handler(DatabaseUnavailableError, answer)


def answer(exc: DatabaseUnavailableError) -> Response:
    log.warning("database unavailable: %s", exc.orig)
    if request.endpoint in JSON_ENDPOINTS:
        message = f"Roster cannot reach its database just now. Try again in {exc.retry_after} seconds."
        response = jsonify(error="temporarily_unavailable", error_description=message)
        response.status_code = 503
        response.headers["Cache-Control"] = "no-store"
    else:
        message = _("Roster cannot reach its database just now. Try again in %(seconds)s seconds.",
                    seconds=exc.retry_after)
        response = page_headers(make_response(_page(message), 503))
    response.headers["Retry-After"] = str(exc.retry_after)
    return response


def _page(message: str) -> str:
    """The message page without the template context (whose navigation reads the database)."""
    title = _(TITLE)
    try:
        return current_app.jinja_env.get_template("message.html").render(
            title=title, message=message, kind="error", signed_in_user=False, main_nav=[])
    except Exception:  # a page must still answer: the bare message
        log.exception("rendering the unavailable page failed")
        return f"<!doctype html><title>{escape(title)}</title><h1>{escape(title)}</h1><p>{escape(message)}</p>"
