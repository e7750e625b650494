"""What every ``roster`` command shares: the actor, output (text or JSON) and the JSON shapes.

The JSON shapes are a contract with scripts outside the project: keys are
only ever added, never renamed. Times are ISO 8601 UTC strings ending in
``Z`` (or null); ids are the opaque strings the domain draws.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import click

from models import Account, Actor, Group, Invitation, Membership, ScimToken, User, audit, invitations
from models.database import db
from models.deployment import Deployment

F = TypeVar("F", bound=Callable[..., Any])
DEPLOYMENT = "roster.deployment"  # its key in click's Context.meta, which every context of an invocation shares


class DomainCommand(click.Command):
    """A command that needs the configured domain: set up only once it runs, so --help needs nothing."""

    def invoke(self, ctx: click.Context) -> Any:
        ctx.obj = ensure_domain(ctx)
        return super().invoke(ctx)


class DomainGroup(click.Group):
    """A group whose commands (and subgroups) are DomainCommands."""

    command_class = DomainCommand
    group_class = type  # subgroups are of this same class


def ensure_domain(ctx: click.Context) -> dict[str, Any]:
    """Configuration, database and a fresh audit request id, once per invocation; undone when it ends."""
    root = ctx.find_root()
    if root.obj is None:
        from ..app import configure_domain, load_config

        config = load_config()
        try:
            root.meta[DEPLOYMENT] = configure_domain(config)
        except ValueError as exc:  # a DATABASE_URL this program cannot open, a setting out of range
            raise click.ClickException(str(exc)) from exc
        root.obj = config
        token = audit.request_id.set(uuid.uuid4().hex)
        root.call_on_close(close_database)
        root.call_on_close(lambda: audit.request_id.reset(token))
    return dict(root.obj)


def deployment() -> Deployment:
    """What the domain is handed about this deployment, built once per invocation by ``ensure_domain``."""
    built: Deployment = click.get_current_context().meta[DEPLOYMENT]
    return built


def close_database() -> None:
    if db.obj is None:
        return
    if not db.is_closed():
        db.close()
    close_all = getattr(db.obj, "close_all", None)
    if close_all is not None:  # a pool keeps connections beyond close()
        close_all()


def json_option(function: F) -> F:
    """The ``--json`` flag; the command's docstring documents the keys."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(function)


def actor() -> Actor:
    return Actor.cli()


def timestamp(value: dt.datetime | None) -> str | None:
    """Naive UTC (how every column stores time) as ISO 8601 with the Z that says so."""
    if value is None:
        return None
    return value.replace(microsecond=0).isoformat() + "Z"


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def table(rows: list[list[str]], headers: list[str]) -> None:
    """Left-aligned columns, wide enough for their longest cell."""
    cells = [headers, *rows]
    widths = [max(len(str(row[i])) for row in cells) for i in range(len(headers))]
    for row in cells:
        click.echo("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


# ----------------------------------------------------------------- JSON shapes


def account_dict(account: Account) -> dict[str, Any]:
    """{"id", "name", "type", "parent_id", "mfa_required", "invitation_ttl_days",
    "allowed_email_domains", "created_at"}"""
    return {
        "id": account.id,
        "name": account.name,
        "type": account.type,
        "parent_id": account.parent_id,
        "mfa_required": bool(account.mfa_required),
        "invitation_ttl_days": account.invitation_ttl_days,
        "allowed_email_domains": account.allowed_email_domains or [],
        "created_at": timestamp(account.created_at),
    }


def member_dict(membership: Membership, user: User) -> dict[str, Any]:
    """{"id" (the membership), "account_id", "user_id", "email", "given_name", "family_name",
    "status", "role", "permissions", "created_via", "created_at"}"""
    return {
        "id": membership.id,
        "account_id": membership.account_id,
        "user_id": user.id,
        "email": user.email,
        "given_name": user.given_name,
        "family_name": user.family_name,
        "status": membership.status,
        "role": membership.role,
        "permissions": list(membership.permissions or []),
        "created_via": membership.created_via,
        "created_at": timestamp(membership.created_at),
    }


def invitation_dict(invitation: Invitation) -> dict[str, Any]:
    """{"id", "email", "given_name", "family_name", "status" (expired once past expires_at),
    "expires_at", "sent_count", "last_sent_at", "created_at"}; never the link."""
    return {
        "id": invitation.id,
        "email": invitation.email,
        "given_name": invitation.given_name,
        "family_name": invitation.family_name,
        "status": invitations.effective_status(invitation),
        "expires_at": timestamp(invitation.expires_at),
        "sent_count": invitation.sent_count,
        "last_sent_at": timestamp(invitation.last_sent_at),
        "created_at": timestamp(invitation.created_at),
    }


def group_dict(group: Group, member_emails: list[str]) -> dict[str, Any]:
    """{"id", "name", "external_id", "members" (emails)}"""
    return {
        "id": group.id,
        "name": group.display_name,
        "external_id": group.external_id,
        "members": member_emails,
    }


def token_dict(token: ScimToken) -> dict[str, Any]:
    """{"id", "hint", "description", "created_at", "created_by", "last_used_at", "revoked_at"}; never the secret."""
    return {
        "id": token.id,
        "hint": token.hint,
        "description": token.description,
        "created_at": timestamp(token.created_at),
        "created_by": token.created_by,
        "last_used_at": timestamp(token.last_used_at),
        "revoked_at": timestamp(token.revoked_at),
    }
