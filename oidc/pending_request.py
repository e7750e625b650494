"""What the pages did for the authorization request in progress: a fresh sign-in, a choice of account.

The authorization endpoint sends the person to a page (the login for
``prompt=login`` or ``max_age``, the account choice) and gets them back with
the same request; it knows the page was done *for this request* by the
request's digest (oidc.authorize.request_digest). One object in Flask's
signed session cookie holds it, for the endpoint and the pages alike.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from flask import session

KEY = "authorization_request"


@dataclasses.dataclass
class PendingRequest:
    """Digests of the authorization request each step was asked for, and done for."""

    sign_in_asked: str | None = None  # sent to sign in afresh (prompt=login, max_age)
    signed_in: str | None = None  # … and signed in since
    choice_asked: str | None = None  # sent to choose an account
    chosen: tuple[str | None, str] | None = None  # (digest, account id) of the choice made

    @classmethod
    def load(cls) -> PendingRequest:
        kept: Any = session.get(KEY)
        if not isinstance(kept, dict):
            return cls()
        chosen = kept.get("chosen")
        return cls(sign_in_asked=kept.get("sign_in_asked"), signed_in=kept.get("signed_in"),
                   choice_asked=kept.get("choice_asked"),
                   chosen=(chosen[0], chosen[1]) if isinstance(chosen, list | tuple) and len(chosen) == 2 else None)

    def save(self) -> None:
        session[KEY] = {"sign_in_asked": self.sign_in_asked, "signed_in": self.signed_in,
                        "choice_asked": self.choice_asked, "chosen": list(self.chosen) if self.chosen else None}

    @staticmethod
    def clear() -> None:
        session.pop(KEY, None)

    def kept_at_sign_in(self) -> PendingRequest:
        """What survives a new session: the steps asked and the choice, not an earlier fresh sign-in."""
        return dataclasses.replace(self, signed_in=None)

    def account_for(self, digest: str) -> str | None:
        """The account chosen for the request ``digest``, if one was."""
        return self.chosen[1] if self.chosen is not None and self.chosen[0] == digest else None


def ask_sign_in(digest: str) -> None:
    """The endpoint sends the person to sign in afresh for the request ``digest``."""
    pending = PendingRequest.load()
    pending.sign_in_asked = digest
    pending.save()


def ask_choice(digest: str) -> None:
    """The endpoint sends the person to choose an account for the request ``digest``."""
    pending = PendingRequest.load()
    pending.choice_asked = digest
    pending.save()


def signed_in() -> None:
    """The login page finished: a sign-in it was asked for is now done for that request."""
    pending = PendingRequest.load()
    if pending.sign_in_asked is not None:
        pending.signed_in, pending.sign_in_asked = pending.sign_in_asked, None
        pending.save()


def choose(account_id: str) -> None:
    """The account page finished: ``account_id`` is the choice for the request it was asked for."""
    pending = PendingRequest.load()
    pending.chosen, pending.choice_asked = (pending.choice_asked, account_id), None
    pending.save()


def is_signed_in_for(digest: str) -> bool:
    return PendingRequest.load().signed_in == digest


def forget_sign_in() -> None:
    """A fresh sign-in counts for one pass through the endpoint."""
    pending = PendingRequest.load()
    if pending.signed_in is not None:
        pending.signed_in = None
        pending.save()
