"""``roster account …`` and ``roster token …``: accounts, their policy and their SCIM tokens."""

from __future__ import annotations

from typing import Any

import click

from models import accounts, members, scim_tokens
from models.tenancy import ACCOUNT_TYPES, MEMBERSHIP_STATUSES

from .support import (
    DomainGroup,
    account_dict,
    actor,
    emit_json,
    json_option,
    table,
    timestamp,
    token_dict,
)


def _show_account(account_data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(account_data)
        return
    for key, value in account_data.items():
        if isinstance(value, list):
            value = ", ".join(value) or "-"
        click.echo(f"{key}: {'-' if value is None else value}")


@click.group("account", cls=DomainGroup)
def account_cli() -> None:
    """Accounts (companies) and their policy."""


@account_cli.command("create")
@click.argument("name")
@click.option("--type", "account_type", type=click.Choice(ACCOUNT_TYPES), required=True, help="The kind of company.")
@click.option("--parent", metavar="ID", help="Make it a sub-account of this account (id or name).")
@click.option("--mfa-required", is_flag=True, help="Require a second factor of everyone in this account.")
@json_option
def account_create(name: str, account_type: str, parent: str | None, mfa_required: bool, as_json: bool) -> None:
    """Create an account named NAME (names are unique).

    JSON: the account, {"id", "name", "type", "parent_id", "mfa_required",
    "invitation_ttl_days", "allowed_email_domains", "created_at"}.
    """
    account = accounts.create_account(name, account_type, parent=parent, mfa_required=mfa_required, by=actor())
    if as_json:
        emit_json(account_dict(account))
    else:
        click.echo(f"Created {account.type} account {account.name} ({account.id}).")


@account_cli.command("list")
@json_option
def account_list(as_json: bool) -> None:
    """List every account, by name.

    JSON: a list of accounts, each as `roster account show --json` prints it (without "members").
    """
    found = accounts.list_accounts()
    if as_json:
        emit_json([account_dict(a) for a in found])
        return
    if not found:
        click.echo("No accounts yet: create one with `roster init` or `roster account create`.")
        return
    names = {a.id: a.name for a in found}
    table([[a.id, a.name, a.type, names.get(a.parent_id, "-") if a.parent_id else "-",
            "required" if a.mfa_required else "optional"] for a in found],
          ["ID", "NAME", "TYPE", "PARENT", "MFA"])


@account_cli.command("show")
@click.argument("account_ref", metavar="ACCOUNT")
@json_option
def account_show(account_ref: str, as_json: bool) -> None:
    """Show an account (by id or name), its policy and how many members it has.

    JSON: {"id", "name", "type", "parent_id", "mfa_required", "invitation_ttl_days",
    "allowed_email_domains", "created_at", "members": {"active", "invited", "deactivated"}}.
    """
    account = accounts.get_account(account_ref)
    counts = dict.fromkeys(MEMBERSHIP_STATUSES, 0)
    for membership, _user in members.list_members(account):
        counts[membership.status] = counts.get(membership.status, 0) + 1
    data = account_dict(account)
    if as_json:
        emit_json({**data, "members": counts})
        return
    _show_account(data, as_json=False)
    click.echo("members: " + ", ".join(f"{n} {status}" for status, n in counts.items()))


@account_cli.command("set-policy")
@click.argument("account_ref", metavar="ACCOUNT")
@click.option("--mfa-required/--no-mfa-required", default=None, help="Require a second factor, or stop requiring it.")
@click.option("--invitation-ttl", type=int, metavar="DAYS", help="How long invitation links stay valid (1–90 days).")
@click.option("--allowed-domain", "allowed_domains", multiple=True, metavar="DOMAIN",
              help="Only allow emails of these domains (and their subdomains); repeat for several.")
@click.option("--any-domain", is_flag=True, help="Lift the email domain restriction.")
@json_option
def account_set_policy(account_ref: str, mfa_required: bool | None, invitation_ttl: int | None,
                       allowed_domains: tuple[str, ...], any_domain: bool, as_json: bool) -> None:
    """Change an account's policy; options left out keep their value.

    JSON: the account after the change, as `roster account create --json` prints it.
    """
    if allowed_domains and any_domain:
        raise click.UsageError("Give --allowed-domain or --any-domain, not both.")
    account = accounts.get_account(account_ref)
    domains = [] if any_domain else (list(allowed_domains) or None)
    account = accounts.set_policy(account, mfa_required=mfa_required, invitation_ttl_days=invitation_ttl,
                                  allowed_email_domains=domains, by=actor())
    if as_json:
        emit_json(account_dict(account))
    else:
        click.echo(f"Policy of {account.name}:")
        _show_account({k: v for k, v in account_dict(account).items()
                       if k in ("mfa_required", "invitation_ttl_days", "allowed_email_domains")}, as_json=False)


# ----------------------------------------------------------------- SCIM tokens


@click.group("token", cls=DomainGroup)
def token_cli() -> None:
    """SCIM bearer tokens: each one provisions one account."""


@token_cli.command("create")
@click.argument("account_ref", metavar="ACCOUNT")
@click.option("--description", default="", help="What the token is for (e.g. the directory that uses it).")
@json_option
def token_create(account_ref: str, description: str, as_json: bool) -> None:
    """Create a SCIM token for ACCOUNT and print it. It is shown this once only.

    JSON: {"id", "hint", "description", "created_at", "created_by", "last_used_at",
    "revoked_at", "token"} where "token" is the secret.
    """
    account = accounts.get_account(account_ref)
    token, secret = scim_tokens.create_token(account, description=description, by=actor())
    if as_json:
        emit_json({**token_dict(token), "token": secret})
        return
    click.echo(f"SCIM token {token.id} for {account.name} (shown once, store it now):")
    click.echo(secret)


@token_cli.command("list")
@click.argument("account_ref", metavar="ACCOUNT")
@json_option
def token_list(account_ref: str, as_json: bool) -> None:
    """List ACCOUNT's SCIM tokens (never their secrets).

    JSON: a list of {"id", "hint", "description", "created_at", "created_by",
    "last_used_at", "revoked_at"}.
    """
    account = accounts.get_account(account_ref)
    tokens = scim_tokens.list_tokens(account)
    if as_json:
        emit_json([token_dict(t) for t in tokens])
        return
    if not tokens:
        click.echo(f"{account.name} has no SCIM tokens.")
        return
    table([[t.id, t.hint + "…", timestamp(t.created_at) or "-", timestamp(t.last_used_at) or "never",
            timestamp(t.revoked_at) or "-", t.description] for t in tokens],
          ["ID", "HINT", "CREATED", "LAST USED", "REVOKED", "DESCRIPTION"])


@token_cli.command("revoke")
@click.argument("account_ref", metavar="ACCOUNT")
@click.argument("token_id")
def token_revoke(account_ref: str, token_id: str) -> None:
    """Revoke one of ACCOUNT's SCIM tokens; requests that present it are refused from now on."""
    account = accounts.get_account(account_ref)
    token = scim_tokens.revoke_token(account, token_id, by=actor())
    click.echo(f"Revoked SCIM token {token.id} ({token.hint}…) of {account.name}.")
