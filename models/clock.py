"""Time, replaceable by tests (expiry windows, TOTP steps)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable


def _system_now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC).replace(tzinfo=None)


_source: Callable[[], _dt.datetime] = _system_now


def now() -> _dt.datetime:
    """The current time as naive UTC, the form every column stores."""
    return _source()


def set_source(source: Callable[[], _dt.datetime] | None) -> None:
    global _source
    _source = source or _system_now
