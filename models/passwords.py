"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

import functools

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .errors import InvalidInputError
from .i18n import Text
from .settings import Settings

MIN_LENGTH = 12
MAX_LENGTH = 1024


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
        raise InvalidInputError(Text("The password must have at least %(count)s characters.", count=MIN_LENGTH),
                                field="password")
    if len(password) > MAX_LENGTH:
        raise InvalidInputError(Text("The password must have at most %(count)s characters.", count=MAX_LENGTH),
                                field="password")
    lowered = password.lower()
    if email and lowered in {email.lower(), email.lower().split("@")[0]}:
        raise InvalidInputError("The password must not be your email address.", field="password")
    if lowered in _common_passwords():
        raise InvalidInputError(
            "This password is one of the most commonly used; choose another.", field="password"
        )


class Hasher:
    """argon2id at the deployment's cost (``models.settings``); made once, in ``models.deployment``."""

    def __init__(self, settings: Settings) -> None:
        self._argon2 = PasswordHasher(memory_cost=settings.argon2_memory_kib, time_cost=settings.argon2_time_cost,
                                      parallelism=settings.argon2_parallelism)

    def hash(self, password: str) -> str:
        return self._argon2.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """Constant-time check; an account without a password never matches."""
        try:
            # without a hash, check against a dummy one all the same, so the time
            # taken does not tell whether the account exists or has a password
            return self._argon2.verify(password_hash or self._dummy_hash, password) and bool(password_hash)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        """Whether a hash that just verified was made with another cost than this one (redo it then)."""
        try:
            return self._argon2.check_needs_rehash(password_hash)
        except InvalidHashError:
            return True

    @functools.cached_property
    def _dummy_hash(self) -> str:
        # at the deployment's cost, so checking it takes as long as checking a real one
        return self._argon2.hash("roster dummy password")
