"""Bearer tokens (RFC 6750 §2.1): the token names the account, the SCIM tenant."""

from __future__ import annotations

from flask import Response, g, request

from models import oauth, scim_tokens
from models.audit import Actor

from . import rate_limit
from .errors import error_response


def authenticate() -> Response | None:
    """Before every SCIM request: 401 without a live token, 429 past its budget; otherwise set g.account and g.actor."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if request.endpoint and request.endpoint.startswith("scim.me."):
        return _authenticate_person(secret.strip() if scheme.lower() == "bearer" else "")
    token = scim_tokens.authenticate(secret.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        return error_response(401, "A valid bearer token is required.",
                              headers={"WWW-Authenticate": 'Bearer realm="SCIM"'})
    g.account = token.account  # loaded with the token, in one query
    g.actor = Actor.for_scim_token(token)
    return rate_limit.token_refused(token.id)


def _authenticate_person(secret: str) -> Response | None:
    """/Me takes a person's OpenID Connect access token, checked against the database (R11: revoked is out)."""
    grant = oauth.active_access_token(secret) if secret else None
    if grant is None or grant.account is None:
        return error_response(401, "A valid OpenID Connect access token for an account is required for /Me.",
                              headers={"WWW-Authenticate": 'Bearer realm="SCIM", error="invalid_token"'})
    g.account = grant.account
    g.oauth_grant = grant
    g.actor = Actor.for_user(grant.user)
    return rate_limit.client_refused(grant.token.client_id)
