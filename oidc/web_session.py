"""The browser's sign-in: a session cookie naming a row of models.sessions, and the sign-in in progress.

The cookie carries a random token whose hash is the session row, so ending
the row (R11, "end this session") signs the browser out on every instance
at its next request. A sign-in in progress (password done, second factor
pending) lives in Flask's signed session cookie until it completes.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from models import devices, sessions
from models.security import Session
from models.tenancy import Membership, User

from .pending_request import KEY, PendingRequest

COOKIE = "roster_session"
DEVICE_COOKIE = "roster_device"
PENDING = "signin"

F = TypeVar("F", bound=Callable[..., Any])


class LazySessions(SecureCookieSessionInterface):
    """Flask's signed session cookie, whose signer is built only when a request carries the cookie.

    API calls (tokens, introspection, userinfo, SCIM) never do; for them the
    signer was most of the session's cost, and an empty session is what
    Flask would have given them anyway.
    """

    def open_session(self, app: Any, request: Any) -> Any:
        name = self.get_cookie_name(app)
        # the raw header first: parsing the cookies costs an API call more than the test
        if name not in request.environ.get("HTTP_COOKIE", "") or not request.cookies.get(name):
            return self.session_class()
        return super().open_session(app, request)


def secure_cookies() -> bool:
    """Secure cookies whenever Roster is reached over HTTPS; plain HTTP only in development."""
    return bool(current_app.config.get("SESSION_COOKIE_SECURE"))


def current_session() -> Session | None:
    if "roster_session" not in g:
        g.roster_session = sessions.find_active(request.cookies.get(COOKIE))
    found: Session | None = g.roster_session
    return found


def current_user() -> User | None:
    """The signed-in person (read with the session, see models.sessions.find_active)."""
    found = current_session()
    return found.user if found else None


def client_ip() -> str:
    return request.remote_addr or "unknown"


def begin(user: User, *, account_id: str | None, amr: list[str], response: Response,
          connection_id: str | None = None) -> Session:
    """Start a session for a completed sign-in and set its cookie; the old cookie and CSRF token go."""
    previous = current_session()
    if previous is not None and previous.user_id != user.id:
        sessions.end(previous.id, "replaced")
    # the authorization request in progress survives; everything else (the CSRF token too) is renewed
    keep = PendingRequest.load().kept_at_sign_in() if KEY in session else None
    session.clear()
    if keep is not None:
        keep.save()
    device = devices.cookie_value(request.cookies.get(DEVICE_COOKIE))
    row, raw = sessions.start(user, account_id=account_id, amr=amr, ip=client_ip(),
                              user_agent=request.user_agent.string or "", device=device,
                              connection_id=connection_id)
    set_cookie(response, raw)
    # renewed at each sign-in; kept at sign-out, so the browser stays known to the people who used it
    response.set_cookie(DEVICE_COOKIE, device, httponly=True, samesite="Lax", secure=secure_cookies(), path="/",
                        max_age=int(devices.LIFETIME.total_seconds()))
    row.user = user
    g.roster_session = row
    return row


def set_cookie(response: Response, raw: str) -> None:
    response.set_cookie(COOKIE, raw, httponly=True, samesite="Lax", secure=secure_cookies(), path="/",
                        max_age=int(sessions.LIFETIME.total_seconds()))


def sign_out(response: Response, reason: str = "signed_out") -> Session | None:
    ended = current_session()
    if ended is not None:
        sessions.end(ended.id, reason)
    session.clear()
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="Lax", secure=secure_cookies())
    g.roster_session = None
    return ended


# --- the sign-in in progress ---------------------------------------------------


def pending() -> dict[str, Any] | None:
    """The password-checked sign-in awaiting its next step: user_id, amr, auth_time (epoch seconds)."""
    state = session.get(PENDING)
    if not state or time.time() - state.get("auth_time", 0) > 600:
        return None
    return dict(state)


def set_pending(user: User, amr: list[str], *, auth_time: float | None = None, **extra: Any) -> None:
    session[PENDING] = {"user_id": user.id, "amr": amr, "auth_time": auth_time or time.time(), **extra}


def clear_pending() -> None:
    session.pop(PENDING, None)


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a path on this site: an open redirect would turn the sign-in page into a phishing tool."""
    if not target:
        return default
    # control characters (CR/LF above all) cannot go into a Location header, and no path of ours has them
    if not target.isprintable():
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def template_context() -> dict[str, Any]:
    """For base.html: whether someone is signed in (the navigation shows only then)."""
    live = current_session()
    nav: list[dict[str, Any]] = []
    if live is not None:
        views = current_app.view_functions
        if "profile.general" in views:
            nav.append({"label": _("Profile"), "url": url_for("profile.general"),
                        "current": request.blueprint == "profile"})
        if "console.index" in views and Membership.select().where(
                (Membership.user == live.user_id) & (Membership.role == "admin")
                & (Membership.status == "active")).exists():
            nav.append({"label": _("Admin console"), "url": url_for("console.index"),
                        "current": request.blueprint == "console"})
    return {"signed_in_user": live is not None, "main_nav": nav}


def login_required(view: F) -> F:
    """Pages for signed-in people: others go to the sign-in page and come back."""

    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_session() is None:
            return redirect(url_for("signin.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]
