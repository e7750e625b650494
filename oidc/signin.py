"""Sign-in pages: password, second factor, enrolment, first login (R8), account choice, reset, sign-out.

Each page does one step and returns to ``next`` (usually the authorization
request, which then asks models.signin what is still missing).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from blinker import Namespace
from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from models import clock, members, mfa, passkeys, password_reset, sessions, signin, sso, throttle
from models.connections import Connection
from models.deployment import Deployment
from models.errors import RosterError
from models.tenancy import User

from . import factors, links, pending_request, web_session
from .forms import (
    AccountChoiceForm,
    CodeForm,
    EmailForm,
    FirstLoginForm,
    ForgotPasswordForm,
    LoginForm,
    ResetPasswordForm,
    TermsForm,
    field_error,
)
from .i18n import translated
from .pages import sign_in_page_headers
from .qr import qr_svg

bp = Blueprint("signin", __name__, template_folder="templates")
bp.after_request(sign_in_page_headers)
# each sign-in attempt's result, sent by the app: success, wrong_password, locked, mfa_failed, mfa_locked
# (app.py connects the metrics when they are on; with nobody connected, sending costs nothing)
attempted = Namespace().signal("sign-in attempted")


def report(result: str) -> None:
    attempted.send(current_app._get_current_object(), result=result)  # type: ignore[attr-defined]


# the page of each step models.signin.next_step names
STEP_PAGES = {"login": "signin.login", "first_login": "signin.first_login", "mfa": "signin.second_factor",
              "mfa_enrol": "signin.enrol"}


def next_target() -> str:
    return web_session.safe_next(request.values.get("next"), url_for("signin.home"))


def with_way_out(page: str, **context: Any) -> str:
    """A second-factor page of a sign-in for an application, with a way out for a person who cannot give one:
    the application's request then shows why it is refused (oidc.authorize) and lets them return."""
    from .authorize import is_authorization_request

    target = context.get("next") or ""
    return render_template("way_out.html", page=page, way_out=is_authorization_request(target), **context)


def _continue(user: User, amr: list[str], target: str) -> Response:
    """The password (and maybe a second factor) is right: start the session, then R8 before anything."""
    response = redirect(target)
    web_session.begin(user, account_id=None, amr=amr, response=response)
    web_session.clear_pending()
    report("success")
    pending_request.signed_in()
    step = signin.next_step(user, None, amr=amr, auth_time=clock.now())
    if step.name == "first_login":
        response.headers["Location"] = url_for(STEP_PAGES[step.name], next=target)
    return response


@bp.get("/")
def home() -> Any:
    if web_session.current_session() is None:
        return redirect(url_for("signin.login"))
    if "profile.general" in current_app.view_functions:
        return redirect(url_for("profile.general"))
    return render_template("message.html", title=_("You are signed in"), message=_("You are signed in to Roster."),
                           kind="success")


def step_url(step: signin.Step, target: str) -> str:
    """The page of a sign-in step, coming back to ``target``; F4's step is the connection's IdP."""
    if step.name == "sso":
        return url_for("federation.start", connection_id=step.connection_id, next=target)
    return url_for(STEP_PAGES[str(step.name)], next=target)


def _to_idp(connection: Connection, target: str, email: str = "") -> Any:
    from .federation import send_to_idp  # it imports this module for the sign-in's report and steps

    return send_to_idp(connection, target, email[:320])


def _request_parameter(name: str) -> str:
    """A parameter of this page, else of the authorization request it signs in for (login_hint, connection)."""
    return (request.values.get(name) or parse_qs(urlsplit(next_target()).query).get(name, [""])[0])[:320]


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """Identifier first (F1): the email, then the company's IdP or the password.

    An explicit ``connection=`` or an application's ``login_hint`` (OpenID
    Connect Core §3.1.2.1, inside the authorization request) can skip the
    first step. ``password=1`` (the way out of a failed company sign-in)
    shows the password step; a company that requires SSO (F4) is still
    sent to its IdP.
    """
    target = next_target()
    explicit = _request_parameter("connection")
    chosen = sso.enabled_connection(explicit) if explicit else None
    if chosen is not None:
        return _to_idp(chosen, target, _request_parameter("login_hint"))
    if request.method == "POST" and "password" not in request.form:
        email_form = EmailForm()
        if email_form.validate_on_submit():
            email = (email_form.email.data or "").strip()
            routed = sso.route(email)
            if routed is not None:
                return _to_idp(routed, target, email)
            form = LoginForm(formdata=None, email=email)
            return render_template("login.html", form=form, next=target, step="password"), 200
        return render_template("login.html", form=email_form, next=target, step="email"), 400
    form = LoginForm()
    if not form.is_submitted():
        hint = _request_parameter("login_hint")
        form.email.data = hint or None
        routed = sso.route(hint) if hint and not request.args.get("password") else None
        if routed is not None:
            return _to_idp(routed, target, hint)
        shown = "password" if request.args.get("password") else "email"
        return render_template("login.html", form=form if shown == "password" else EmailForm(formdata=None,
                                                                                              email=hint or None),
                               next=target, step=shown), 200
    if form.validate_on_submit():
        routed = sso.route(form.email.data or "")
        if routed is not None and routed.sso_required:  # F4: no password for them, whatever they typed
            return _to_idp(routed, target, form.email.data or "")
        try:
            user = signin.check_password(form.email.data or "", form.password.data or "",
                                         ip=web_session.client_ip(), hasher=Deployment.of(current_app).hasher)
        except throttle.LockedOutError as exc:
            report("locked")
            form.form_errors.append(translated(exc.message))
        except RosterError as exc:
            report("wrong_password")
            field_error(form, exc, "password")
        else:
            step = signin.next_step(user, None, amr=["pwd"], auth_time=clock.now(), signing_in=True)
            if step.name == "mfa":
                web_session.set_pending(user, ["pwd"])
                return redirect(url_for(STEP_PAGES[step.name], next=next_target()))
            return _continue(user, ["pwd"], next_target())
    return render_template("login.html", form=form, next=next_target(), step="password"), 400


def second_factor_subject() -> tuple[User | None, list[str], bool]:
    """Whose second factor this is: a pending sign-in, or a step-up of the live session."""
    state = web_session.pending()
    if state is not None:
        return User.get_or_none(User.id == state["user_id"]), list(state["amr"]), True
    live = web_session.current_session()
    if live is not None:
        return User.get_or_none(User.id == live.user_id), list(live.amr), False
    return None, [], False


@bp.route("/login/mfa", methods=["GET", "POST"])
def second_factor() -> Any:
    user, amr, pending = second_factor_subject()
    if user is None:
        return redirect(url_for("signin.login", next=next_target()))
    if not mfa.has_second_factor(user):
        return redirect(url_for("signin.enrol", next=next_target()))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            method = signin.check_second_factor(user, form.code.data or "",
                                                secrets=Deployment.of(current_app).secrets)
        except throttle.LockedOutError as exc:
            report("mfa_locked")
            form.form_errors.append(translated(exc.message))
        except RosterError as exc:
            report("mfa_failed")
            field_error(form, exc, "code")
        else:
            return finish_second_factor(user, amr, method, pending)
    status = 400 if form.is_submitted() else 200
    if pending:  # the password was just checked: the person's own factor, asked whatever the application
        return render_template("mfa.html", form=form, next=next_target(), user=user,
                               has_totp=signin.has_totp(user), has_webauthn=bool(passkeys.list_for(user))), status
    return with_way_out("mfa.html", form=form, next=next_target(), user=user, has_totp=signin.has_totp(user),
                        has_webauthn=bool(passkeys.list_for(user))), status


@bp.post("/login/mfa/decline")
@web_session.login_required
def decline_second_factor() -> Response:
    """The person cannot give the second factor an application's sign-in needs: back to the request, which
    then says why it stops there and lets them return to the application (oidc.authorize)."""
    from . import authorize

    target = next_target()
    if authorize.is_authorization_request(target):
        authorize.decline_second_factor(target)
    return redirect(target)


@bp.post("/login/switch")
def switch_user() -> Response:
    """Sign out and sign in as someone else, then on to the same request (a refusal page offers it)."""
    from . import authorize

    target = next_target()
    response = redirect(url_for("signin.login", next=target))
    web_session.sign_out(response)
    if authorize.is_authorization_request(target):  # the sign-in that follows is a fresh one for this request
        pending_request.ask_sign_in(authorize.digest_of(target))
    return response


def finish_second_factor(user: User, amr: list[str], method: str, pending: bool) -> Response:
    new_amr = signin.amr_with(amr, method)
    if pending:
        return _continue(user, new_amr, next_target())
    live = web_session.current_session()
    if live is not None:
        sessions.add_methods(live, new_amr)
    return redirect(next_target())


@bp.route("/login/mfa/enrol", methods=["GET", "POST"])
@web_session.login_required
def enrol() -> Any:
    """A person without a second factor sets one up in the middle of a sign-in that needs it (R10)."""
    user = web_session.current_user()
    assert user is not None
    form = CodeForm()
    enrolment = factors.totp_enrolment()
    if form.validate_on_submit() and enrolment is not None:
        try:
            codes = factors.confirm_totp(user, enrolment, form.code.data or "")
        except RosterError as exc:
            field_error(form, exc, "code")
        else:
            live = web_session.current_session()
            assert live is not None
            sessions.add_methods(live, signin.amr_with(live.amr, "otp"))
            return render_template("recovery_codes.html", codes=codes, next=next_target())
    if not form.is_submitted() or enrolment is None:
        enrolment = factors.begin_totp(user)
    status = 400 if form.is_submitted() else 200
    return with_way_out("enrol.html", form=form, next=next_target(), qr=qr_svg(enrolment.uri),
                        webauthn_enrol=True, secret=enrolment.secret), status


@bp.route("/login/first", methods=["GET", "POST"])
@web_session.login_required
def first_login() -> Any:
    """R8: the terms (and a new password after a temporary one) before the person may go anywhere."""
    user = web_session.current_user()
    assert user is not None
    if not user.must_change_password and user.terms_accepted_at is not None:
        return redirect(next_target())
    temporary = bool(user.must_change_password)
    form: FirstLoginForm | TermsForm = FirstLoginForm() if temporary else TermsForm()
    if form.validate_on_submit():
        try:
            members.complete_first_login(user, accept_terms=bool(form.accept_terms.data), new_password=(
                form.new_password.data or "") if isinstance(form, FirstLoginForm) else None,
                hasher=Deployment.of(current_app).hasher)
        except RosterError as exc:
            field_error(form, exc, "new_password" if temporary else "accept_terms")
        else:
            return redirect(next_target())
    status = 400 if form.is_submitted() else 200
    return render_template("first_login.html", form=form, next=next_target(), temporary=temporary), status


@bp.route("/login/account", methods=["GET", "POST"])
@web_session.login_required
def choose_account() -> Any:
    user = web_session.current_user()
    assert user is not None
    from .authorize import client_account_for

    accounts = signin.admitted_accounts(user, client_account_for(next_target()))
    form = AccountChoiceForm()
    form.account.choices = [(a.id, a.name) for a in accounts]
    if form.validate_on_submit():
        pending_request.choose(form.account.data)
        return redirect(next_target())
    status = 400 if form.is_submitted() else 200
    return render_template("choose_account.html", form=form, next=next_target(), accounts=accounts), status


@bp.route("/password/forgot", methods=["GET", "POST"])
def forgot_password() -> Any:
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        password_reset.request_reset(form.email.data or "", Deployment.of(current_app))
        return render_template("message.html", title=_("Check your mail"), kind="success",
                               message=_("If an active user has this address, a link to reset the password is on "
                                         "its way. It works once, for one hour."))
    return render_template("password_forgot.html", form=form), 400 if form.is_submitted() else 200


@bp.route(links.PASSWORD_RESET, methods=["GET", "POST"])
def reset_password(token: str) -> Any:
    if password_reset.find(token) is None:
        return render_template("message.html", title=_("This reset link is not valid"), kind="error",
                               message=_("The link was used already, has expired or is wrong. Ask for a new one.")), 410
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            password_reset.reset(token, form.password.data or "", Deployment.of(current_app).hasher)
        except RosterError as exc:
            field_error(form, exc, "password")
        else:
            return render_template("message.html", title=_("Your password is changed"), kind="success",
                                   message=_("Sign in with your new password. Every other session was signed out."))
    return render_template("password_reset.html", form=form), 400 if form.is_submitted() else 200


@bp.route("/logout", methods=["GET", "POST"])
def logout() -> Any:
    """Signing out changes state, so it takes a POST; a GET asks first."""
    form = FlaskForm()
    if request.method == "POST" and form.validate_on_submit():
        response = redirect(url_for("signin.login"))
        web_session.sign_out(response)
        return response
    return render_template("logout.html", form=form, client=None,
                           signed_in=web_session.current_session() is not None)


@bp.get("/login/recovery-codes")
@web_session.login_required
def recovery_codes() -> Any:
    """Codes made when a security key was the first second factor: shown once, then gone from the session."""
    codes = factors.take_recovery_codes()
    if not codes:
        return redirect(next_target())
    return render_template("recovery_codes.html", codes=codes, next=next_target())
