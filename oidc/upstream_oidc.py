"""An account's upstream OpenID Connect IdP (DESIGN.md §7): Roster as the client, through authlib's client.

Discovery and JWKS are fetched from the issuer and kept for a while per
issuer (:class:`_Cache`, the one speed trick here); a signature by a key the
cached JWKS lacks fetches the JWKS again once, which is how an IdP's key
rotation reaches Roster. The ID token is checked as OpenID Connect Core
§3.1.3.7 says (F7): signature, issuer, audience (and azp), expiry, issued
at, nonce. Every failure is an :class:`UpstreamError` whose text says what
failed, for the person's page and the admin's audit trail.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc6749 import OAuth2Error
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from models import sso
from models.connections import Connection
from models.i18n import Text

TIMEOUT = 10.0
CACHE_SECONDS = 3600.0
LEEWAY = 60  # seconds of clock difference tolerated on exp and iat
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]
MAX_DOCUMENT = 512_000


class UpstreamError(Exception):
    """The upstream exchange failed (F7); ``reason`` is a short code, ``message`` says what failed.

    ``str()`` is the English (the admin's audit trail); the person's page translates ``message``.
    """

    def __init__(self, reason: str, message: Text) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _get_json(url: str, what: str) -> dict[str, Any]:
    try:
        answer = requests.get(url, timeout=TIMEOUT, headers={"Accept": "application/json"})
    except requests.RequestException as exc:
        raise UpstreamError("upstream_unreachable", Text("The IdP's %(what)s at %(url)s did not answer (%(error)s).",
                                                         what=what, url=url, error=type(exc).__name__)) from None
    if answer.status_code != 200 or len(answer.content) > MAX_DOCUMENT:
        raise UpstreamError("upstream_unreachable", Text("The IdP's %(what)s at %(url)s answered HTTP %(status)s.",
                                                         what=what, url=url, status=answer.status_code))
    try:
        document = answer.json()
    except ValueError:
        raise UpstreamError("upstream_invalid", Text("The IdP's %(what)s at %(url)s is not JSON.", what=what,
                                                     url=url)) from None
    if not isinstance(document, dict):
        raise UpstreamError("upstream_invalid", Text("The IdP's %(what)s at %(url)s is not a JSON object.", what=what,
                                                     url=url))
    return document


class _Cache:
    """Discovery documents and key sets by URL, for CACHE_SECONDS; thread-safe, per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, tuple[float, dict[str, Any]]] = {}

    def get(self, url: str, what: str, *, fresh: bool = False) -> dict[str, Any]:
        with self._lock:
            kept = self._items.get(url)
        if kept is not None and not fresh and time.monotonic() - kept[0] < CACHE_SECONDS:
            return kept[1]
        document = _get_json(url, what)
        with self._lock:
            self._items[url] = (time.monotonic(), document)
        return document

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


documents = _Cache()


def discover(issuer: str, *, fresh: bool = False) -> dict[str, Any]:
    """The issuer's discovery document, whose ``issuer`` must be the one configured (Discovery §4.3)."""
    metadata = documents.get(f"{issuer.rstrip('/')}/.well-known/openid-configuration", "discovery document",
                             fresh=fresh)
    if metadata.get("issuer") != issuer.rstrip("/") and metadata.get("issuer") != issuer:
        raise UpstreamError("issuer_mismatch", Text("The discovery document names the issuer %(named)r, not "
                                                    "%(issuer)r.", named=str(metadata.get("issuer"))[:200],
                                                    issuer=issuer))
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(metadata.get(key), str):
            raise UpstreamError("upstream_invalid", Text("The discovery document has no %(key)s.", key=key))
    return metadata


def _client(connection: Connection, client_secret: str, redirect_uri: str, metadata: dict[str, Any]
            ) -> OAuth2Session:
    methods = metadata.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    method = "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
    return OAuth2Session(connection.client_id, client_secret, scope=" ".join(connection.scopes or ["openid"]),
                         redirect_uri=redirect_uri, code_challenge_method="S256",
                         token_endpoint_auth_method=method)


def authorization_url(connection: Connection, *, client_secret: str, redirect_uri: str, state: str, nonce: str,
                      code_verifier: str, login_hint: str = "") -> str:
    """Where to send the person: the IdP's authorization endpoint with state, nonce and PKCE (S256)."""
    metadata = discover(connection.issuer)
    extra = {"login_hint": login_hint} if login_hint else {}
    with _client(connection, client_secret, redirect_uri, metadata) as client:
        url, _ = client.create_authorization_url(metadata["authorization_endpoint"], state=state, nonce=nonce,
                                                 code_verifier=code_verifier, **extra)
    return str(url)


def _verify_signature(token: str, jwks_uri: str) -> dict[str, Any]:
    """The token's claims once its signature checks against the IdP's keys. A failure with the cached keys
    fetches the JWKS again once: the IdP may have rotated its keys since (a sign-in's state bounds how often)."""
    failure = ""
    for fresh in (False, True):
        try:
            keys = KeySet.import_key_set(documents.get(jwks_uri, "JWKS", fresh=fresh))  # type: ignore[arg-type]
            return dict(jwt.decode(token, keys, algorithms=ALGORITHMS).claims)
        except (ValueError, TypeError, KeyError, JoseError) as exc:
            failure = type(exc).__name__
    raise UpstreamError("bad_signature", Text("The ID token's signature does not check against the IdP's keys "
                                              "(%(error)s).", error=failure))


def check_id_token(token: str, *, issuer: str, client_id: str, nonce: str, jwks_uri: str) -> dict[str, Any]:
    """F7: the claims of an ID token that is signed by the IdP, for us, now, and for this sign-in."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise UpstreamError("no_id_token", Text("The IdP sent no ID token."))
    claims = _verify_signature(token, jwks_uri)
    now = time.time()
    if claims.get("iss") != issuer:
        raise UpstreamError("wrong_issuer", Text("The ID token comes from %(named)r, not %(issuer)r.",
                                                 named=str(claims.get("iss"))[:200], issuer=issuer))
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if client_id not in audiences:
        raise UpstreamError("wrong_audience", Text("The ID token is for another client (its aud is not this "
                                                   "connection's client ID)."))
    if len(audiences) > 1 and claims.get("azp") != client_id:
        raise UpstreamError("wrong_audience", Text("The ID token has several audiences and its azp is not this "
                                                   "client."))
    exp, iat = claims.get("exp"), claims.get("iat")
    if not isinstance(exp, int | float) or exp + LEEWAY < now:
        raise UpstreamError("expired", Text("The ID token has expired."))
    if not isinstance(iat, int | float) or iat - LEEWAY > now:
        raise UpstreamError("not_yet_valid", Text("The ID token was issued in the future: check the IdP's clock."))
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise UpstreamError("no_subject", Text("The ID token has no subject (sub)."))
    if claims.get("nonce") != nonce:
        raise UpstreamError("wrong_nonce", Text("The ID token's nonce is not this sign-in's: it was made for another "
                                                "one."))
    return claims


def finish(connection: Connection, *, client_secret: str, redirect_uri: str, code: str, code_verifier: str,
           nonce: str) -> tuple[sso.Asserted, dict[str, Any]]:
    """Exchange the code (with the PKCE verifier), check the ID token, read the person: (asserted, claims)."""
    if not code:
        raise UpstreamError("no_code", Text("The IdP sent no authorization code."))
    metadata = discover(connection.issuer)
    try:
        with _client(connection, client_secret, redirect_uri, metadata) as client:
            token = client.fetch_token(metadata["token_endpoint"], code=code, code_verifier=code_verifier,
                                       timeout=TIMEOUT)
    except (OAuth2Error, OAuthError) as exc:  # authlib's server-side and client-side errors, one shape
        said = (Text("The IdP refused the code: %(error)s: %(description)s.", error=exc.error,
                     description=str(exc.description)[:200]) if exc.description
                else Text("The IdP refused the code: %(error)s.", error=exc.error))
        raise UpstreamError("token_refused", said) from None
    except (requests.RequestException, ValueError) as exc:
        raise UpstreamError("upstream_unreachable", Text("The IdP's token endpoint failed (%(error)s).",
                                                         error=type(exc).__name__)) from None
    claims = check_id_token(token.get("id_token", ""), issuer=connection.issuer, client_id=connection.client_id,
                            nonce=nonce, jwks_uri=metadata["jwks_uri"])
    if not claims.get(connection.claim("email")) and metadata.get("userinfo_endpoint") and token.get("access_token"):
        claims = {**_userinfo(metadata["userinfo_endpoint"], token["access_token"], claims["sub"]), **claims}
    return asserted_from(connection, claims), claims


def _userinfo(url: str, access_token: str, subject: str) -> dict[str, Any]:
    try:
        answer = requests.get(url, timeout=TIMEOUT, headers={"Authorization": f"Bearer {access_token}"})
        info = answer.json() if answer.status_code == 200 else {}
    except (requests.RequestException, ValueError):
        return {}
    # userinfo about someone else than the ID token's subject is ignored (Core §5.3.2)
    return info if isinstance(info, dict) and info.get("sub") == subject else {}


def _text(value: Any, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def asserted_from(connection: Connection, claims: dict[str, Any]) -> sso.Asserted:
    """The person as the connection's claim mapping reads ``claims``."""
    subject = claims.get(connection.claim("subject"))
    groups = claims.get(connection.claim("groups"))
    amr = claims.get("amr")
    verified = claims.get("email_verified")
    methods = tuple(m for m in amr if isinstance(m, str)) if isinstance(amr, list) else ()
    return sso.Asserted(
        subject=str(subject)[:512] if isinstance(subject, str | int) and str(subject) else str(claims["sub"])[:512],
        email=_text(claims.get(connection.claim("email")), 320),
        email_verified=verified if isinstance(verified, bool) else None,
        given_name=_text(claims.get(connection.claim("given_name")), 200),
        family_name=_text(claims.get(connection.claim("family_name")), 200),
        groups=tuple(g[:256] for g in groups if isinstance(g, str))[:100] if isinstance(groups, list) else (),
        methods=methods,
        second_factor=bool(sso.UPSTREAM_SECOND_FACTORS & set(methods)),
    )
