"""The links the domain puts in mails: built by whoever owns the routes (``oidc.links``), handed in.

The domain knows that an invitation or a password reset has a link, not
what its URL looks like; the web layer knows its routes and its base URL.
"""

from __future__ import annotations

from typing import Protocol


class Links(Protocol):
    def invitation(self, token: str) -> str:
        """Where a person accepts the invitation whose link token is ``token``."""

    def password_reset(self, token: str) -> str:
        """Where a person sets a new password with the reset token ``token``."""

    def home(self) -> str:
        """The front page, where a person signs in."""

    def forgot_password(self) -> str:
        """Where a person asks for a password reset link."""

    def profile(self, page: str = "") -> str:
        """A page of the person's own profile: its settings ("", notifications included), "security" or "sessions"."""
