"""``roster serve``: gunicorn workers and an outbox sender, for as long as the server runs."""

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

from models import schema

from .support import DomainCommand, close_database

log = logging.getLogger("roster.cli")


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

    class RosterServer(BaseApplication):  # type: ignore[misc]  # gunicorn has no type hints
        def load_config(self) -> None:
            for key, value in options.items():
                # settings differ between gunicorn releases: skip what this one lacks
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            from ..app import create_app

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
    from ..app import metrics_enabled

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

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]  # prometheus-client's is untyped


@click.command("serve", cls=DomainCommand)
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
    from ..client_address import TrustedProxies
    from ..parent_process import gunicorn_worker_follows_master

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

