"""The ``roster`` group: every command under one name, and the domain's refusals as exit status 1."""

from __future__ import annotations

from typing import Any

import click
import peewee

from models.errors import RosterError

from .accounts import account_cli, token_cli
from .clients import client_cli
from .connections import connection_cli
from .domains import domain_cli
from .init import db_cli, init
from .keys import keys_cli
from .outbox import outbox_cli
from .people import group_cli, invite_cli, user_cli
from .serve import serve
from .support import DomainGroup


class _RosterGroup(DomainGroup):
    """Turns the domain's refusals and database failures into a message and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except RosterError as exc:
            raise click.ClickException(exc.message) from exc
        except (peewee.DatabaseError, peewee.InterfaceError) as exc:
            raise click.ClickException(
                f"Database error: {exc}. Check DATABASE_URL; `roster db status` tells whether the schema is "
                "up to date."
            ) from exc


@click.group(cls=_RosterGroup)
@click.version_option(package_name="roster-idp", prog_name="roster")
def cli() -> None:
    """Roster: an identity provider for partner platforms (SCIM 2.0, OpenID Connect, MFA per account).

    ACCOUNT arguments take an account's id or its unique name.
    """


def main() -> None:
    """The console script ``roster``."""
    cli(prog_name="roster")


for _command in (init, serve, db_cli, outbox_cli, account_cli, user_cli, invite_cli, group_cli, token_cli, keys_cli,
                 client_cli, domain_cli, connection_cli):
    cli.add_command(_command)
