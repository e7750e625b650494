"""The provider's signing keys: one RS256 and one ES256 key active, rotated, published as a JWK Set.

Private keys are generated with ``cryptography`` and stored encrypted
(:mod:`models.crypto`); the public half is kept as a JWK (RFC 7517) ready to
publish. A rotated key stays published until ``publish_until`` so tokens it
signed still verify (OpenID Connect Core §10.1.1).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
from typing import Any

import peewee
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import RSAKey

from . import audit, clock
from .audit import Actor
from .crypto import Secrets
from .database import transaction
from .errors import ConflictError
from .i18n import Text
from .security import SigningKey

ALGORITHMS = ("RS256", "ES256")
DEFAULT_TOKEN_LIFETIME = dt.timedelta(days=1)


def ensure_keys(secrets: Secrets) -> list[SigningKey]:
    """One active key per algorithm of :data:`ALGORITHMS`, created when missing; idempotent.

    Concurrent callers compute the same kid for the same generation, so the
    primary key lets exactly one insert win and the others read its key.
    """
    missing = [alg for alg in ALGORITHMS if _newest_active(alg) is None]
    for alg in missing:
        try:
            with transaction():
                if _newest_active(alg) is None:
                    _create(alg, secrets)
        except peewee.IntegrityError:
            pass  # another process created this generation's key first
    return [_require_active(alg) for alg in ALGORITHMS]


def rotate(by: Actor, *, secrets: Secrets,
           longest_token_lifetime: dt.timedelta = DEFAULT_TOKEN_LIFETIME) -> list[SigningKey]:
    """New active keys for every algorithm; the previous ones stay published for ``longest_token_lifetime``.

    Raises :class:`ConflictError` when another rotation of the same keys committed first.
    """
    now = clock.now()
    try:
        with transaction():
            created = [_create(alg, secrets) for alg in ALGORITHMS]
            retired = [key.kid for key in SigningKey.select(SigningKey.kid).where(
                SigningKey.retired_at.is_null() & SigningKey.kid.not_in([k.kid for k in created]))]
            if retired:
                SigningKey.update(retired_at=now, publish_until=now + longest_token_lifetime).where(
                    SigningKey.kid.in_(retired)).execute()
            audit.record(by, "signing_key.rotated", account_id=None, target_type="signing_key",
                         target_id=created[0].kid, created=[k.kid for k in created], retired=retired,
                         publish_until=(now + longest_token_lifetime).isoformat() + "Z")
    except peewee.IntegrityError as exc:
        raise ConflictError("The signing keys were rotated by someone else at the same time; nothing changed.") \
            from exc
    return created


def active_key(alg: str, secrets: Secrets) -> SigningKey:
    """The key new tokens of ``alg`` are signed with (created on first use)."""
    key = _newest_active(alg)
    if key is None:
        ensure_keys(secrets)
        key = _require_active(alg)
    return key


def private_key_pem(key: SigningKey, secrets: Secrets) -> str:
    """The decrypted PKCS #8 PEM of ``key``, for signing; never store or log it."""
    return secrets.decrypt(key.private_key_encrypted)


def private_rsa_key(key: SigningKey, secrets: Secrets) -> RSAKey:
    """``key`` (RS256) ready to sign with, imported once per process.

    Loading a PEM checks the RSA key's primes, about 40 ms: more than the rest
    of a token request. A key's material never changes (rotation makes a new one).
    """
    return _imported_rsa(key.kid, key.private_key_encrypted, secrets)


@functools.lru_cache(maxsize=8)
def _imported_rsa(kid: str, encrypted: str, secrets: Secrets) -> RSAKey:
    # secrets: decrypting depends on them, so they are part of what the result is kept under
    return RSAKey.import_key(secrets.decrypt(encrypted), {"kid": kid})


def published_jwks() -> dict[str, Any]:
    """The JWK Set (RFC 7517 §5): active keys and retired ones still within ``publish_until``."""
    now = clock.now()
    keys = (SigningKey.select().where(SigningKey.retired_at.is_null() | (SigningKey.publish_until > now))
            .order_by(SigningKey.created_at.desc(), SigningKey.kid))
    return {"keys": [dict(key.public_jwk) for key in keys]}


def list_keys() -> list[SigningKey]:
    """Every key ever made, newest first (retired ones included)."""
    return list(SigningKey.select().order_by(SigningKey.created_at.desc(), SigningKey.alg, SigningKey.kid))


# ----------------------------------------------------------------- internals


def _newest_active(alg: str) -> SigningKey | None:
    newest: SigningKey | None = (SigningKey.select().where((SigningKey.alg == alg) & SigningKey.retired_at.is_null())
                                 .order_by(SigningKey.created_at.desc(), SigningKey.kid).first())
    return newest


def _require_active(alg: str) -> SigningKey:
    key = _newest_active(alg)
    if key is None:  # only when a rotation retired it between our insert and this read
        raise ConflictError(Text("No active %(alg)s signing key; try again.", alg=alg))
    return key


def _kid(alg: str, generation: int, secrets: Secrets) -> str:
    # opaque to the outside (keyed by the secret key) yet the same for concurrent creators of one generation
    digest = secrets.mac(f"signing-key:{alg}:{generation}")
    return _b64(digest[:16])


def _create(alg: str, secrets: Secrets) -> SigningKey:
    generation = SigningKey.select().where(SigningKey.alg == alg).count()
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if alg == "RS256":
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif alg == "ES256":
        private_key = ec.generate_private_key(ec.SECP256R1())
    else:
        raise ValueError(f"Unsupported signing algorithm {alg}")
    pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
    kid = _kid(alg, generation, secrets)
    jwk = {**_public_jwk(private_key), "kid": kid, "alg": alg, "use": "sig"}
    return SigningKey.create(kid=kid, alg=alg, private_key_encrypted=secrets.encrypt(pem), public_jwk=jwk,
                             created_at=clock.now())


def _public_jwk(private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> dict[str, str]:
    """The public members of RFC 7518 §6.2 (EC) / §6.3 (RSA); models/ stays free of protocol libraries,
    and a test checks this against authlib's ``JsonWebKey.import_key``."""
    if isinstance(private_key, rsa.RSAPrivateKey):
        numbers = private_key.public_key().public_numbers()
        return {"kty": "RSA", "n": _b64_int(numbers.n), "e": _b64_int(numbers.e)}
    point = private_key.public_key().public_numbers()
    return {"kty": "EC", "crv": "P-256", "x": _b64_int(point.x, 32), "y": _b64_int(point.y, 32)}


def _b64_int(value: int, length: int | None = None) -> str:
    return _b64(value.to_bytes(length or (value.bit_length() + 7) // 8, "big"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()
