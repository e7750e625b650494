"""Who did what: the actor of a change and the audit trail it leaves."""

from __future__ import annotations

import contextvars
import dataclasses
from typing import Any

from . import clock, prepared
from .database import defer_to_commit
from .ops import AuditEvent

# Set by whichever surface handles the request (HTTP, CLI) so every audit
# event of that request carries the same id without threading it through.
request_id: contextvars.ContextVar[str] = contextvars.ContextVar("roster_request_id", default="")


@dataclasses.dataclass(frozen=True)
class Actor:
    """The one who asks: a signed-in user, a SCIM token, the CLI or the system."""

    type: str
    id: str = ""
    label: str = ""
    user_id: str | None = None
    account_id: str | None = None

    @classmethod
    def cli(cls, label: str = "cli") -> Actor:
        return cls("cli", "", label)

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls("system", "", label)

    @classmethod
    def for_user(cls, user: Any) -> Actor:
        return cls("user", user.id, user.email, user_id=user.id)

    @classmethod
    def for_scim_token(cls, token: Any) -> Actor:
        return cls("scim_token", token.id, f"SCIM token {token.hint}…", account_id=token.account_id)


def event(
    by: Actor,
    action: str,
    *,
    account_id: str | None,
    target_type: str = "",
    target_id: str = "",
    **detail: Any,
) -> dict[str, Any]:
    """One audit row, for :func:`record_many`."""
    return {
        "at": clock.now(),
        "actor_type": by.type,
        "actor_id": by.id,
        "actor_label": by.label,
        "account_id": account_id,
        "action": action,
        "target_type": target_type,
        "target_id": target_id,
        "detail": detail,
        "request_id": request_id.get(),
    }


def record_many(rows: list[dict[str, Any]]) -> None:
    """Write many audit events in one statement per 500 (bulk operations)."""
    for start in range(0, len(rows), 500):
        prepared.insert(AuditEvent, rows[start : start + 500])


def record(
    by: Actor,
    action: str,
    *,
    account_id: str | None,
    target_type: str = "",
    target_id: str = "",
    **detail: Any,
) -> None:
    """Write one audit event; call it inside the transaction of the change (it is written as that commits)."""
    row = event(by, action, account_id=account_id, target_type=target_type, target_id=target_id, **detail)
    if not defer_to_commit(record_many, row):
        prepared.insert(AuditEvent, [row])
