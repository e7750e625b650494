"""A real relying party (authlib's OAuth client, ID tokens checked with joserfc) against a live `roster serve`.

The person's browser is a requests.Session posting the sign-in forms; their
authenticator app is pyotp. Everything the relying party knows of Roster it
learns from discovery. Runs on SQLite and, with TEST_DATABASE_URL, PostgreSQL.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from authlib.integrations.base_client.errors import OAuthError
from joserfc.errors import BadSignatureError, InvalidClaimError

from conformance.live_server import free_port

from .live import Browser, Deployment, Instance, RelyingParty

pytestmark = pytest.mark.e2e

REDIRECT_URI = "https://rp.example/callback"
SIGNED_OUT_URI = "https://rp.example/signed-out"
EMAIL = "pat@e2e.example"
SCOPE = "openid profile email offline_access"


@pytest.fixture
def deployment(database_url, tmp_path) -> Deployment:
    port = free_port()
    found = Deployment(database_url, secrets.token_urlsafe(48), f"http://127.0.0.1:{port}", tmp_path)
    found.init(f"E2E {secrets.token_hex(4)}", "admin@e2e.example")
    return found


@pytest.fixture(params=[1, 4], ids=["sync", "threads"])
def server(deployment, request) -> Iterator[Instance]:
    """`roster serve` as by default, and with gunicorn's threaded workers (``--threads 4``)."""
    with deployment.serve(port=urlsplit(deployment.base_url).port, threads=request.param) as instance:
        yield instance


@pytest.fixture
def relying_party(deployment, server) -> Iterator[RelyingParty]:
    client_id, client_secret = deployment.create_client(REDIRECT_URI, name="E2E app",
                                                        post_logout_redirect_uri=SIGNED_OUT_URI)
    rp = RelyingParty(deployment.base_url, client_id, client_secret, redirect_uri=REDIRECT_URI, scope=SCOPE)
    yield rp
    rp.close()


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_relying_party_signs_in_with_password_and_totp_then_refreshes_revokes_and_logs_out(
        deployment, server, relying_party):
    rp = relying_party
    user_id = deployment.ready_person(EMAIL)
    authenticator = deployment.enrol_totp(user_id)

    # discovery: the issuer is the base URL and every endpoint the RP uses lives under it
    assert rp.metadata["issuer"] == deployment.base_url
    assert "S256" in rp.metadata["code_challenge_methods_supported"]
    for name in ("authorization", "token", "userinfo", "revocation", "introspection", "end_session"):
        assert rp.endpoint(name).startswith(deployment.base_url + "/"), name

    # authorization code + PKCE, signed in with a password then a TOTP code, through the pages
    url = rp.authorization_url()
    sent = query_of(url)
    assert sent["code_challenge_method"] == "S256" and sent["code_challenge"] and sent["nonce"] == rp.nonce
    with Browser() as browser:
        redirected_to = browser.sign_in(url, REDIRECT_URI, email=EMAIL, totp=authenticator)
        assert browser.pages == ["/login", "/login/mfa"]
        assert query_of(redirected_to)["state"] == sent["state"]
        first = rp.callback(redirected_to)
        assert first["token_type"].lower() == "bearer" and first["refresh_token"]

        # the ID token: signature against the JWKS, issuer, audience, nonce; what the sign-in achieved
        claims = rp.id_token_claims(first["id_token"])
        assert {"pwd", "otp", "mfa"} <= set(claims["amr"]) and claims["acr"] == "mfa"
        assert claims["sid"] and claims["auth_time"] <= claims["iat"]
        assert claims["email"] == EMAIL and claims["account"]["id"] == deployment.account_id
        with pytest.raises(InvalidClaimError):
            rp.id_token_claims(first["id_token"], nonce="another sign-in's nonce")
        header, payload, signature = first["id_token"].split(".")
        forged = ".".join([header, payload, ("A" if signature[0] != "A" else "B") + signature[1:]])
        with pytest.raises(BadSignatureError):
            rp.id_token_claims(forged)

        # userinfo: the same subject
        info = rp.userinfo(first["access_token"])
        assert info.status_code == 200, info.text
        assert info.json()["sub"] == claims["sub"] and info.json()["email"] == EMAIL

        # refresh rotation: a new pair; the old refresh token is then refused (and, reused, ends the family)
        second = rp.refresh(first["refresh_token"])
        assert second["refresh_token"] != first["refresh_token"]
        assert second["access_token"] != first["access_token"]
        assert rp.userinfo(second["access_token"]).status_code == 200
        assert rp.introspect(second["refresh_token"])["active"] is True
        assert rp.introspect(first["refresh_token"])["active"] is False
        with pytest.raises(OAuthError) as refused:
            rp.refresh(first["refresh_token"])
        assert refused.value.error == "invalid_grant"
        assert rp.introspect(second["refresh_token"])["active"] is False
        assert rp.introspect(second["access_token"])["active"] is False

        # the browser's session is still there: a new authorization needs no page
        url = rp.authorization_url()
        third = rp.callback(browser.sign_in(url, REDIRECT_URI, email=EMAIL))
        assert rp.id_token_claims(third["id_token"])["sid"] == claims["sid"]

        # revocation (RFC 7009), then introspection says active: false and userinfo refuses the token
        active = rp.introspect(third["access_token"])
        assert active["active"] is True and active["sub"] == claims["sub"] and active["client_id"] == rp.client_id
        # behind a proxy that ends TLS: plain HTTP for a public name is refused (400, never a 500) unless the
        # proxy, on an address gunicorn trusts (FORWARDED_ALLOW_IPS, loopback by default), says it was HTTPS
        for forwarded, status in (({}, 400), ({"X-Forwarded-Proto": "https"}, 200)):
            behind = requests.post(rp.endpoint("introspection"), data={"token": third["access_token"]},
                                   auth=(rp.client_id, rp.oauth.client_secret), timeout=30,
                                   headers={"Host": "id.example.com", **forwarded})
            assert behind.status_code == status, behind.text
            assert behind.json().get("error", "active") == ("insecure_transport" if status == 400 else "active")
        revoked = rp.oauth.revoke_token(rp.endpoint("revocation"), third["access_token"],
                                        token_type_hint="access_token")
        assert revoked.status_code == 200, revoked.text
        assert rp.introspect(third["access_token"]) == {"active": False}
        assert rp.userinfo(third["access_token"]).status_code == 401
        revoked = rp.oauth.revoke_token(rp.endpoint("revocation"), third["refresh_token"],
                                        token_type_hint="refresh_token")
        assert revoked.status_code == 200, revoked.text
        assert rp.introspect(third["refresh_token"]) == {"active": False}
        with pytest.raises(OAuthError) as refused:
            rp.refresh(third["refresh_token"])
        assert refused.value.error == "invalid_grant"

        # RP-initiated logout: a confirmation page, the POST signs out and returns with the state
        url = rp.authorization_url()
        fourth = rp.callback(browser.sign_in(url, REDIRECT_URI, email=EMAIL))
        logout = rp.endpoint("end_session") + "?" + urlencode({
            "id_token_hint": fourth["id_token"], "post_logout_redirect_uri": SIGNED_OUT_URI, "state": "bye-42"})
        page = browser.go(logout, stop_at=SIGNED_OUT_URI)
        assert page.status_code == 200 and "sign you out" in page.text
        assert rp.introspect(fourth["access_token"])["active"] is True  # a GET changes nothing
        done = browser.submit(page, stop_at=SIGNED_OUT_URI)
        assert done.status_code == 302, done.text
        assert done.headers["Location"] == f"{SIGNED_OUT_URI}?state=bye-42"

        # the session has ended and its tokens are revoked
        for token in (fourth["access_token"], fourth["refresh_token"]):
            assert rp.introspect(token) == {"active": False}
        assert rp.userinfo(fourth["access_token"]).status_code == 401
        with pytest.raises(OAuthError) as refused:
            rp.refresh(fourth["refresh_token"])
        assert refused.value.error == "invalid_grant"
        silent = browser.go(rp.authorization_url(prompt="none"), stop_at=REDIRECT_URI)
        assert silent.status_code == 302
        assert query_of(silent.headers["Location"])["error"] == "login_required"
        # a new sign-in asks for the password again
        assert browser.go(rp.authorization_url(), stop_at=REDIRECT_URI).url.split("?")[0].endswith("/login")
