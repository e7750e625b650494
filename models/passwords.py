"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from . import settings
from .errors import InvalidInputError

MIN_LENGTH = 12
MAX_LENGTH = 1024


@functools.cache
def _hasher_for(memory_kib: int, time_cost: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(memory_cost=memory_kib, time_cost=time_cost, parallelism=parallelism)


def _hasher() -> PasswordHasher:
    """argon2id with the deployment's cost (models.settings)."""
    current = settings.current
    return _hasher_for(current.argon2_memory_kib, current.argon2_time_cost, current.argon2_parallelism)


@functools.cache
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def policy_problem(password: str, *, email: str = "") -> str | None:
    """Why ``password`` misses the policy (a sentence without the password), or None when it meets it."""
    try:
        check_policy(password, email=email)
    except InvalidInputError as exc:
        return exc.message
    return None


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
    return _hasher().hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-time check; an account without a password never matches."""
    try:
        # without a hash, check against a dummy one all the same, so the time
        # taken does not tell whether the account exists or has a password
        return _hasher().verify(password_hash or _dummy_hash(), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether a hash that just verified was made with another cost than the deployment's (redo it then)."""
    try:
        return _hasher().check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


def _dummy_hash() -> str:
    current = settings.current
    return _dummy_hash_for(current.argon2_memory_kib, current.argon2_time_cost, current.argon2_parallelism)


@functools.cache
def _dummy_hash_for(memory_kib: int, time_cost: int, parallelism: int) -> str:
    # at the deployment's cost, so checking it takes as long as checking a real one
    return _hasher_for(memory_kib, time_cost, parallelism).hash("roster dummy password")
