"""Column types shared by the entities."""

from __future__ import annotations

import json
import secrets
from typing import Any

import peewee


def new_id() -> str:
    """A random, opaque identifier (128 bits, URL-safe hex)."""
    return secrets.token_hex(16)


class JSONField(peewee.TextField):
    """JSON kept as text, so SQLite and PostgreSQL store it the same way."""

    def db_value(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value, separators=(",", ":"), sort_keys=True)

    def python_value(self, value: Any) -> Any:
        return None if value is None else json.loads(value)


def IdField() -> peewee.CharField:  # noqa: N802 - reads like a field class
    return peewee.CharField(primary_key=True, max_length=32, default=new_id)


class MessageField(peewee.TextField):
    """A text for a person kept for later pages (a domain's last failure): a :class:`models.i18n.Text` is kept with
    its template and values, so a page shows it in its reader's language; any other text is kept as it is."""

    def db_value(self, value: Any) -> str | None:
        from .i18n import Text

        if isinstance(value, Text):
            return json.dumps({"text": value.template, "values": value.params}, separators=(",", ":"))
        return None if value is None else str(value)

    def python_value(self, value: Any) -> Any:
        from .i18n import Text

        if isinstance(value, str) and value.startswith('{"text":'):
            try:
                kept = json.loads(value)
                return Text(kept["text"], **kept["values"])
            except (ValueError, KeyError, TypeError):
                return value
        return value
