"""``roster init`` and ``roster db …``: the schema and the first account with its admin and SCIM token."""

from __future__ import annotations

from typing import Any

import click

from models import invitations, members, schema, scim_tokens
from models.accounts import create_account, get_account
from models.database import transaction
from models.errors import NotFoundError

from .support import DomainCommand, DomainGroup, actor, deployment, emit_json, json_option


def _scim_base_url() -> str:
    return deployment().settings.scim_base_url


def _existing_admin(account: Any, admin_email: str | None) -> tuple[str | None, str | None, str]:
    """(email, pending link, note) of the admin an earlier ``init`` made; refuses a different one."""
    if admin_email:
        try:
            membership = members.get_membership(account, admin_email)
        except NotFoundError as exc:
            raise click.ClickException(
                f"Roster is initialised already and {admin_email} is not a member of {account.name}; nothing "
                f"changed. Add them with `roster invite {account.name} {admin_email} --role admin`."
            ) from exc
        if membership.role != "admin":
            raise click.ClickException(f"{admin_email} is a member of {account.name} but not an admin; nothing "
                                       "changed.")
        email = membership.user.email
    else:
        admins = sorted((m for m, _u in members.list_members(account) if m.role == "admin" and
                         m.status != "deactivated"), key=lambda m: (m.created_at, m.id))
        if not admins:
            return None, None, f"{account.name} has no admin: invite one with `roster invite … --role admin`."
        membership = admins[0]
        email = membership.user.email
    if membership.status != "invited":
        return email, None, ""
    try:
        invitation = invitations.find_invitation(account, email)
    except NotFoundError:
        return email, None, ""
    if invitations.effective_status(invitation) != "pending":
        return email, None, (f"The admin's invitation is {invitations.effective_status(invitation)}: "
                             f"`roster invite resend {account.name} {email}` sends a new link.")
    return email, invitations.link(invitation, by=actor(), deployment=deployment()), ""


@click.command("init", cls=DomainCommand)
@click.option("--account", "account_name", default="Default", show_default=True,
              help="Name of the first account (a vendor).")
@click.option("--admin-email", envvar="ROSTER_ADMIN_EMAIL",
              help="Email of the account's first admin (required the first time; env ROSTER_ADMIN_EMAIL).")
@json_option
@click.pass_obj
def init(config: dict[str, Any], account_name: str, admin_email: str | None, as_json: bool) -> None:
    """Create the schema, a first account, its admin and a SCIM token.

    The admin is invited: their invitation link is where they set their
    password and sign in. Running init again changes nothing (no new token)
    and prints what exists, with the admin's link while it is still pending.
    The account named by --account decides whether init ran already.

    JSON: {"created": bool, "account": {"id", "name"}, "admin_email",
    "admin_link" (null unless pending), "scim_base_url", "scim_token" (null
    unless created now), "migrations_applied": [names]}.
    """
    if not admin_email and not any(schema.status().values()):
        raise click.UsageError("The first `roster init` needs --admin-email (or ROSTER_ADMIN_EMAIL).")
    applied = schema.upgrade()
    note = ""
    token_secret = None
    try:
        account = get_account(account_name)
    except NotFoundError:
        account = None
    if account is not None:
        created = False
        email, link, note = _existing_admin(account, admin_email)
    else:
        if not admin_email:
            raise click.UsageError("The first `roster init` needs --admin-email (or ROSTER_ADMIN_EMAIL).") from None
        created = True
        # all or nothing, so a failed first run leaves no half-made account behind
        with transaction():
            account = create_account(account_name, "vendor", by=actor())
            result = invitations.invite(account, admin_email, role="admin", by=actor(), via="cli",
                                         deployment=deployment())
            _token, token_secret = scim_tokens.create_token(account, description="made by roster init",
                                                            by=actor())
        email, link = result.email, result.link
        if result.outcome == "added":
            note = f"{email} has a Roster user already: they are an admin of {account.name} now and sign in as usual."
    data = {
        "created": created,
        "account": {"id": account.id, "name": account.name},
        "admin_email": email,
        "admin_link": link,
        "scim_base_url": _scim_base_url(),
        "scim_token": token_secret,
        "migrations_applied": applied,
    }
    if as_json:
        emit_json(data)
    else:
        _echo_init(data, note)


def _echo_init(data: dict[str, Any], note: str) -> None:
    """What init did, as text: the same facts as its JSON, and ``note`` for the operator."""
    applied, account, token_secret = data["migrations_applied"], data["account"], data["scim_token"]
    if applied:
        click.echo(f"Applied migrations: {', '.join(applied)}.")
    if data["created"]:
        click.echo(f"Created account {account['name']} ({account['id']}).")
    else:
        click.echo(f"Roster is initialised already; nothing {'else ' if applied else ''}changed. "
                   f"Account {account['name']} ({account['id']}).")
    if data["admin_email"]:
        click.echo(f"Admin: {data['admin_email']}")
    if data["admin_link"]:
        click.echo(f"Admin's link to set a password and sign in: {data['admin_link']}")
    if note:
        click.echo(note)
    click.echo(f"SCIM base URL: {data['scim_base_url']}")
    if token_secret:
        click.echo(f"SCIM token (shown once, store it now): {token_secret}")
    else:
        click.echo(f"SCIM tokens: `roster token list {account['name']}`; `roster token create {account['name']}` "
                   "makes one.")


# ----------------------------------------------------------------- db


@click.group("db", cls=DomainGroup)
def db_cli() -> None:
    """The database schema (numbered migrations)."""


@db_cli.command("upgrade")
def db_upgrade() -> None:
    """Apply every migration not applied yet (creates the schema in an empty database)."""
    applied = schema.upgrade()
    if applied:
        click.echo(f"Applied {len(applied)} migration(s): {', '.join(applied)}.")
    else:
        click.echo("The database schema is up to date.")


@db_cli.command("status")
@json_option
def db_status(as_json: bool) -> None:
    """Show each migration and whether it is applied.

    JSON: {"current": bool, "migrations": [{"name", "applied": bool}]}.
    """
    status = schema.status()
    current = all(status.values())
    if as_json:
        emit_json({"current": current, "migrations": [{"name": n, "applied": a} for n, a in status.items()]})
        return
    for name, done in status.items():
        click.echo(f"{'applied' if done else 'pending'}  {name}")
    click.echo("The database schema is up to date." if current
               else "Run `roster db upgrade` to apply the pending ones.")

