"""Children of `roster serve` that end when it does, however it ends.

A clean stop of `roster serve` stops its gunicorn workers and its outbox
sender; a SIGKILL or the OOM killer gives the master no chance to. A child
started here asks Linux to send it a signal when its parent dies
(``prctl(PR_SET_PDEATHSIG)``); elsewhere, and for a parent that died before
the request, :func:`parent_alive` is the portable check a loop makes: an
orphan is re-parented, so its parent id changes.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
from typing import Any

log = logging.getLogger("roster.serve")

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def signal_on_parent_death(signum: int = signal.SIGTERM) -> bool:
    """Ask the kernel for ``signum`` when this process's parent dies; False where that is not offered."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        done: bool = libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0) == 0
    except (OSError, AttributeError):  # a libc without prctl: the parent check alone
        return False
    if not done:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
    return done


def parent_alive(parent_pid: int) -> bool:
    """Whether ``parent_pid`` is still this process's parent."""
    return os.getppid() == parent_pid


def follow_parent(parent_pid: int, signum: int = signal.SIGTERM) -> bool:
    """Get ``signum`` when ``parent_pid`` dies; False if it already has (the caller should stop now).

    The check after the request closes the race with a parent that died
    just before it, when no signal will come.
    """
    signal_on_parent_death(signum)
    return parent_alive(parent_pid)


def gunicorn_worker_follows_master(worker: Any) -> None:
    """gunicorn's post_worker_init hook: SIGTERM (a graceful stop) when the master dies.

    gunicorn's own parent check runs only between requests and select
    timeouts of half the worker timeout; the signal comes at once. A master
    already gone is caught by that check before the worker's first wait.
    """
    follow_parent(int(worker.ppid))
