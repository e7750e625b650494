"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .errors import InvalidInputError

MIN_LENGTH = 12
MAX_LENGTH = 1024

_hasher = PasswordHasher()  # argon2id with the library's current recommended cost


@functools.cache
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def check_policy(password: str, *, email: str = "") -> None:
    """Refuse a password that is short, the email (or its name part), or commonly used."""
    if len(password) < MIN_LENGTH:
        raise InvalidInputError(
            f"The password must have at least {MIN_LENGTH} characters.", field="password"
        )
    if len(password) > MAX_LENGTH:
        raise InvalidInputError(
            f"The password must have at most {MAX_LENGTH} characters.", field="password"
        )
    lowered = password.lower()
    if email and lowered in {email.lower(), email.lower().split("@")[0]}:
        raise InvalidInputError("The password must not be your email address.", field="password")
    if lowered in _common_passwords():
        raise InvalidInputError(
            "This password is one of the most commonly used; choose another.", field="password"
        )


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-time check; an account without a password never matches."""
    try:
        # without a hash, check against a dummy one all the same, so the time
        # taken does not tell whether the account exists or has a password
        return _hasher.verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _dummy_hash() -> str:
    return _hasher.hash("roster dummy password")
