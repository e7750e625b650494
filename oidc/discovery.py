"""OpenID Provider discovery (OpenID Connect Discovery 1.0 §3, RFC 8414) and the JWK Set (RFC 7517 §5)."""

from __future__ import annotations

from authlib.oidc.discovery import OpenIDProviderMetadata
from flask import Blueprint, Response, current_app, jsonify
from flask.blueprints import BlueprintSetupState

from models import keys
from models.deployment import Deployment

from .capabilities import (
    CODE_CHALLENGE_METHODS,
    GRANT_TYPES,
    INTROSPECTION_AUTH_METHODS,
    RESPONSE_MODES,
    RESPONSE_TYPES,
    SCOPES,
    TOKEN_AUTH_METHODS,
)

bp = Blueprint("oidc_discovery", __name__)

# relying parties refetch the set on an unknown kid; a few minutes bounds how long a new key waits
JWKS_MAX_AGE = 300

CLAIMS_SUPPORTED = [
    "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid",
    "email", "email_verified", "name", "given_name", "family_name", "locale", "zoneinfo",
]


def provider_metadata(base_url: str) -> OpenIDProviderMetadata:
    """The discovery document for an issuer at ``base_url``: what oidc.capabilities configures the server with."""
    base = base_url.rstrip("/")
    return OpenIDProviderMetadata({
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "userinfo_endpoint": f"{base}/oauth/userinfo",
        "jwks_uri": f"{base}/oauth/jwks",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "end_session_endpoint": f"{base}/oauth/logout",
        "response_types_supported": list(RESPONSE_TYPES),
        "response_modes_supported": list(RESPONSE_MODES),
        "grant_types_supported": list(GRANT_TYPES),
        "code_challenge_methods_supported": list(CODE_CHALLENGE_METHODS),
        "id_token_signing_alg_values_supported": list(keys.ALGORITHMS),
        "subject_types_supported": ["public"],
        "token_endpoint_auth_methods_supported": list(TOKEN_AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(TOKEN_AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": list(INTROSPECTION_AUTH_METHODS),
        "scopes_supported": list(SCOPES),
        "claims_supported": CLAIMS_SUPPORTED,
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        # RFC 8176 values are amr; acr names what the sign-in achieved: password alone, or with a second factor
        "acr_values_supported": ["pwd", "mfa"],
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
    })


@bp.record_once
def check_metadata(state: BlueprintSetupState) -> None:
    """The app does not start with a document authlib's metadata class refuses (it raises ValueError).

    RFC 8414 §2 wants an https issuer; a developer's plain-HTTP one is checked as if it were https.
    """
    issuer = Deployment.of(state.app).settings.issuer
    provider_metadata("https://" + issuer.removeprefix("http://").removeprefix("https://")).validate()


@bp.get("/.well-known/openid-configuration")
def openid_configuration() -> Response:
    return jsonify(provider_metadata(Deployment.of(current_app).settings.issuer))


@bp.get("/oauth/jwks")
def jwks() -> Response:
    keys.ensure_keys(Deployment.of(current_app).secrets)
    response = jsonify(keys.published_jwks())
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE}"
    return response
