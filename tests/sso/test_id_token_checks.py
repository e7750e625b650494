"""F7 for OIDC: oidc.upstream_oidc.check_id_token refuses every ID token not signed by the IdP, for us, now,
for this sign-in. The IdP's JWKS is served over real HTTP on loopback; the tokens are made here, so each
attack can be made exactly (another audience, a tampered payload, an unknown key, alg none, …)."""

from __future__ import annotations

import base64
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from oidc import upstream_oidc
from oidc.upstream_oidc import UpstreamError

ISSUER = "https://idp.corp.example"
CLIENT = "roster-client"
NONCE = "n-0S6_WzA2Mj"


class JwksServer:
    """The IdP's key set, served at /jwks; ``keys`` can change (a rotation)."""

    def __init__(self) -> None:
        self.keys: list[RSAKey] = []
        self.fetches = 0
        served = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                served.fetches += 1
                body = json.dumps(KeySet(served.keys).as_dict(private=False)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def idp_keys():
    server = JwksServer()
    server.keys = [RSAKey.generate_key(2048, parameters={"kid": "k1"})]
    upstream_oidc.documents.clear()
    yield server
    server.server.shutdown()
    server.server.server_close()
    upstream_oidc.documents.clear()


def token(key: RSAKey, **changes: object) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": CLIENT, "sub": "00u1", "exp": now + 300, "iat": now, "nonce": NONCE,
              "email": "ann@corp.example", **changes}
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)


def check(value: str, server: JwksServer) -> dict:
    return upstream_oidc.check_id_token(value, issuer=ISSUER, client_id=CLIENT, nonce=NONCE, jwks_uri=server.url)


def refused(value: str, server: JwksServer, reason: str) -> None:
    with pytest.raises(UpstreamError) as caught:
        check(value, server)
    assert caught.value.reason == reason, str(caught.value)


def test_a_good_token_passes(idp_keys):
    assert check(token(idp_keys.keys[0]), idp_keys)["email"] == "ann@corp.example"


@pytest.mark.parametrize(("changes", "reason"), [
    ({"aud": "another-client"}, "wrong_audience"),
    ({"aud": [CLIENT, "another-client"]}, "wrong_audience"),  # several audiences and no azp naming us
    ({"aud": [CLIENT, "x"], "azp": "x"}, "wrong_audience"),
    ({"iss": "https://impostor.example"}, "wrong_issuer"),
    ({"exp": int(time.time()) - 3600}, "expired"),
    ({"exp": None}, "expired"),
    ({"iat": int(time.time()) + 3600}, "not_yet_valid"),
    ({"nonce": "another-sign-ins-nonce"}, "wrong_nonce"),
    ({"nonce": None}, "wrong_nonce"),
    ({"sub": None}, "no_subject"),
], ids=["audience", "several-audiences", "azp", "issuer", "expired", "no-exp", "future", "nonce", "no-nonce",
        "no-sub"])
def test_a_token_for_someone_else_or_another_time_is_refused(idp_keys, changes, reason):
    refused(token(idp_keys.keys[0], **changes), idp_keys, reason)


def test_several_audiences_with_azp_naming_us_pass(idp_keys):
    assert check(token(idp_keys.keys[0], aud=[CLIENT, "x"], azp=CLIENT), idp_keys)["sub"] == "00u1"


def test_a_tampered_payload_fails_its_signature(idp_keys):
    header, payload, signature = token(idp_keys.keys[0]).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["email"] = "ceo@corp.example"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    refused(f"{header}.{forged}.{signature}", idp_keys, "bad_signature")


def test_a_token_signed_by_a_key_the_idp_does_not_publish_is_refused(idp_keys):
    attacker = RSAKey.generate_key(2048, parameters={"kid": "k1"})  # even under the IdP's own kid
    refused(token(attacker), idp_keys, "bad_signature")


def test_alg_none_is_refused(idp_keys):
    now = int(time.time())
    header = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(json.dumps({"iss": ISSUER, "aud": CLIENT, "sub": "x", "exp": now + 60,
                                                "iat": now, "nonce": NONCE}).encode()).rstrip(b"=").decode()
    refused(f"{header}.{body}.", idp_keys, "bad_signature")


@pytest.mark.parametrize("garbage", ["", "a.b", "a.b.c", "x" * 5000, "..", "eyJ.eyJ.sig"])
def test_garbage_is_refused(idp_keys, garbage):
    with pytest.raises(UpstreamError):
        check(garbage, idp_keys)


def test_a_rotated_key_is_fetched_once_when_a_token_names_it(idp_keys):
    check(token(idp_keys.keys[0]), idp_keys)
    fetched = idp_keys.fetches
    check(token(idp_keys.keys[0]), idp_keys)
    assert idp_keys.fetches == fetched, "the key set is kept between sign-ins"
    new_key = RSAKey.generate_key(2048, parameters={"kid": "k2"})
    idp_keys.keys = [new_key]
    assert check(token(new_key), idp_keys)["sub"] == "00u1"
    assert idp_keys.fetches == fetched + 1
