"""Discovery document (OpenID Connect Discovery 1.0) and the JWK Set endpoint."""

from __future__ import annotations

import pytest
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwk, jwt

from models import SigningKey, keys
from models.database import db
from oidc import capabilities, provider, token_endpoints
from tests.conftest import SECRET_KEY, dispose

BASE_URL = "https://id.roster.test"


@pytest.fixture
def https_client(database_url):
    """The app with an https issuer, as discovery requires (RFC 8414 §2)."""
    from scim_server.app import create_app

    application = create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY, "TESTING": True,
                              "BASE_URL": BASE_URL})
    yield application.test_client()
    dispose(db.obj)


def test_discovery_document_validates_with_authlib(https_client):
    response = https_client.get("/.well-known/openid-configuration")

    assert response.status_code == 200
    document = response.get_json()
    OpenIDProviderMetadata(document).validate()
    assert document["issuer"] == BASE_URL
    assert document["jwks_uri"] == f"{BASE_URL}/oauth/jwks"
    assert document["authorization_endpoint"] == f"{BASE_URL}/oauth/authorize"
    assert document["token_endpoint"] == f"{BASE_URL}/oauth/token"
    assert document["userinfo_endpoint"] == f"{BASE_URL}/oauth/userinfo"
    assert document["end_session_endpoint"] == f"{BASE_URL}/oauth/logout"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["response_types_supported"] == ["code"]
    assert document["grant_types_supported"] == ["authorization_code", "refresh_token"]
    assert document["id_token_signing_alg_values_supported"] == ["RS256", "ES256"]
    assert document["token_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post", "none"]
    assert document["backchannel_logout_supported"] is True
    assert document["backchannel_logout_session_supported"] is True
    assert {"none", "login", "consent", "select_account"} <= set(document["prompt_values_supported"])


def test_the_document_publishes_what_the_server_is_configured_with(https_client):
    document = https_client.get("/.well-known/openid-configuration").get_json()

    code, refresh = provider.AuthorizationCodeGrant, provider.RefreshTokenGrant
    assert document["grant_types_supported"] == [code.GRANT_TYPE, refresh.GRANT_TYPE]
    assert document["response_types_supported"] == sorted(code.RESPONSE_TYPES)
    assert document["code_challenge_methods_supported"] == provider.S256Challenge.SUPPORTED_CODE_CHALLENGE_METHOD
    assert document["token_endpoint_auth_methods_supported"] == code.TOKEN_ENDPOINT_AUTH_METHODS
    assert document["token_endpoint_auth_methods_supported"] == refresh.TOKEN_ENDPOINT_AUTH_METHODS
    assert document["revocation_endpoint_auth_methods_supported"] == token_endpoints.Revocation.CLIENT_AUTH_METHODS
    assert (document["introspection_endpoint_auth_methods_supported"]
            == token_endpoints.Introspection.CLIENT_AUTH_METHODS)
    assert document["scopes_supported"] == list(capabilities.SCOPES)
    # a client is granted exactly the published scopes, whatever else it asks for
    asked = " ".join([*document["scopes_supported"], "admin", "phone"])
    assert provider.Client(None).get_allowed_scope(asked).split() == document["scopes_supported"]
    assert capabilities.ID_TOKEN_ALGORITHM in document["id_token_signing_alg_values_supported"]


def test_an_app_whose_discovery_document_authlib_refuses_does_not_start(database_url):
    from scim_server.app import create_app

    try:
        with pytest.raises(ValueError, match="issuer"):  # RFC 8414 §2: no query or fragment in an issuer
            create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY, "TESTING": True,
                        "BASE_URL": "https://id.roster.test/#fragment"})
    finally:
        dispose(db.obj)


def test_jwks_creates_keys_lazily_and_is_cacheable(https_client):
    response = https_client.get("/oauth/jwks")

    assert response.status_code == 200
    assert "max-age=300" in response.headers["Cache-Control"]
    published = response.get_json()["keys"]
    assert sorted(k["alg"] for k in published) == ["ES256", "RS256"]
    assert all("d" not in k for k in published)
    assert SigningKey.select().count() == 2
    assert https_client.get("/oauth/jwks").get_json()["keys"] == published


def test_a_token_signed_with_the_active_key_verifies_with_the_served_jwks(https_client, deployment):
    published = https_client.get("/oauth/jwks").get_json()
    key = keys.active_key("ES256", deployment.secrets)
    token = jwt.encode({"alg": "ES256", "kid": key.kid}, {"sub": "someone"},
                       jwk.import_key(keys.private_key_pem(key, deployment.secrets), "EC"))

    decoded = jwt.decode(token, jwk.KeySet.import_key_set(published), algorithms=["ES256"])

    assert decoded.claims["sub"] == "someone"
