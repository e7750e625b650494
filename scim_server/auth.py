"""Bearer tokens (RFC 6750 §2.1): the token names the account, the SCIM tenant."""

from __future__ import annotations

from flask import Response, g, request

from models import scim_tokens
from models.audit import Actor

from .errors import error_response


def authenticate() -> Response | None:
    """Before every SCIM request: 401 without a live token; otherwise set g.account and g.actor."""
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    token = scim_tokens.authenticate(secret.strip()) if scheme.lower() == "bearer" else None
    if token is None:
        return error_response(401, "A valid bearer token is required.",
                              headers={"WWW-Authenticate": 'Bearer realm="SCIM"'})
    g.account = token.account  # loaded with the token, in one query
    g.actor = Actor.for_scim_token(token)
    return None
