"""Token, userinfo, revocation, introspection and RP-initiated logout endpoints (authlib does the protocol)."""

from __future__ import annotations

from typing import Any

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749.errors import InsecureTransportError
from flask import current_app, jsonify, make_response, render_template, request
from flask_babel import gettext as _
from flask_wtf import FlaskForm

from . import provider, web_session
from .authorize import bp as bp  # the app registers it by this module, with these routes


@bp.errorhandler(InsecureTransportError)
def insecure_transport(error: InsecureTransportError) -> Any:
    """Plain HTTP to a public host on the token, revocation and introspection endpoints (RFC 6749 §1.6).

    authlib refuses such a request before its own error handling (the
    authorization endpoint catches it itself); behind a proxy that ends TLS,
    the proxy's ``X-Forwarded-Proto`` says HTTPS (gunicorn's ``forwarded_allow_ips``).
    """
    return jsonify(error=error.error, error_description="OAuth 2.0 needs HTTPS: use the https:// address."), 400


@bp.post("/oauth/token")
def token() -> Any:
    server = current_app.extensions["roster_oauth"]
    return provider.in_transaction(server.create_token_response)


@bp.route("/oauth/userinfo", methods=["GET", "POST"])
def userinfo() -> Any:
    return current_app.extensions["roster_oauth"].create_endpoint_response("userinfo")


@bp.post("/oauth/revoke")
def revoke() -> Any:
    return current_app.extensions["roster_oauth"].create_endpoint_response("revocation")


@bp.post("/oauth/introspect")
def introspect() -> Any:
    return current_app.extensions["roster_oauth"].create_endpoint_response("introspection")


@bp.route("/oauth/logout", methods=["GET", "POST"])
def end_session() -> Any:
    """RP-initiated logout: confirm, end the session (tokens revoked, back-channel logout sent), maybe redirect."""
    server = current_app.extensions["roster_oauth"]
    try:
        validated = server.validate_endpoint_request("end_session")
    except OAuth2Error as error:
        return render_template("message.html", title=_("This sign-out link is not valid"),
                               message=error.description or error.error, kind="error"), 400
    form = FlaskForm()
    if request.method != "POST" or not form.validate_on_submit():
        client = validated.client.row if validated.client is not None else None
        return render_template("logout.html", form=form, client=client,
                               signed_in=web_session.current_session() is not None)
    result = server.create_endpoint_response("end_session", validated)
    response = result if result is not None else make_response(render_template(
        "message.html", title=_("You are signed out"), message=_("You have been signed out of Roster."),
        kind="success"))
    web_session.sign_out(response)
    return response
