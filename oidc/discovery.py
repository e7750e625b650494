"""OpenID Provider discovery (OpenID Connect Discovery 1.0 §3, RFC 8414) and the JWK Set (RFC 7517 §5)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from models import keys

bp = Blueprint("oidc_discovery", __name__)

# relying parties refetch the set on an unknown kid; a few minutes bounds how long a new key waits
JWKS_MAX_AGE = 300

CLAIMS_SUPPORTED = [
    "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp", "sid",
    "email", "email_verified", "name", "given_name", "family_name", "locale", "zoneinfo",
]


def provider_metadata(base_url: str) -> dict[str, Any]:
    """The discovery document for an issuer at ``base_url``."""
    base = base_url.rstrip("/")
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "userinfo_endpoint": f"{base}/oauth/userinfo",
        "jwks_uri": f"{base}/oauth/jwks",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "introspection_endpoint": f"{base}/oauth/introspect",
        "end_session_endpoint": f"{base}/oauth/logout",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "code_challenge_methods_supported": ["S256"],
        "id_token_signing_alg_values_supported": list(keys.ALGORITHMS),
        "subject_types_supported": ["public"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "claims_supported": CLAIMS_SUPPORTED,
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        # RFC 8176 values are amr; acr names what the sign-in achieved: password alone, or with a second factor
        "acr_values_supported": ["pwd", "mfa"],
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
    }


@bp.get("/.well-known/openid-configuration")
def openid_configuration() -> Response:
    return jsonify(provider_metadata(current_app.config["BASE_URL"]))


@bp.get("/oauth/jwks")
def jwks() -> Response:
    keys.ensure_keys()
    response = jsonify(keys.published_jwks())
    response.headers["Cache-Control"] = f"public, max-age={JWKS_MAX_AGE}"
    return response
