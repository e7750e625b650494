"""The pages a person sees. So far: accepting an invitation (R2, R3), which signs a new person in."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response as WerkzeugResponse

from models import clock, invitations, signin
from models.deployment import Deployment
from models.errors import InvalidInputError, PolicyViolationError
from models.i18n import N_
from models.tenancy import Account, Membership, User

from . import links, web_session
from .forms import JoinForm, RegistrationForm, field_error

bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/pages")

# R3: a link that cannot be used says which way it failed
REFUSED = {
    "invalid": (N_("This invitation link is not valid"), 404),
    "expired": (N_("This invitation has expired"), 410),
    "revoked": (N_("This invitation was revoked"), 410),
    "accepted": (N_("This invitation has been used already"), 410),
    "resent": (N_("This invitation link was replaced by a newer one"), 410),
}


CSP = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'"


def page_headers(response: Response) -> Response:
    """Pages refuse framing (clickjacking), post forms only to Roster, and are never cached with a token."""
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = CSP + "; form-action 'self'"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def sign_in_page_headers(response: Response) -> Response:
    """The same for the sign-in pages, without form-action: browsers apply it to every redirect after a
    form is posted, and a sign-in form's redirects end at the application's redirect URI, which is not Roster."""
    page_headers(response)
    response.headers["Content-Security-Policy"] = CSP
    return response


bp.after_request(page_headers)


def _refusal(view: invitations.InvitationView) -> tuple[str, int]:
    """The page of a link that cannot be used: which way it failed, and the way on (R3)."""
    title, code = REFUSED[view.status]
    message = invitations.refusal(view.status, view.account.name if view.account else None, _)
    hint = view.invitation.email if view.invitation is not None and view.status == "accepted" else None
    return render_template("message.html", title=_(title), message=message, kind="error",
                           link=(url_for("signin.login", login_hint=hint), _("Sign in"))), code


def _landing(membership: Membership) -> str:
    """Where a person who just joined goes: the account's console for its admins, else their profile."""
    if (membership.role == "admin" and membership.status == "active"
            and "console.users" in current_app.view_functions):
        return url_for("console.users", account_id=membership.account_id)
    return url_for("signin.home")


def _onward(user: User, membership: Membership, account: Account, amr: list[str], auth_time: dt.datetime) -> str:
    """The landing page, through what the sign-in still needs there first (the account's MFA, R10)."""
    from .signin import step_url  # the sign-in pages import this module for its headers

    target = _landing(membership)
    step = signin.next_step(user, account if membership.status == "active" else None, amr=amr,
                            auth_time=auth_time)
    if step.name is not None:
        target = step_url(step, target)
    return target


@bp.route(links.INVITATION, methods=["GET", "POST"])
def accept_invitation(token: str) -> tuple[str, int] | str | WerkzeugResponse:
    deployment = Deployment.of(current_app)
    view = invitations.lookup(token, secrets=deployment.secrets)
    if view.status != "pending" or view.invitation is None or view.account is None:
        return _refusal(view)
    form = RegistrationForm() if view.needs_registration else JoinForm()
    if isinstance(form, RegistrationForm) and not form.is_submitted():
        form.given_name.data = form.given_name.data or view.invitation.given_name
        form.family_name.data = form.family_name.data or view.invitation.family_name
    if form.validate_on_submit():
        try:
            if isinstance(form, RegistrationForm):
                membership = invitations.accept(token, given_name=form.given_name.data or "",
                                                family_name=form.family_name.data or "",
                                                password=form.password.data,
                                                accept_terms=bool(form.accept_terms.data), hasher=deployment.hasher,
                                                secrets=deployment.secrets)
            else:
                membership = invitations.accept(token, hasher=deployment.hasher, secrets=deployment.secrets)
        except InvalidInputError as exc:
            field_error(form, exc)
        except PolicyViolationError:
            return _refusal(invitations.lookup(token, secrets=deployment.secrets))
        else:
            user = User.get_by_id(membership.user_id)
            if isinstance(form, RegistrationForm):
                # registration signs in (issue 13 point 6): the password just chosen is the sign-in's first factor
                amr = ["pwd"]
                response = redirect(_onward(user, membership, view.account, amr, clock.now()))
                web_session.begin(user, account_id=None, amr=amr, response=response)
                flash(_("Welcome to %(account)s: you are registered, signed in and a member now.",
                        account=view.account.name))
                return response
            live = web_session.current_session()
            if live is not None and live.user_id == user.id:
                flash(_("Welcome to %(account)s: you are a member now.", account=view.account.name))
                return redirect(_onward(user, membership, view.account, list(live.amr), live.started_at))
            return render_template("message.html", title=_("Welcome to %(account)s", account=view.account.name),
                                   message=_("You are now a member of %(account)s. Sign in to use it.",
                                             account=view.account.name),
                                   kind="success", link=(url_for("signin.login", login_hint=view.invitation.email,
                                                                 next=_landing(membership)), _("Sign in")))
    status = 400 if form.is_submitted() else 200
    live = web_session.current_session()
    invited = Membership.get_or_none(Membership.id == view.invitation.membership_id)
    return render_template("invitation.html", form=form, account=view.account, invitation=view.invitation,
                           registering=view.needs_registration,
                           signed_in_as_invited=bool(live and invited and live.user_id == invited.user_id)), status
