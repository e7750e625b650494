"""The admin console's blueprint and what every console page shares.

Every console URL names its account (/console/<account_id>/…) and every view
goes through :func:`admin_view`: a signed-in person, an *active admin* of that
account (R7), whose sign-in meets the account's policy (R8 first login, R10
second factor). Another account's id, or an id of something in another
account, gets the same refusal as an unknown one, so ids reveal nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    abort,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from models import console_queries, signin
from models.audit import Actor
from models.errors import NotFoundError, RosterError
from models.tenancy import User

from . import outcomes, web_session
from .pages import page_headers
from .signin import step_url

bp = Blueprint("console", __name__, template_folder="templates", url_prefix="/console")
bp.after_request(page_headers)

F = TypeVar("F", bound=Callable[..., Any])


def _zone() -> ZoneInfo:
    user: User | None = g.get("console_user")
    try:
        return ZoneInfo(user.timezone if user is not None else "UTC")
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def local_day_start(day: dt.date) -> dt.datetime:
    """The stored (naive UTC) time at which ``day`` begins in the signed-in person's timezone."""
    return dt.datetime.combine(day, dt.time(), tzinfo=_zone()).astimezone(dt.UTC).replace(tzinfo=None)


def refuse(message: str, status: int = 403) -> tuple[str, int]:
    return render_template("message.html", title=_("Not allowed") if status == 403 else _("Not found"),
                           message=message, kind="error"), status


def admin_view(view: F) -> F:
    """A console page of ``account_id``: signed in, active admin there (R7), sign-in complete for it (R8, R10)."""

    @functools.wraps(view)
    def wrapped(account_id: str, *args: Any, **kwargs: Any) -> Any:
        live = web_session.current_session()
        if live is None:
            return redirect(url_for("signin.login", next=request.full_path.rstrip("?")))
        user = User.get_by_id(live.user_id)
        g.console_user = user
        accounts = console_queries.admin_accounts(user.id)
        account = next((a for a in accounts if a.id == account_id), None)
        if account is None:
            return refuse(_("Only an active admin of this account can use its console."))
        step = signin.next_step(user, account, amr=live.amr, auth_time=live.started_at,
                                connection_id=live.connection_id)
        if step.name is not None:
            here = request.full_path.rstrip("?") if request.method == "GET" else url_for("console.users",
                                                                                         account_id=account.id)
            return redirect(step_url(step, here))
        g.console_account = account
        g.console_accounts = accounts
        try:
            return view(account, *args, **kwargs)
        except NotFoundError:
            abort(404)

    return wrapped  # type: ignore[return-value]


def actor() -> Actor:
    return Actor.for_user(g.console_user)


def render(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    """A console page: the account, the accounts to switch to and the section are always there."""
    return render_template(template, account=g.console_account, admin_accounts=g.console_accounts,
                           **context), status


def page_number() -> int:
    try:
        return max(1, int(request.args.get("page", "1")))
    except ValueError:
        return 1


def back(endpoint: str, message: str, category: str = "message", **values: Any) -> Response:
    """End an action: say what happened, then show the page of this account it came from."""
    return outcomes.back(endpoint, message, category, account_id=g.console_account.id, **values)


def refusal_goes_back(endpoint: str, *, refused: type[RosterError] = RosterError,
                      **values: Any) -> AbstractContextManager[None]:
    """:func:`oidc.outcomes.refusal_goes_back` to a page of this account."""
    return outcomes.refusal_goes_back(endpoint, refused=refused, account_id=g.console_account.id, **values)



@bp.app_template_global("console_page_url")
def page_url(number: int) -> str:
    """This page's URL with its filters kept and page ``number``."""
    values: dict[str, Any] = {**(request.view_args or {}), **request.args.to_dict(), "page": number}
    return url_for(request.endpoint or "console.index", **values)

