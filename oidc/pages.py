"""The pages a person sees. So far: accepting an invitation (R2, R3)."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, render_template, url_for

from models import invitations
from models.deployment import Deployment
from models.errors import InvalidInputError, PolicyViolationError

from . import links
from .forms import JoinForm, RegistrationForm, field_error

bp = Blueprint("pages", __name__, template_folder="templates", static_folder="static",
               static_url_path="/static/pages")

# R3: a link that cannot be used says which way it failed
REFUSED = {
    "invalid": ("This invitation link is not valid", 404),
    "expired": ("This invitation has expired", 410),
    "revoked": ("This invitation was revoked", 410),
    "accepted": ("This invitation has been used already", 410),
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


def _refusal(status: str) -> tuple[str, int]:
    title, code = REFUSED[status]
    message = invitations.REFUSALS[status]
    return render_template("message.html", title=title, message=message, kind="error"), code


@bp.route(links.INVITATION, methods=["GET", "POST"])
def accept_invitation(token: str) -> tuple[str, int] | str:
    view = invitations.lookup(token)
    if view.status != "pending" or view.invitation is None or view.account is None:
        return _refusal(view.status)
    form = RegistrationForm() if view.needs_registration else JoinForm()
    if isinstance(form, RegistrationForm) and not form.is_submitted():
        form.given_name.data = form.given_name.data or view.invitation.given_name
        form.family_name.data = form.family_name.data or view.invitation.family_name
    if form.validate_on_submit():
        try:
            if isinstance(form, RegistrationForm):
                invitations.accept(token, given_name=form.given_name.data or "",
                                   family_name=form.family_name.data or "", password=form.password.data,
                                   accept_terms=bool(form.accept_terms.data),
                                   hasher=Deployment.of(current_app).hasher)
            else:
                invitations.accept(token, hasher=Deployment.of(current_app).hasher)
        except InvalidInputError as exc:
            field_error(form, exc)
        except PolicyViolationError:
            return _refusal(invitations.lookup(token).status)
        else:
            return render_template("message.html", title=f"Welcome to {view.account.name}",
                                   message=f"You are now a member of {view.account.name}. You can sign in.",
                                   kind="success", link=(url_for("signin.login", login_hint=view.invitation.email),
                                                         "Sign in"))
    status = 400 if form.is_submitted() else 200
    return render_template("invitation.html", form=form, account=view.account, invitation=view.invitation,
                           registering=view.needs_registration), status
