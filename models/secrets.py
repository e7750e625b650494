"""Random tokens and how they are kept: only a hash is stored, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token(prefix: str = "") -> str:
    """A URL-safe token with 256 bits of randomness."""
    return prefix + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """SHA-256 is enough for 256-bit random tokens: there is nothing to brute-force."""
    return hashlib.sha256(token.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
