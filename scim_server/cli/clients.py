"""``roster client …``: OpenID Connect clients (relying parties) of an account (DESIGN.md §4)."""

from __future__ import annotations

from typing import Any

import click

from models import OAuthClient, accounts, clients
from models.errors import NotFoundError

from .support import DomainGroup, actor, emit_json, json_option, table, timestamp

SHOWN_ONCE = "The client secret is shown this once only: store it now. `roster client rotate-secret` makes a new one."


def client_dict(client: OAuthClient) -> dict[str, Any]:
    """{"client_id", "account" (its id, or null for a platform-wide client), "name", "redirect_uris", "public",
    "first_party", "backchannel_logout_uri", "post_logout_redirect_uris", "created_at"}; never the secret."""
    return {
        "client_id": client.client_id,
        "account": client.account_id,
        "name": client.name,
        "redirect_uris": list(client.redirect_uris or []),
        "public": bool(client.public),
        "first_party": bool(client.first_party),
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "post_logout_redirect_uris": list(client.post_logout_redirect_uris or []),
        "created_at": timestamp(client.created_at),
    }


def _require_client(client_id: str) -> OAuthClient:
    client = clients.get_client(client_id)
    if client is None:
        raise NotFoundError(f"No client with id {client_id!r}.")
    return client


def _print_secret(secret: str) -> None:
    click.echo(f"client_secret: {secret}")
    click.echo(SHOWN_ONCE)


@click.group("client", cls=DomainGroup)
def client_cli() -> None:
    """OpenID Connect clients: the applications people sign in to."""


@client_cli.command("create")
@click.argument("account_ref", metavar="ACCOUNT")
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True, metavar="URI",
              help="Where sign-ins return (exact match; https, or http on localhost); repeat for several.")
@click.option("--public", is_flag=True,
              help="A browser or native app that cannot keep a secret: no secret, PKCE required.")
@click.option("--backchannel-logout-uri", metavar="URI",
              help="Where logout tokens are POSTed when a person's session ends (Back-Channel Logout 1.0).")
@click.option("--post-logout-redirect-uri", "post_logout_redirect_uris", multiple=True, metavar="URI",
              help="Where RP-initiated logout may return; repeat for several.")
@click.option("--name", default="", help="The application's name, shown on consent and session pages.")
@click.option("--third-party", is_flag=True, help="Not run by the platform: people are asked for consent.")
@json_option
def client_create(account_ref: str, redirect_uris: tuple[str, ...], public: bool, backchannel_logout_uri: str | None,
                  post_logout_redirect_uris: tuple[str, ...], name: str, third_party: bool, as_json: bool) -> None:
    """Register a client of ACCOUNT and print its client_id and, for a confidential client, its secret (once).

    JSON: {"client_id", "client_secret" (null for a public client), "account", "redirect_uris", "public",
    "backchannel_logout_uri", "name", "first_party", "post_logout_redirect_uris", "created_at"}.
    """
    account = accounts.get_account(account_ref)
    client, secret = clients.create_client(
        account, redirect_uris=redirect_uris, public=public, backchannel_logout_uri=backchannel_logout_uri,
        post_logout_redirect_uris=post_logout_redirect_uris, name=name, first_party=not third_party, by=actor())
    if as_json:
        emit_json({"client_id": client.client_id, "client_secret": secret, **client_dict(client)})
        return
    kind = "public" if client.public else "confidential"
    click.echo(f"Created {kind} client {client.name or client.client_id} for {account.name}.")
    click.echo(f"client_id: {client.client_id}")
    if secret is not None:
        _print_secret(secret)


@client_cli.command("list")
@click.argument("account_ref", metavar="ACCOUNT")
@json_option
def client_list(account_ref: str, as_json: bool) -> None:
    """List ACCOUNT's clients (never their secrets).

    JSON: a list of {"client_id", "account", "name", "redirect_uris", "public", "first_party",
    "backchannel_logout_uri", "post_logout_redirect_uris", "created_at"}.
    """
    account = accounts.get_account(account_ref)
    found = clients.list_clients(account)
    if as_json:
        emit_json([client_dict(c) for c in found])
        return
    if not found:
        click.echo(f"{account.name} has no clients: add one with `roster client create`.")
        return
    table([[c.client_id, c.name or "-", "public" if c.public else "confidential",
            ", ".join(c.redirect_uris or []), c.backchannel_logout_uri or "-"] for c in found],
          ["CLIENT ID", "NAME", "TYPE", "REDIRECT URIS", "BACK-CHANNEL LOGOUT"])


@client_cli.command("rotate-secret")
@click.argument("client_id")
@json_option
def client_rotate_secret(client_id: str, as_json: bool) -> None:
    """Give a confidential client a new secret, printed once; the old one stops working at once.

    JSON: {"client_id", "client_secret", "account", "name", "redirect_uris", "public", "first_party",
    "backchannel_logout_uri", "post_logout_redirect_uris", "created_at"}.
    """
    client = _require_client(client_id)
    secret = clients.rotate_secret(client, actor())
    if as_json:
        emit_json({"client_id": client.client_id, "client_secret": secret, **client_dict(client)})
        return
    click.echo(f"New secret for client {client.client_id}; the previous one no longer works.")
    _print_secret(secret)


@client_cli.command("delete")
@click.argument("client_id")
def client_delete(client_id: str) -> None:
    """Delete a client; its authorization codes and tokens stop working at once."""
    client = _require_client(client_id)
    clients.delete_client(client, actor())
    click.echo(f"Deleted client {client.client_id}{f' ({client.name})' if client.name else ''}.")
