"""Schema creation and numbered migrations (``playhouse.migrations``).

``models/migrations/NNNN_*.py`` hold frozen copies of the tables as they
were, so an old database upgrades the same way whatever the code says today.
"""

from __future__ import annotations

import os

from playhouse.migrations import Runner

from .database import db

MIGRATIONS = os.path.join(os.path.dirname(__file__), "migrations")


def runner() -> Runner:
    return Runner(db.obj, directory=MIGRATIONS)


def upgrade(target: str | None = None) -> list[str]:
    """Apply every migration not applied yet (up to ``target``); returns their names."""
    return list(runner().up(target))


def status() -> dict[str, bool]:
    run = runner()
    applied = run.applied()
    return {m.name: m.name in applied for m in run.migrations()}


def is_current() -> bool:
    return all(status().values())
