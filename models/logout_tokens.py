"""Logout tokens (OpenID Connect Back-Channel Logout 1.0 §2.4): what the provider POSTs to a client's
``backchannel_logout_uri`` when a person's session there ends (R11).

Signed with the provider's active RS256 key through joserfc (authlib.jose is
deprecated in favour of it), so a client verifies it with the published JWK Set
as it verifies ID tokens.
"""

from __future__ import annotations

import datetime as dt
from secrets import token_urlsafe

from joserfc import jwt

from . import clock, keys
from .crypto import Secrets

ALGORITHM = "RS256"
TOKEN_TYPE = "logout+jwt"
EVENT = "http://schemas.openid.net/event/backchannel-logout"
LIFETIME = dt.timedelta(minutes=2)


def logout_token(*, issuer: str, client_id: str, sub: str | None, sid: str | None, secrets: Secrets) -> str:
    """A signed logout token for ``client_id`` about ``sub`` and/or the session ``sid`` (§2.4).

    The claims are iss, aud, iat, exp, jti, events, sub and sid (those that
    are known); the header says ``typ: logout+jwt`` (§2.4, as RFC 8725 §3.11
    recommends) and names the key. A logout token never carries a nonce.
    """
    if not sub and not sid:
        raise ValueError("A logout token needs a sub or a sid (Back-Channel Logout 1.0 §2.4).")
    key = keys.active_key(ALGORITHM, secrets)
    issued = int(clock.now().replace(tzinfo=dt.UTC).timestamp())
    claims: dict[str, object] = {
        "iss": issuer,
        "aud": client_id,
        "iat": issued,
        "exp": issued + int(LIFETIME.total_seconds()),
        "jti": token_urlsafe(24),
        "events": {EVENT: {}},
    }
    if sub:
        claims["sub"] = sub
    if sid:
        claims["sid"] = sid
    header = {"alg": ALGORITHM, "kid": key.kid, "typ": TOKEN_TYPE}
    private = keys.private_rsa_key(key, secrets)
    return jwt.encode(header, claims, private, algorithms=[ALGORITHM])
