"""The admin console (DESIGN.md §5): per account, for its active admins only (R7).

The blueprint and its shared checks are in :mod:`oidc.console_base`; the
sections register their pages on it: Users (:mod:`oidc.console_users`,
:mod:`oidc.console_members`), Groups (:mod:`oidc.console_groups`), Settings
(:mod:`oidc.console_settings`, single sign-on in :mod:`oidc.console_sso`) and the
audit log (:mod:`oidc.console_audit`).
"""

from __future__ import annotations

from typing import Any

from flask import redirect, request, url_for
from flask_babel import gettext as _

from models import console_queries
from models.tenancy import Account

from . import console_audit, console_groups, console_members, console_settings, console_sso, console_users, web_session
from .console_base import admin_view, bp, refuse

__all__ = ["bp", "console_audit", "console_groups", "console_members", "console_settings", "console_sso",
           "console_users"]


@bp.get("")
@bp.get("/")
def index() -> Any:
    """The first account the person administers (the others are a click away in the switcher)."""
    live = web_session.current_session()
    if live is None:
        return redirect(url_for("signin.login", next=request.path))
    accounts = console_queries.admin_accounts(live.user_id)
    if not accounts:
        return refuse(_("The admin console is for account admins. Ask an admin of your account for access."))
    return redirect(url_for("console.users", account_id=accounts[0].id))


@bp.get("/<account_id>")
@admin_view
def account_home(account: Account) -> Any:
    return redirect(url_for("console.users", account_id=account.id))
