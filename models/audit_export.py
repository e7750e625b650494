"""An account's audit trail as CSV or JSON Lines, produced a batch at a time (never the whole trail at once).

Both formats carry the same events, newest first, with the filters of the
page they were asked from (models.console_queries.AuditFilter). CSV is for a
spreadsheet: words, one header row, and no cell a spreadsheet would run as a
formula. JSON Lines is for a program: one object per line with the words and
the stored ids and values as they are.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

from . import audit_log, console_queries
from .audit_log import Entry, Party
from .console_queries import AuditFilter
from .tenancy import Account

BATCH = 500
CSV_COLUMNS = ("Time (UTC)", "Action", "Action code", "Actor", "Actor email", "Actor ids", "Target",
               "Target email", "Target ids", "Details", "Request id")
# a cell that starts with one of these is a formula to a spreadsheet (OWASP "CSV injection")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _utc(at: dt.datetime) -> str:
    return at.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def _entries(account: Account, where: AuditFilter, batch: int | None) -> Iterator[list[Entry]]:
    for events in console_queries.audit_batches(account, where, batch or BATCH):
        yield audit_log.describe(account, events)


def csv_lines(account: Account, where: AuditFilter, *, batch: int | None = None) -> Iterator[str]:
    """The header row, then a chunk of rows per batch of events."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    yield out.getvalue()
    for entries in _entries(account, where, batch):
        out.seek(0)
        out.truncate()
        for e in entries:
            target = e.target or Party("", "")
            writer.writerow([_cell(v) for v in (
                _utc(e.at), e.summary, e.action, e.actor.text, e.actor.email, e.actor.ids,
                target.text if e.target else "", target.email, target.ids, e.details_text, e.request_id)])
        yield out.getvalue()


def _party(party: Party | None) -> dict[str, Any] | None:
    if party is None:
        return None
    return {"kind": party.kind, "name": party.name, "email": party.email, "ids": party.ids, "note": party.note,
            "text": party.text}


def jsonl_lines(account: Account, where: AuditFilter, *, batch: int | None = None) -> Iterator[str]:
    """One JSON object per event and line, a chunk of lines per batch of events."""
    for entries in _entries(account, where, batch):
        yield "".join(json.dumps({
            "id": e.id,
            "at": _utc(e.at),
            "action": e.action,
            "summary": e.summary,
            "actor": _party(e.actor),
            "target": _party(e.target),
            "details": [{"label": d.label, "text": d.text} for d in e.details],
            "detail": e.detail,
            "request_id": e.request_id,
        }, ensure_ascii=False, default=str) + "\n" for e in entries)
