"""The self-service profile (DESIGN.md §5): General, Accounts and Sessions; Security is in profile_security.

Every page is for the signed-in person and acts on their own user only;
each action is a POST with a CSRF token and ends with a flashed message.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import force_locale, get_locale, ngettext
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from models import i18n, members, profile, sessions, user_agents
from models.errors import RosterError
from models.i18n import N_
from models.tenancy import Account, Membership, User

from . import web_session
from .forms import field_error
from .outcomes import back, refusal_goes_back
from .pages import page_headers
from .profile_forms import ConfirmForm, GeneralForm

bp = Blueprint("profile", __name__, template_folder="templates", url_prefix="/profile")
bp.after_request(page_headers)


@bp.before_request
def _guard() -> Response | None:
    """Signed-in people only; R8 (terms, own password) before anything else."""
    if web_session.current_session() is None:
        return redirect(url_for("signin.login", next=request.full_path.rstrip("?")))
    user = viewer()
    if user.must_change_password or user.terms_accepted_at is None:
        return redirect(url_for("signin.first_login", next=request.path))
    return None


def viewer() -> User:
    """The signed-in person, read once per request."""
    if "profile_user" not in g:
        user = web_session.current_user()
        assert user is not None, "the blueprint's guard lets only signed-in people through"
        g.profile_user = user
    found: User = g.profile_user
    return found


# --- sessions as a person reads them --------------------------------------------

# RFC 8176 amr values in words
METHODS = {"pwd": N_("password"), "otp": N_("authenticator app or recovery code"), "hwk": N_("security key"),
           "swk": N_("passkey"), "fed": N_("your company's sign-in"), "mfa": N_("a second factor")}


def device(user_agent: str) -> str:
    """``Browser on OS`` from a User-Agent header, in the page's language (models.user_agents reads it)."""
    return user_agents.describe(user_agent, _)


def methods(amr: list[str] | None) -> str:
    words = [_(METHODS[v]) for v in amr or [] if v in METHODS]
    return ", ".join(words) if words else _("unknown")


END_REASONS = {
    "signed_out": N_("signed out"),
    "ended_by_user": N_("ended from the Sessions page"),
    "idle_timeout": N_("unused for too long"),
    "expired": N_("too old"),
    "replaced": N_("another person signed in"),
    "user_disabled": N_("user disabled"),
    "password_changed": N_("password changed"),
    "password_reset": N_("password reset"),
    "membership_deactivated": N_("access to the account deactivated"),
    "membership_removed": N_("removed from the account"),
}


def end_reason(reason: str | None) -> str:
    known = END_REASONS.get(reason or "")
    return _(known) if known else re.sub(r"[_-]+", " ", reason or _("ended"))


# --- pages ----------------------------------------------------------------------


@bp.route("", methods=["GET", "POST"])
@web_session.login_required
def general() -> Any:
    user = viewer()
    form = GeneralForm(obj=None if request.method == "POST" else user)
    if request.method == "GET":
        # a language Roster does not ship (set by SCIM, say) shows as the one the page speaks
        form.locale.data = i18n.supported(user.locale) or str(get_locale())
        for kind, on in profile.notification_settings(user).items():
            getattr(form, f"notify_{kind}").data = on
    if form.validate_on_submit():
        try:
            saved = profile.update_settings(
                user, given_name=form.given_name.data or "", family_name=form.family_name.data or "",
                display_name=form.display_name.data or "", timezone=form.timezone.data or "",
                date_format=form.date_format.data or "", locale=form.locale.data or "",
                news_opt_in=bool(form.news_opt_in.data), email_notifications=form.notifications())
        except RosterError as exc:
            field_error(form, exc, "given_name")
        else:
            with force_locale(i18n.language_of(saved.locale)):  # said in the language just chosen
                return back("profile.general", _("Your settings are saved."))
    status = 400 if form.is_submitted() else 200
    return render_template("profile/general.html", form=form, user=user, section="general",
                           title=_("Profile")), status


@bp.get("/accounts")
@web_session.login_required
def accounts() -> Any:
    user = viewer()
    return render_template("profile/accounts.html", rows=profile.accounts_of(user), form=ConfirmForm(),
                           section="accounts", title=_("Accounts"))


def _own_account(account_id: str) -> Account | None:
    membership = Membership.get_or_none((Membership.user == viewer().id) & (Membership.account == account_id))
    return Account.get_by_id(account_id) if membership is not None else None


@bp.route("/accounts/<account_id>/leave", methods=["GET", "POST"])
@web_session.login_required
def leave(account_id: str) -> Any:
    """GET asks to confirm; POST leaves (R9), or says why not (R1)."""
    account = _own_account(account_id)
    if account is None:
        return back("profile.accounts", _("You are not a member of that account."), "error")
    form = ConfirmForm()
    if form.validate_on_submit():
        with refusal_goes_back("profile.accounts"):
            members.leave(viewer(), account)
        return back("profile.accounts", _("You left %(account)s.", account=account.name))
    return render_template("profile/leave.html", account=account, form=form, section="accounts",
                           title=_("Leave %(account)s", account=account.name))


@bp.get("/sessions")
@web_session.login_required
def sessions_page() -> Any:
    user = viewer()
    live = web_session.current_session()
    assert live is not None
    rows = sessions.list_for(user)
    return render_template("profile/sessions.html", rows=rows, current_id=live.id, form=ConfirmForm(),
                           device=device, methods=methods, end_reason=end_reason,
                           others=sum(1 for s in rows if s.ended_at is None and s.id != live.id),
                           section="sessions", title=_("Sessions"))


@bp.post("/sessions/<session_id>/end")
@web_session.login_required
def end_session(session_id: str) -> Response:
    live = web_session.current_session()
    assert live is not None
    if session_id == live.id:
        response = redirect(url_for("signin.login"))
        web_session.sign_out(response, "ended_by_user")
        flash(_("You are signed out on this device."))
        return response
    if sessions.end(session_id, "ended_by_user", user=viewer()):
        return back("profile.sessions_page", _("The session is ended: that device is signed out."))
    return back("profile.sessions_page", _("That session was not found or has already ended."), "error")


@bp.post("/sessions/end-others")
@web_session.login_required
def end_other_sessions() -> Response:
    live = web_session.current_session()
    assert live is not None
    count = sessions.end_others(viewer(), live.id)
    if count:
        return back("profile.sessions_page", ngettext("Signed out everywhere else: %(num)s other session ended.",
                                                      "Signed out everywhere else: %(num)s other sessions ended.",
                                                      count))
    return back("profile.sessions_page", _("There were no other sessions to end."))


from . import profile_security  # noqa: E402,F401  (its routes live on this blueprint)
