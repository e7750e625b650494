"""The filterable values of directory records, kept in ``directory_value`` (RFC 7644 §3.4.2.2).

A record stores its SCIM attributes as one JSON document; filters and sorts on
multi-valued and nested attributes (``emails``, ``name.givenName``, the
enterprise ``manager.value`` …) need them as rows. :func:`reindex` rewrites a
record's rows from its attributes, and must run in the same transaction as
every write of ``DirectoryRecord.attributes``.
"""

from __future__ import annotations

import contextlib
import unicodedata
from collections.abc import Iterable, Iterator
from typing import Any

from . import urns
from .database import db, transaction
from .tenancy import DirectoryRecord, DirectoryValue

ENTERPRISE = urns.ENTERPRISE_USER

MAX_VALUE_LENGTH = 512
"""Longer values are kept cut to this length (an index entry must fit in a B-tree page)."""

MULTI_VALUED = ("emails", "phoneNumbers")
"""Stored as ``<name>.value``, one row per entry, with the entry's ``type`` and ``primary``."""

SINGLE_VALUED: dict[str, tuple[str | None, str, str | None]] = {
    # path → (schema URN key or None for the core schema, attribute, sub-attribute)
    "name.givenName": (None, "name", "givenName"),
    "name.familyName": (None, "name", "familyName"),
    "name.formatted": (None, "name", "formatted"),
    "displayName": (None, "displayName", None),
    "nickName": (None, "nickName", None),
    "title": (None, "title", None),
    "userType": (None, "userType", None),
    "preferredLanguage": (None, "preferredLanguage", None),
    "locale": (None, "locale", None),
    "timezone": (None, "timezone", None),
    "enterprise.employeeNumber": (ENTERPRISE, "employeeNumber", None),
    "enterprise.costCenter": (ENTERPRISE, "costCenter", None),
    "enterprise.organization": (ENTERPRISE, "organization", None),
    "enterprise.division": (ENTERPRISE, "division", None),
    "enterprise.department": (ENTERPRISE, "department", None),
    "enterprise.manager.value": (ENTERPRISE, "manager", "value"),
}

PATHS = tuple(f"{name}.value" for name in MULTI_VALUED) + tuple(SINGLE_VALUED)
"""Every ``DirectoryValue.path`` this module writes."""


def fold(value: str) -> str:
    """The case-insensitive form of a string (RFC 7643 §2.2, caseExact false): NFC, lower-cased."""
    return unicodedata.normalize("NFC", value).lower()[:MAX_VALUE_LENGTH]


def _text(value: Any) -> str | None:
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return None
    text = str(value)[:MAX_VALUE_LENGTH]
    return text or None


def _row(path: str, value: str, type_: Any = "", primary: Any = False, *, lead: bool = True) -> dict[str, Any]:
    return {"path": path, "type": fold(str(type_ or ""))[:64], "primary": primary is True, "lead": lead,
            "value": value, "value_key": fold(value)}


def values_of(attributes: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The ``directory_value`` rows (without ``record`` and ``account_id``) of a record's SCIM attributes.

    Empty values are absent. Each path has one ``lead`` row, the value a sort
    reads: a multi-valued attribute's first primary value, else its first
    value (RFC 7644 §3.4.2.3); a single value is its own.
    """
    for name in MULTI_VALUED:
        rows = [_row(f"{name}.value", value, entry.get("type"), entry.get("primary"), lead=False)
                for entry in attributes.get(name) or []
                if isinstance(entry, dict) and (value := _text(entry.get("value"))) is not None]
        if rows:
            next((row for row in rows if row["primary"]), rows[0])["lead"] = True
        yield from rows
    for path, (schema, attribute, sub_attribute) in SINGLE_VALUED.items():
        holder = attributes.get(schema) if schema else attributes
        value = holder.get(attribute) if isinstance(holder, dict) else None
        if sub_attribute is not None:
            value = value.get(sub_attribute) if isinstance(value, dict) else None
        if (text := _text(value)) is not None:
            yield _row(path, text)


def reindex(record_id: str, attributes: dict[str, Any], *, new: bool = False, account_id: str | None = None) -> None:
    """Replace the rows of one record by those of ``attributes``: one DELETE and one INSERT.

    ``new``: the record was created in this transaction and has no rows yet (the INSERT alone).
    ``account_id``: the record's account, when the caller has it; else the INSERT reads it from the record.
    Inside a transaction the caller's, which rolls back on any error, is enough: no savepoint.
    """
    account: Any = account_id if account_id is not None else DirectoryRecord.select(
        DirectoryRecord.account).where(DirectoryRecord.id == record_id)
    rows = [dict(row, record=record_id, account_id=account) for row in values_of(attributes)]
    with contextlib.nullcontext() if db.in_transaction() else transaction():
        if not new:
            DirectoryValue.delete().where(DirectoryValue.record == record_id).execute()
        if rows:
            DirectoryValue.insert_many(rows).execute()


def reindex_all(records: Iterable[DirectoryRecord] | None = None) -> int:
    """Rebuild the rows of ``records`` (every record by default); returns how many records were indexed."""
    count = 0
    for record in records if records is not None else DirectoryRecord.select(
            DirectoryRecord.id, DirectoryRecord.account, DirectoryRecord.attributes).iterator():
        reindex(record.id, record.attributes, account_id=record.account_id)
        count += 1
    return count
