"""``roster keys …``: the OpenID Provider's signing keys (DESIGN.md §4)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import click

from models import SigningKey, keys

from .support import DomainGroup, actor, deployment, emit_json, json_option, table, timestamp


def key_dict(key: SigningKey) -> dict[str, Any]:
    """{"kid", "alg", "created_at", "retired_at", "publish_until"}; never the private key."""
    return {
        "kid": key.kid,
        "alg": key.alg,
        "created_at": timestamp(key.created_at),
        "retired_at": timestamp(key.retired_at),
        "publish_until": timestamp(key.publish_until),
    }


@click.group("keys", cls=DomainGroup)
def keys_cli() -> None:
    """Signing keys for ID tokens and logout tokens (RS256 and ES256)."""


@keys_cli.command("rotate")
@click.option("--token-lifetime-hours", type=click.IntRange(min=1), default=24, show_default=True,
              help="The longest lifetime of a token the old keys signed: they stay published this long.")
@json_option
def keys_rotate(token_lifetime_hours: int, as_json: bool) -> None:
    """Make new active keys; the previous ones keep verifying tokens until those expire.

    JSON: the new keys, [{"kid", "alg", "created_at", "retired_at", "publish_until"}].
    """
    created = keys.rotate(actor(), secrets=deployment().secrets,
                          longest_token_lifetime=dt.timedelta(hours=token_lifetime_hours))
    if as_json:
        emit_json([key_dict(key) for key in created])
    else:
        for key in created:
            click.echo(f"New {key.alg} key {key.kid}.")
        click.echo(f"The previous keys stay published for {token_lifetime_hours} hour(s).")


@keys_cli.command("list")
@json_option
def keys_list(as_json: bool) -> None:
    """List every signing key, newest first.

    JSON: [{"kid", "alg", "created_at", "retired_at", "publish_until"}].
    """
    found = keys.list_keys()
    if as_json:
        emit_json([key_dict(key) for key in found])
        return
    table([[k.kid, k.alg, timestamp(k.created_at) or "-", timestamp(k.retired_at) or "-",
            timestamp(k.publish_until) or "-"] for k in found],
          ["KID", "ALG", "CREATED", "RETIRED", "PUBLISHED UNTIL"])
