"""``roster outbox …``: deliver the outbox (mail, back-channel logout calls)."""

from __future__ import annotations

import logging
from typing import Any

import click

from .support import DomainGroup


def _configure_logging(config: dict[str, Any]) -> None:
    # only when nobody else did (pytest, an embedding program): theirs wins
    if not logging.getLogger().handlers:
        from ..logs import configure

        configure(str(config.get("LOG_LEVEL") or "INFO"))


@click.group("outbox", cls=DomainGroup)
def outbox_cli() -> None:
    """Outgoing mail and back-channel logout calls."""


@outbox_cli.command("send")
@click.option("--once", is_flag=True, help="Deliver what is due now and exit, instead of running until SIGTERM.")
# `roster serve` passes its pid: the sender stops when serve dies, however it dies
@click.option("--parent-pid", type=int, default=None, hidden=True)
@click.pass_obj
def outbox_send(config: dict[str, Any], once: bool, parent_pid: int | None) -> None:
    """Deliver due outbox messages, retrying failures with backoff (`roster serve` runs this for you)."""
    from ..outbox import run

    _configure_logging(config)
    try:
        delivered = run(config, once=once, parent_pid=parent_pid)
    except ValueError as exc:  # a mail setting that can never work
        raise click.ClickException(str(exc)) from exc
    if once:
        click.echo(f"Delivered {delivered} message(s).")

