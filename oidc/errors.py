"""How the OAuth endpoints and the pages answer what went wrong: one place, each surface in its own format.

- The JSON endpoints under /oauth/ and /.well-known/ (token, revocation,
  introspection, userinfo, JWKS, discovery) answer an OAuth error object
  (RFC 6749 §5.2) for any fault: unreadable input, an unknown path, a wrong
  method, an oversized body (which also holds for the two browser endpoints:
  nothing a browser sends there is that large).
- The authorization endpoint redirects the error to the client when its
  redirect URI can be trusted, else shows a page (RFC 6749 §4.1.2.1):
  ``oidc.authorize.refused_request``.
- Everything else is a page; every HTML response of the app carries the
  framing and CSP headers, error pages included.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify, make_response, render_template, request
from flask_babel import gettext as _
from markupsafe import escape
from werkzeug.exceptions import HTTPException

from models.database import DatabaseUnavailableError
from models.i18n import N_

from . import input_check, unavailable
from .pages import page_headers

log = logging.getLogger("roster.http")

JSON_PREFIXES = ("/oauth/", "/.well-known/")
BROWSER_ENDPOINTS = frozenset({"oauth.authorize", "oauth.end_session"})

PAGES = {
    403: (N_("Not allowed"), N_("You may not open this page. If you think you should, ask an admin of your account.")),
    404: (N_("Page not found"),
          N_("There is no page at this address. Check the link, or start from Roster's home page.")),
    405: (N_("This action is not possible here"), N_("This page does not accept this kind of request.")),
    413: (N_("The request is too large"), N_("What was sent is larger than Roster accepts. Send less at a time.")),
    500: (N_("Something went wrong"),
          N_("Roster could not complete this request; it has been logged. Try again shortly.")),
}


def init_app(app: Flask) -> None:
    """After every blueprint is registered: the input check, the error answers and the page headers."""
    ours = {name for name, blueprint in app.blueprints.items() if blueprint.import_name.startswith("oidc.")}
    earlier = app.error_handler_spec[None][None].get(HTTPException)

    @app.before_request
    def readable_input() -> None:
        if request.blueprint in ours:
            input_check.check_request()

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Any:
        # the handler registered before (SCIM's, for its own paths) answers first and hands back the rest
        if earlier is not None:
            answered = earlier(exc)
            if answered is not exc:
                return answered
        try:
            return answer(exc)
        except DatabaseUnavailableError as away:  # an answer that reads the database (a client's redirect URI)
            return unavailable.answer(away)

    app.after_request(security_headers)


def security_headers(response: Response) -> Response:
    """Every HTML response refuses framing and carries the CSP; a blueprint's own choice (sign-in pages) stays."""
    if response.mimetype == "text/html" and "X-Frame-Options" not in response.headers:
        page_headers(response)
    return response


def answer(exc: HTTPException) -> Any:
    """The surface's own answer to ``exc``."""
    endpoint = request.endpoint or ""
    if request.path.startswith(JSON_PREFIXES) and (endpoint not in BROWSER_ENDPOINTS or exc.code == 413):
        return oauth_error(exc)
    if endpoint == "oauth.authorize" and isinstance(exc, input_check.UnreadableInputError):
        from .authorize import refused_request  # the authorization view imports this module's neighbours

        return refused_request(exc)
    return error_page(exc)


def oauth_error(exc: HTTPException) -> Response:
    code = exc.code or 500
    error = "temporarily_unavailable" if code == 503 else "server_error" if code >= 500 else "invalid_request"
    response = jsonify(error=error, error_description=_description(exc, code))
    response.status_code = code
    response.headers["Cache-Control"] = "no-store"
    _copy_allow(exc, response)
    return response


def _description(exc: HTTPException, code: int) -> str:
    if code == 413:
        return (f"The request is larger than the {current_app.config['MAX_CONTENT_LENGTH']} bytes this server "
                "accepts.")
    if code == 404:
        return "There is no OAuth endpoint at this address; see /.well-known/openid-configuration."
    if code == 405:
        return f"This endpoint does not accept {request.method}."
    if code >= 500:
        return "The server could not complete this request; it has been logged."
    return exc.description or exc.name


def error_page(exc: HTTPException) -> Response:
    code = exc.code or 500
    title, message = PAGES.get(code, (exc.name, exc.description or exc.name))
    try:
        title, message = _(title), _(message)
        body = render_template("message.html", title=title, message=message, kind="error")
    except Exception:  # the page must not fail for the reason the request did (the database, say)
        log.exception("rendering an error page failed")
        body = f"<!doctype html><title>{escape(title)}</title><h1>{escape(title)}</h1><p>{escape(message)}</p>"
    response = make_response(body, code)
    _copy_allow(exc, response)
    return response


def _copy_allow(exc: HTTPException, response: Response) -> None:
    for name, value in exc.get_headers():
        if name.lower() == "allow":
            response.headers[name] = value
