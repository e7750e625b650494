"""The ``roster`` command: operate a Roster installation from a shell.

Each command turns its arguments into one call of a domain function in
``models/`` (the same one a SCIM request or a console click makes) and prints
the result. Configuration is the app's (``DATABASE_URL``, ``ROSTER_*``; see
README.md); audit events name the CLI as actor and carry one request id per
invocation.

Exit status: 0 on success, 1 when the domain refuses (the reason goes to
stderr), 2 for a usage error. Commands that print data take ``--json``; the
keys are in each command's docstring and only ever grow.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

import click
import peewee

from models import invitations, members, schema, scim_tokens
from models.accounts import create_account, get_account
from models.database import transaction
from models.errors import NotFoundError, RosterError

from .cli_accounts import account_cli, token_cli
from .cli_clients import client_cli
from .cli_keys import keys_cli
from .cli_people import group_cli, invite_cli, user_cli
from .cli_support import DomainGroup, actor, close_database, emit_json, json_option

log = logging.getLogger("roster.cli")


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


def _configure_logging(config: dict[str, Any]) -> None:
    # only when nobody else did (pytest, an embedding program): theirs wins
    if not logging.getLogger().handlers:
        from .logs import configure

        configure(str(config.get("LOG_LEVEL") or "INFO"))


def _scim_base_url(config: dict[str, Any]) -> str:
    return str(config["BASE_URL"]).rstrip("/") + "/scim/v2"


# ----------------------------------------------------------------- init


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
    return email, invitations.link(invitation, by=actor()), ""


@cli.command("init")
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
            result = invitations.invite(account, admin_email, role="admin", by=actor(), via="cli")
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
        "scim_base_url": _scim_base_url(config),
        "scim_token": token_secret,
        "migrations_applied": applied,
    }
    if as_json:
        emit_json(data)
        return
    if applied:
        click.echo(f"Applied migrations: {', '.join(applied)}.")
    if created:
        click.echo(f"Created account {account.name} ({account.id}).")
    else:
        click.echo(f"Roster is initialised already; nothing {'else ' if applied else ''}changed. "
                   f"Account {account.name} ({account.id}).")
    if email:
        click.echo(f"Admin: {email}")
    if link:
        click.echo(f"Admin's link to set a password and sign in: {link}")
    if note:
        click.echo(note)
    click.echo(f"SCIM base URL: {data['scim_base_url']}")
    if token_secret:
        click.echo(f"SCIM token (shown once, store it now): {token_secret}")
    else:
        click.echo(f"SCIM tokens: `roster token list {account.name}`; `roster token create {account.name}` makes one.")


# ----------------------------------------------------------------- serve


def _require_current_schema() -> None:
    status = schema.status()
    if not any(status.values()):
        raise click.ClickException("The database has no Roster schema yet: run `roster init` first.")
    pending = [name for name, done in status.items() if not done]
    if pending:
        raise click.ClickException(f"The database schema is out of date ({', '.join(pending)} not applied): "
                                   "run `roster db upgrade` first.")


def _gunicorn(options: dict[str, Any]) -> Any:
    # imported here: every other command starts faster without gunicorn
    from gunicorn.app.base import BaseApplication

    class RosterServer(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                # settings differ between gunicorn releases: skip what this one lacks
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            from .app import create_app

            return create_app()

    return RosterServer()


def _json_logging(level: str) -> dict[str, Any]:
    """gunicorn's own lines as JSON too, so the whole stream parses (DESIGN.md §6)."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "scim_server.logs.JsonFormatter"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "root": {"handlers": ["stderr"], "level": level},
        "loggers": {
            "gunicorn.error": {"handlers": ["stderr"], "level": level, "propagate": False},
        },
    }


def _stop_child(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    elif process.returncode:
        log.error("the outbox sender had exited with status %s", process.returncode)


def _metrics_directory(config: dict[str, Any]) -> tuple[str | None, bool]:
    """With metrics on: the directory where every worker writes its counts, and whether serve made it.

    prometheus-client's multi-process mode sums the files of all workers at
    each scrape. ``PROMETHEUS_MULTIPROC_DIR`` when set (emptied: an earlier
    run's counts must not be added to this one's), else a new directory that
    serve removes when it stops. Set before any worker imports prometheus-client.
    """
    from .app import metrics_enabled

    if not metrics_enabled(config):
        return None, False
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    directory = given or tempfile.mkdtemp(prefix="roster-metrics-")
    os.makedirs(directory, exist_ok=True)
    for stale in glob.glob(os.path.join(directory, "*.db")):
        os.remove(stale)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
    return directory, given is None


def _worker_exited(server: Any, worker: Any) -> None:
    """gunicorn's child_exit hook: a dead worker's live gauges stop counting (its counters stay in the sums)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


@cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, type=click.IntRange(1, 65535), show_default=True, help="Port to listen on.")
@click.option("--workers", default=2, type=click.IntRange(1), show_default=True, envvar="ROSTER_WORKERS",
              help="Worker processes (env ROSTER_WORKERS).")
@click.option("--threads", default=1, type=click.IntRange(1), show_default=True,
              help="Threads per worker process; over 1, gunicorn's threaded (gthread) workers.")
@click.pass_obj
def serve(config: dict[str, Any], host: str, port: int, workers: int, threads: int) -> None:
    """Serve SCIM, OpenID Connect and the pages with gunicorn, and deliver the outbox.

    A child process runs `roster outbox send` for as long as the server
    runs. Refuses to start while the schema is missing or out of date.
    SIGTERM or Ctrl-C stops both. With --threads 1 (the default) each worker
    is a sync worker: one request at a time.
    """
    from .client_address import TrustedProxies
    from .parent_process import gunicorn_worker_follows_master

    forwarded_allow_ips = str(config.get("FORWARDED_ALLOW_IPS") or "")
    try:
        TrustedProxies(forwarded_allow_ips)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    _require_current_schema()
    # the workers fork from this process: they must not share its connection
    close_database()
    level = str(config.get("LOG_LEVEL") or "INFO").upper()
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    metrics_directory, own_metrics_directory = _metrics_directory(config)
    server = _gunicorn({
        **({"child_exit": _worker_exited} if metrics_directory else {}),
        "bind": [bind],
        "workers": workers,
        # one thread keeps gunicorn's sync worker, as serve ran before --threads existed
        **({"worker_class": "gthread", "threads": threads} if threads > 1 else {}),
        "proc_name": "roster",
        "loglevel": level.lower(),
        "logconfig_dict": _json_logging(level),
        "logger_class": "scim_server.server_log.RequestLogOnly",
        # gunicorn ≥ 25 opens a control socket at one path per $HOME: two servers would fight over it
        "control_socket_disable": True,
        # the proxies gunicorn trusts for X-Forwarded-Proto are the ones the app trusts for X-Forwarded-For
        "forwarded_allow_ips": forwarded_allow_ips,
        # workers and the sender end with a master that dies without stopping them (SIGKILL, the OOM killer)
        "post_worker_init": gunicorn_worker_follows_master,
    })
    master = os.getpid()
    sender = subprocess.Popen([sys.executable, "-m", "scim_server.cli", "outbox", "send", "--parent-pid", str(master)])
    try:
        server.run()
    finally:
        # a worker leaves gunicorn by SystemExit through this frame too: only the master stops the sender
        if os.getpid() == master:
            _stop_child(sender)
            if own_metrics_directory:
                shutil.rmtree(str(metrics_directory), ignore_errors=True)


# ----------------------------------------------------------------- db, outbox


@cli.group("db")
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


@cli.group("outbox")
def outbox_cli() -> None:
    """Outgoing mail and back-channel logout calls."""


@outbox_cli.command("send")
@click.option("--once", is_flag=True, help="Deliver what is due now and exit, instead of running until SIGTERM.")
# `roster serve` passes its pid: the sender stops when serve dies, however it dies
@click.option("--parent-pid", type=int, default=None, hidden=True)
@click.pass_obj
def outbox_send(config: dict[str, Any], once: bool, parent_pid: int | None) -> None:
    """Deliver due outbox messages, retrying failures with backoff (`roster serve` runs this for you)."""
    from .outbox_sender import run

    _configure_logging(config)
    try:
        delivered = run(config, once=once, parent_pid=parent_pid)
    except ValueError as exc:  # a mail setting that can never work
        raise click.ClickException(str(exc)) from exc
    if once:
        click.echo(f"Delivered {delivered} message(s).")


for _command in (account_cli, user_cli, invite_cli, group_cli, token_cli, keys_cli, client_cli):
    cli.add_command(_command)


if __name__ == "__main__":
    main()
