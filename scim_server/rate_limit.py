"""Request budgets on the SCIM surface: past its budget a SCIM token gets 429 with ``Retry-After`` (RFC 6585 §4).

The refusal is a SCIM Error (RFC 7644 §3.12) whose ``Retry-After`` says
when the window ends; Okta and Entra ID pause and retry after it. /Me is
called with a person's access token and counts against that token's OAuth
client, as the OpenID Connect endpoints do. The rule is models.rate_limits.
"""

from __future__ import annotations

from flask import Response, current_app

from models.rate_limits import Budget, Budgets

from .errors import error_response


def _budgets() -> Budgets:
    budgets: Budgets = current_app.extensions["roster_rate_limits"]
    return budgets


def _refusal(budget: Budget, subject: str, who: str) -> Response | None:
    wait = budget.spend(subject)
    if wait is None:
        return None
    return error_response(429, f"{who} has made {budget.limit} requests this minute, its limit; "
                               f"retry after {wait} seconds.", headers={"Retry-After": str(wait)})


def token_refused(token_id: str) -> Response | None:
    """Count a request of the SCIM token ``token_id``: the 429 when its budget is spent, else None."""
    return _refusal(_budgets().scim, token_id, "This SCIM token")


def client_refused(client_id: str) -> Response | None:
    """Count a /Me request of the OAuth client ``client_id`` against that client's budget."""
    return _refusal(_budgets().oauth, client_id, "This application")
