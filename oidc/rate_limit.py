"""Request budgets on the OAuth surface: past its budget a client gets 429 with ``Retry-After`` (RFC 6585 §4).

Counted per client once the client is authenticated (token, revocation,
introspection), and per the access token's client at userinfo, so nobody
spends another client's budget by naming it. The body is an OAuth error
(RFC 6749 §5.2): ``temporarily_unavailable`` is the registered code for
"retry later" (§4.1.2.1) and the one Box answers its token endpoint's 429
with; clients that know no better treat it like any other error and
``Retry-After`` says when to retry. The rule is models.rate_limits.
"""

from __future__ import annotations

from authlib.oauth2 import OAuth2Error
from flask import current_app

from models.rate_limits import Budgets


class RateLimitedError(OAuth2Error):  # type: ignore[misc]  # authlib is untyped
    """The client's budget for this minute is spent; ``retry_after`` is the seconds until it renews."""

    error = "temporarily_unavailable"
    status_code = 429

    def __init__(self, limit: int, retry_after: int) -> None:
        super().__init__(description=f"This client has made {limit} requests this minute, its limit; "
                                     f"retry after {retry_after} seconds.")
        self.retry_after = retry_after

    def get_headers(self) -> list[tuple[str, str]]:
        return [*super().get_headers(), ("Retry-After", str(self.retry_after))]


def spend(client_id: str) -> None:
    """Count one request of ``client_id``; RateLimitedError when its budget is spent."""
    budgets: Budgets = current_app.extensions["roster_rate_limits"]
    wait = budgets.oauth.spend(client_id)
    if wait is not None:
        raise RateLimitedError(budgets.oauth.limit, wait)
