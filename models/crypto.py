"""Secrets kept encrypted at rest (TOTP seeds, signing keys): Fernet, keyed from the server's secret key.

Fernet (AES-128-CBC + HMAC-SHA256, from the `cryptography` package) gives
authenticated encryption; HKDF derives its key from ROSTER_SECRET_KEY so
one configured secret protects everything, and a leaked database alone
reveals none of these secrets.
"""

from __future__ import annotations

import base64
import functools

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import settings


class DecryptionError(Exception):
    """The ciphertext was altered, or encrypted under another secret key."""


@functools.lru_cache(maxsize=4)
def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"roster secrets at rest").derive(
        secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(plaintext: str) -> str:
    return _fernet(settings.current.secret_key).encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet(settings.current.secret_key).decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise DecryptionError("A stored secret could not be decrypted: was ROSTER_SECRET_KEY changed?") from exc
