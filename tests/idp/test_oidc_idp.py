"""The upstream OIDC IdP alone, seen by a plain relying party (authlib, joserfc) as Roster will see it."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.jwk import KeySet

from tests.idp.oidc_idp import OidcIdp, oidc_idp

__all__ = ["oidc_idp"]  # the fixture, imported to be found

pytestmark = pytest.mark.e2e

REDIRECT_URI = "https://rp.example/sso/callback"
SCOPE = "openid email profile groups"
ALICE = {"sub": "00u-alice", "email": "alice@acme.test", "email_verified": True, "given_name": "Alice",
         "family_name": "Liddell", "groups": ["engineering", "admins"]}


class Rp:
    """What Roster does as a client: discovery, authorization URL with state, nonce and PKCE, the code."""

    def __init__(self, idp: OidcIdp, auth_method: str = "client_secret_basic") -> None:
        self.metadata: dict[str, Any] = requests.get(f"{idp.issuer}/.well-known/openid-configuration",
                                                     timeout=10).json()
        self.client_id, secret = idp.register_client([REDIRECT_URI], token_endpoint_auth_method=auth_method)
        self.oauth = OAuth2Session(self.client_id, secret, scope=SCOPE, redirect_uri=REDIRECT_URI,
                                   code_challenge_method="S256", token_endpoint_auth_method=auth_method)
        self.verifier = self.nonce = self.state = ""

    def authorization_url(self) -> str:
        self.verifier, self.nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
        url, self.state = self.oauth.create_authorization_url(self.metadata["authorization_endpoint"],
                                                              nonce=self.nonce, code_verifier=self.verifier)
        return str(url)

    def sign_in(self, idp: OidcIdp, login: str, amr: list[str] | str | None = None) -> str:
        """The ID token of a whole sign-in through the IdP's login form, in a fresh browser."""
        with requests.Session() as browser:
            return self.exchange(idp, idp.login(browser, self.authorization_url(), login, amr=amr))

    def exchange(self, idp: OidcIdp, redirected_to: str) -> str:
        """The ID token for the code of ``redirected_to``, after checking it answers the last request."""
        assert redirected_to.startswith(REDIRECT_URI + "?"), redirected_to
        query = {k: v[0] for k, v in parse_qs(urlsplit(redirected_to).query).items()}
        assert query["state"] == self.state and query["iss"] == idp.issuer and query["code"]
        token = self.oauth.fetch_token(self.metadata["token_endpoint"], authorization_response=redirected_to,
                                       code_verifier=self.verifier)
        return str(token["id_token"])

    def jwks(self) -> KeySet:
        return KeySet.import_key_set(requests.get(self.metadata["jwks_uri"], timeout=10).json())

    def claims(self, id_token: str, keys: KeySet | None = None) -> dict[str, Any]:
        """Signature against the JWKS, then iss, aud, exp and this sign-in's nonce."""
        token = jwt.decode(id_token, keys or self.jwks(), algorithms=["RS256"])
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.metadata["issuer"]},
            aud={"essential": True, "value": self.client_id},
            nonce={"essential": True, "value": self.nonce},
            exp={"essential": True}, sub={"essential": True},
        ).validate(token.claims)
        return {**token.claims, "kid": token.header["kid"]}


@pytest.fixture
def rp(oidc_idp: OidcIdp) -> Iterator[Rp]:
    party = Rp(oidc_idp)
    yield party
    party.oauth.close()


def test_discovery_advertises_what_roster_relies_on(oidc_idp: OidcIdp, rp: Rp) -> None:
    assert rp.metadata["issuer"] == oidc_idp.issuer
    assert rp.metadata["response_types_supported"] == ["code"]
    assert rp.metadata["code_challenge_methods_supported"] == ["S256"]
    assert rp.metadata["registration_endpoint"] == f"{oidc_idp.issuer}/reg"
    assert {"openid", "email", "profile", "groups"} <= set(rp.metadata["scopes_supported"])
    assert {"client_secret_basic", "client_secret_post"} <= set(rp.metadata["token_endpoint_auth_methods_supported"])
    assert "RS256" in rp.metadata["id_token_signing_alg_values_supported"]
    assert [key["kid"] for key in rp.jwks().keys] == [oidc_idp.kid]


@pytest.mark.parametrize("auth_method", ["client_secret_basic", "client_secret_post"])
def test_code_flow_gives_a_signed_id_token_with_the_account_claims_and_amr(oidc_idp: OidcIdp, auth_method: str) -> None:
    oidc_idp.set_account("alice@acme.test", ALICE)
    party = Rp(oidc_idp, auth_method)
    try:
        claims = party.claims(party.sign_in(oidc_idp, "alice@acme.test", amr=["pwd", "mfa"]))
    finally:
        party.oauth.close()
    assert claims["kid"] == oidc_idp.kid
    assert {k: claims[k] for k in ALICE} == ALICE
    assert claims["name"] == "Alice Liddell" and claims["amr"] == ["pwd", "mfa"]


def test_an_unknown_login_signs_in_without_amr_and_accounts_change_at_run_time(oidc_idp: OidcIdp, rp: Rp) -> None:
    claims = rp.claims(rp.sign_in(oidc_idp, "Bob@Other.test"))
    assert claims["sub"] == "sub-bob@other.test" and claims["email"] == "bob@other.test"
    assert "amr" not in claims and "groups" not in claims

    oidc_idp.set_account("bob@other.test", {"email": "robert@other.test", "groups": ["sales"]})
    claims = rp.claims(rp.sign_in(oidc_idp, "bob@other.test", amr=["otp"]))
    assert claims["sub"] == "sub-bob@other.test" and claims["email"] == "robert@other.test"
    assert claims["groups"] == ["sales"] and claims["amr"] == ["otp"]


def test_the_login_form_is_the_idps_own_and_asked_every_time(oidc_idp: OidcIdp, rp: Rp) -> None:
    with requests.Session() as browser:
        oidc_idp.login(browser, rp.authorization_url(), "carol@acme.test")
        # the same browser again: the form again, not a silent sign-in as carol
        interaction = browser.get(rp.authorization_url(), allow_redirects=False, timeout=10).headers["Location"]
        assert interaction.startswith("/interaction/")
        form = browser.get(oidc_idp.issuer + interaction, timeout=10)
        assert form.status_code == 200 and 'name="login"' in form.text and 'name="amr"' in form.text
        redirected_to = oidc_idp.login(browser, oidc_idp.issuer + interaction, "dave@acme.test", amr="hwk")
    claims = rp.claims(rp.exchange(oidc_idp, redirected_to))
    assert claims["sub"] == "sub-dave@acme.test" and claims["amr"] == ["hwk"]


def test_restart_rotates_the_signing_key_and_keeps_clients_and_accounts(oidc_idp: OidcIdp, rp: Rp) -> None:
    oidc_idp.set_account("alice@acme.test", ALICE)
    old_keys, old_kid = rp.jwks(), oidc_idp.kid

    oidc_idp.restart(rotate_key=True)
    assert oidc_idp.kid != old_kid
    assert [key["kid"] for key in rp.jwks().keys] == [oidc_idp.kid]
    id_token = rp.sign_in(oidc_idp, "alice@acme.test")  # the client registered before the restart
    claims = rp.claims(id_token)
    assert claims["kid"] == oidc_idp.kid and claims["sub"] == ALICE["sub"]
    with pytest.raises(InvalidKeyIdError):
        rp.claims(id_token, old_keys)  # a relying party that kept the old JWKS must fetch it again

    kept = oidc_idp.kid
    oidc_idp.restart(rotate_key=False)
    assert [key["kid"] for key in rp.jwks().keys] == [kept]


def test_cancelling_on_the_form_sends_access_denied_back(oidc_idp: OidcIdp, rp: Rp) -> None:
    with requests.Session() as browser:
        redirected_to = oidc_idp.deny(browser, rp.authorization_url())
    query = {k: v[0] for k, v in parse_qs(urlsplit(redirected_to).query).items()}
    assert redirected_to.startswith(REDIRECT_URI + "?")
    assert query["error"] == "access_denied" and query["state"] == rp.state and "code" not in query


def test_an_authorization_request_without_pkce_is_refused(oidc_idp: OidcIdp, rp: Rp) -> None:
    url, state = rp.oauth.create_authorization_url(rp.metadata["authorization_endpoint"], nonce="n")
    with requests.Session() as browser:
        redirected_to = oidc_idp.login(browser, str(url), "alice@acme.test")
    query = {k: v[0] for k, v in parse_qs(urlsplit(redirected_to).query).items()}
    assert query["error"] == "invalid_request" and "PKCE" in query["error_description"]
    assert query["state"] == state
