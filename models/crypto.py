"""The server's secret key at work: secrets kept encrypted at rest (TOTP seeds, signing keys) and keyed MACs.

Fernet (AES-128-CBC + HMAC-SHA256, from the `cryptography` package) gives
authenticated encryption; HKDF derives its key from ROSTER_SECRET_KEY so
one configured secret protects everything, and a leaked database alone
reveals none of these secrets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


class DecryptionError(Exception):
    """The ciphertext was altered, or encrypted under another secret key."""


class Secrets:
    """One deployment's secret key; made once (``models.deployment``), its key never shown."""

    def __init__(self, secret_key: str) -> None:
        self._key = secret_key.encode()
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"roster secrets at rest").derive(
            self._key)
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def __repr__(self) -> str:
        return "Secrets(…)"

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, ciphertext: str) -> str:
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except InvalidToken as exc:
            raise DecryptionError("A stored secret could not be decrypted: was ROSTER_SECRET_KEY changed?") from exc

    def mac(self, message: str) -> bytes:
        """HMAC-SHA256 of ``message`` under the secret key: what only this deployment can compute."""
        return hmac.new(self._key, message.encode(), hashlib.sha256).digest()
