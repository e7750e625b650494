"""Profile → Security: password, authenticator app, security keys and passkeys, recovery codes, delete my user.

The WebAuthn ceremony is the one part that needs JavaScript
(static/profile-webauthn.js): it POSTs for the options, calls
``navigator.credentials.create()`` and POSTs the result back. The
ceremonies are oidc.factors', shared with the sign-in pages.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from models import members, mfa, passkeys, profile
from models.audit import Actor
from models.deployment import Deployment
from models.errors import RosterError

from . import factors, web_session
from .forms import field_error
from .i18n import translated
from .outcomes import back, refusal_goes_back
from .profile import bp, viewer
from .profile_forms import ConfirmForm, DeleteUserForm, NicknameForm, PasswordForm, TotpConfirmForm
from .qr import qr_svg


def _rename_form(key: Any) -> NicknameForm:
    form = NicknameForm(prefix=f"key-{key.id}")
    form.nickname.label.text = _("New name for %(key)s", key=key.nickname)
    return form


def _security_page(*, password_form: PasswordForm | None = None, renaming: NicknameForm | None = None,
                   renaming_id: str | None = None, status: int = 200) -> tuple[str, int]:
    user = viewer()
    keys = passkeys.list_for(user)
    rename_forms = {k.id: renaming if renaming is not None and k.id == renaming_id else _rename_form(k)
                    for k in keys}
    return render_template(
        "profile/security.html", password_form=password_form or PasswordForm(), form=ConfirmForm(),
        apps=profile.authenticator_apps(user), keys=keys, rename_forms=rename_forms,
        add_key_form=NicknameForm(prefix="new"),
        has_second_factor=mfa.has_second_factor(user), recovery_left=mfa.remaining_recovery_codes(user),
        section="security", title=_("Security")), status


@bp.get("/security")
@web_session.login_required
def security() -> Any:
    return _security_page()


@bp.post("/security/password")
@web_session.login_required
def change_password() -> Any:
    form = PasswordForm()
    if form.validate_on_submit():
        try:
            members.change_password(viewer(), current=form.current_password.data or "",
                                    new=form.new_password.data or "", hasher=Deployment.of(current_app).hasher)
        except RosterError as exc:
            field_error(form, exc, "new_password")
        else:
            return back("profile.security", _("Your password is changed."))
    return _security_page(password_form=form, status=400)


# --- authenticator app (TOTP) -----------------------------------------------------


@bp.post("/security/totp/start")
@web_session.login_required
def totp_start() -> Response:
    factors.begin_totp(viewer())
    return redirect(url_for("profile.totp"))


@bp.route("/security/totp", methods=["GET", "POST"])
@web_session.login_required
def totp() -> Any:
    """GET shows the QR code and key of the enrolment started; POST confirms it with a code."""
    enrolment = factors.totp_enrolment()
    if enrolment is None:
        return back("profile.security", _("Start by choosing “Set up an authenticator app”."), "error")
    form = TotpConfirmForm()
    if form.validate_on_submit():
        try:
            codes = factors.confirm_totp(viewer(), enrolment, form.code.data or "")
        except RosterError as exc:
            if exc.field == "code":
                form.code.errors = [*form.code.errors, translated(exc.message)]
            else:
                factors.drop_totp_enrolment()
                return back("profile.security", translated(exc.message), "error")
        else:
            flash(_("Your authenticator app is set up. Save your new recovery codes."))
            return _show_recovery_codes(codes)
    status = 400 if form.is_submitted() else 200
    return render_template("profile/totp.html", form=form, qr=qr_svg(enrolment.uri), secret=enrolment.secret,
                           section="security", title=_("Set up an authenticator app")), status


@bp.post("/security/totp/<credential_id>/remove")
@web_session.login_required
def totp_remove(credential_id: str) -> Response:
    user = viewer()
    with refusal_goes_back("profile.security"):
        mfa.remove_totp(user, credential_id, Actor.for_user(user))
    return back("profile.security", _("The authenticator app is removed.") + _factor_left_note())


def _factor_left_note() -> str:
    if mfa.has_second_factor(viewer()):
        return ""
    note: str = _("You have no second factor left, so your recovery codes no longer work.")
    return " " + note


# --- security keys and passkeys (WebAuthn) ---------------------------------------------


@bp.post("/security/webauthn/options")
@web_session.login_required
def webauthn_options() -> Response:
    return factors.registration_options(viewer())


@bp.post("/security/webauthn")
@web_session.login_required
def webauthn_register() -> tuple[Response, int]:
    """The browser's ``navigator.credentials.create()`` result, as ``{"credential": …, "nickname": …}``."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("credential"), dict):
        factors.drop_challenge()
        return jsonify(error=_("The security key's response could not be read; try again.")), 400
    nickname = body.get("nickname")
    user = viewer()
    try:
        key = factors.finish_registration(
            user, body["credential"], nickname=nickname if isinstance(nickname, str) and nickname.strip() else None)
    except RosterError as exc:
        return jsonify(error=translated(exc.message), field=exc.field), 400
    flash(_("“%(key)s” is added: you can use it to sign in.", key=key.nickname))
    if factors.keep_recovery_codes(user):
        # the first second factor comes with recovery codes (R10), shown once on the next page
        return jsonify(redirect=url_for("profile.new_recovery_codes")), 200
    return jsonify(redirect=url_for("profile.security")), 200


@bp.get("/security/new-recovery-codes")
@web_session.login_required
def new_recovery_codes() -> Any:
    codes = factors.take_recovery_codes()
    if not codes:
        return redirect(url_for("profile.security"))
    return _show_recovery_codes(codes)


@bp.post("/security/webauthn/<key_id>/rename")
@web_session.login_required
def webauthn_rename(key_id: str) -> Any:
    user = viewer()
    key = next((k for k in passkeys.list_for(user) if k.id == key_id), None)
    if key is None:
        return back("profile.security", _("This security key was not found."), "error")
    form = _rename_form(key)
    if form.validate_on_submit():
        try:
            renamed = passkeys.rename(user, key_id, form.nickname.data or "", Actor.for_user(user))
        except RosterError as exc:
            form.nickname.errors = [*form.nickname.errors, translated(exc.message)]
        else:
            return back("profile.security", _("The key is renamed to “%(key)s”.", key=renamed.nickname))
    return _security_page(renaming=form, renaming_id=key_id, status=400)


@bp.post("/security/webauthn/<key_id>/remove")
@web_session.login_required
def webauthn_remove(key_id: str) -> Response:
    user = viewer()
    with refusal_goes_back("profile.security"):
        passkeys.remove(user, key_id, Actor.for_user(user))
    return back("profile.security", _("The security key is removed.") + _factor_left_note())


# --- recovery codes, delete my user ------------------------------------------------------


def _show_recovery_codes(codes: list[str]) -> str:
    """New recovery codes, on the one page that ever shows them."""
    return render_template("profile/recovery_codes.html", codes=codes, section="security",
                           title=_("Your recovery codes"))


@bp.post("/security/recovery-codes")
@web_session.login_required
def recovery_codes() -> Any:
    user = viewer()
    if not mfa.has_second_factor(user):
        return back("profile.security", _("Recovery codes come with a second factor: set up an authenticator app "
                                          "or a key first."), "error")
    codes = mfa.regenerate_recovery_codes(user)
    flash(_("New recovery codes are made; the old ones no longer work."))
    return _show_recovery_codes(codes)


@bp.route("/delete", methods=["GET", "POST"])
@web_session.login_required
def delete_user() -> Any:
    """R9: delete the whole user, after a confirmation; R1 refuses while they are an account's last admin."""
    form = DeleteUserForm()
    if form.validate_on_submit():
        try:
            profile.delete_own_user(viewer(), password=form.password.data or "", confirm=bool(form.confirm.data),
                                    hasher=Deployment.of(current_app).hasher)
        except RosterError as exc:
            field_error(form, exc)
        else:
            response = redirect(url_for("signin.login"))
            web_session.sign_out(response, "user_deleted")
            flash(_("Your user is deleted. Goodbye."))
            return response
    return render_template("profile/delete.html", form=form, accounts=profile.accounts_of(viewer()),
                           section="security", title=_("Delete my user")), 400 if form.is_submitted() else 200
