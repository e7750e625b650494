"""The console's audit log: a readable page, newest first by keyset, and its export as CSV and JSON Lines.

The page and both exports read the same filter (actor, action, dates in the
admin's time zone); the exports stream a batch of events at a time. Like
every console page, only an active admin of the account gets them (R7), and
only that account's events are ever read.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import current_app, request, stream_with_context, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from models import audit_log, clock, console_queries
from models.audit_export import csv_lines, jsonl_lines
from models.console_queries import AuditFilter, Position
from models.tenancy import Account

from .console_base import admin_view, bp, local_day_start, render
from .console_forms import AuditFilterForm, choices

CURSORS = ("before", "after", "page")
EXPORTS = {"csv": ("text/csv; charset=utf-8", csv_lines), "jsonl": ("application/jsonl; charset=utf-8", jsonl_lines)}


def _filter(account: Account) -> tuple[AuditFilterForm, AuditFilter]:
    form = AuditFilterForm(request.args)
    form.action.choices = choices([("", _("Any action")), *(
        (a, _(audit_log.action_words(a))) for a in console_queries.audit_actions(account))])
    if not form.validate():
        return form, AuditFilter()
    return form, AuditFilter(
        actor=form.actor.data or "", action=form.action.data or "",
        since=local_day_start(form.since.data) if form.since.data else None,
        until=local_day_start(form.until.data + dt.timedelta(days=1)) if form.until.data else None)


def _kept_args() -> dict[str, Any]:
    """The filters of this request, without its position."""
    return {k: v for k, v in request.args.items() if k not in CURSORS and v}


def _position_url(account: Account, key: str, position: Position | None) -> str | None:
    if position is None:
        return None
    return url_for("console.audit", account_id=account.id, **{**_kept_args(), key: position.token()})


@bp.get("/<account_id>/audit")
@admin_view
def audit(account: Account) -> Any:
    form, where = _filter(account)
    page = console_queries.audit_page(account, where, before=Position.parse(request.args.get("before")),
                                      after=Position.parse(request.args.get("after")))
    exports = {kind: url_for("console.audit_export", account_id=account.id, kind=kind, **_kept_args())
               for kind in EXPORTS}
    return render("console/audit.html", 200 if not form.errors else 400, form=form,
                  entries=audit_log.describe(account, page.rows), exports=exports,
                  older_url=_position_url(account, "before", page.older),
                  newer_url=_position_url(account, "after", page.newer))


def _file_name(account: Account, kind: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", account.name.lower()).strip("-") or "account"
    return f"audit-{slug}-{clock.now():%Y-%m-%d}.{kind}"


@bp.get("/<account_id>/audit/export.<any(csv, jsonl):kind>")
@admin_view
def audit_export(account: Account, kind: str) -> Any:
    """The events the page's filters select, every one of them, as an attachment (a batch at a time)."""
    form, where = _filter(account)
    if form.errors:
        return render("console/audit.html", 400, form=form, entries=[], exports={}, older_url=None,
                      newer_url=None)
    content_type, lines = EXPORTS[kind]
    response: Response = current_app.response_class(stream_with_context(lines(account, where)),
                                                     content_type=content_type)
    response.headers["Content-Disposition"] = f'attachment; filename="{_file_name(account, kind)}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
