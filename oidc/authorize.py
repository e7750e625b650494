"""The authorization endpoint: who is signing in, for which account, with what — then a code.

authlib validates the request (client, exact redirect URI, PKCE, scope);
this view decides what the sign-in still needs (models.signin.next_step:
R8, max_age, R10 / acr_values) and sends the person to the page for it,
coming back here afterwards with the same request. A person who may not go
on (models.signin.refusal_for: deactivated, not a member, an invitation not
accepted; or a second factor they cannot give) sees a page that says why,
whose "Return to" button takes access_denied to the client.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import AccessDeniedError, InvalidRequestError
from authlib.oidc.core.errors import (
    AccountSelectionRequiredError,
    ConsentRequiredError,
    InteractionRequiredError,
    LoginRequiredError,
)
from flask import Blueprint, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from models import sessions, signin
from models.security import AuthorizationCode
from models.tenancy import Account

from . import input_check, pending_request, provider, web_session
from .pages import sign_in_page_headers
from .pending_request import PendingRequest
from .provider import GrantUser
from .signin import STEP_PAGES

bp = Blueprint("oauth", __name__)
bp.after_request(sign_in_page_headers)

NONCE_LENGTH = AuthorizationCode.nonce.max_length  # the code keeps it for the ID token
# in Flask's session: the digest of the authorization request whose second factor the person said they cannot give
DECLINED = "second_factor_declined"


def _digest(items: Iterable[tuple[str, str]]) -> str:
    return hashlib.sha256(urlencode(sorted(items)).encode()).hexdigest()[:32]


def request_digest() -> str:
    return _digest(request.args.items(multi=True))


def digest_of(target: str) -> str:
    """What request_digest says at ``target``, an authorization request's URL as the pages carry it in ``next``."""
    return _digest(parse_qsl(urlsplit(target).query, keep_blank_values=True))


def is_authorization_request(target: str) -> bool:
    return urlsplit(target).path == url_for("oauth.authorize")


def decline_second_factor(target: str) -> None:
    """The person cannot give the second factor the request ``target`` asks: there, show why and let them go back."""
    session[DECLINED] = digest_of(target)


def _declined(digest: str) -> bool:
    """Whether the person declined the second factor of the request ``digest``; asked once, then forgotten."""
    if session.get(DECLINED) != digest:
        return False
    session.pop(DECLINED)
    return True


def _this_request() -> str:
    return url_for("oauth.authorize") + "?" + urlencode(list(request.args.items(multi=True)))


def _send_to(endpoint: str) -> Response:
    return redirect(url_for(endpoint, next=_this_request()))


def _error_page(error: OAuth2Error) -> tuple[str, int]:
    """An unknown client or redirect URI must not be redirected to: tell the person instead."""
    reason = (error.description or error.error).rstrip(".")
    return render_template("message.html", title=_("This sign-in link is not valid"),
                           message=_("%(reason)s (%(error)s). Ask the application's owner to check it.",
                                     reason=reason, error=error.error),
                           kind="error"), 400


def refused_request(refusal: input_check.UnreadableInputError) -> Any:
    """A request the input check refused: to the client when its own id and redirect URI are sound and
    registered (RFC 6749 §4.1.2.1), else a page. Only the readable parameters are looked at."""
    params = input_check.readable_query()
    trusted = refusal.field not in ("client_id", "redirect_uri")
    client = provider.query_client(params.get("client_id", "")) if trusted else None
    redirect_uri = None
    if client is not None:
        redirect_uri = params.get("redirect_uri")
        if redirect_uri is None:
            redirect_uri = client.get_default_redirect_uri()
        elif not client.check_redirect_uri(redirect_uri):
            redirect_uri = None
    error = InvalidRequestError(description=refusal.description, redirect_uri=redirect_uri,
                                state=params.get("state") if refusal.field != "state" else None)
    if redirect_uri:
        return current_app.extensions["roster_oauth"].handle_error_response(None, error)
    return _error_page(error)


def _max_age(value: str | None) -> int | None:
    """OpenID Connect's max_age, in seconds (Core §3.1.2.1); ValueError unless digits.

    No session outlives sessions.LIFETIME, so a larger max_age asks nothing more.
    """
    if value is None or value == "":
        return None
    if not value.isascii() or not value.isdigit():
        raise ValueError(value)
    lifetime = int(sessions.LIFETIME.total_seconds())
    return lifetime if len(value) > len(str(lifetime)) else min(int(value), lifetime)


@bp.route("/oauth/authorize", methods=["GET", "POST"])
def authorize() -> Any:
    """The authorization endpoint (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2.1).

    One check after another (the request, sign-in, the account, the account's
    sign-in steps, consent), each of which may end the request with an error
    for the client or a page for the person; kept in one function (about 65
    lines) so that their order reads top to bottom.
    """
    server = current_app.extensions["roster_oauth"]
    user = web_session.current_user()
    try:
        grant = server.get_consent_grant(end_user=user)
    except OAuth2Error as error:
        if error.redirect_uri:
            return server.handle_error_response(None, error)
        return _error_page(error)
    redirect_uri = grant.redirect_uri
    data = grant.request.payload.data
    prompts = set((data.get("prompt") or "").split())
    digest = request_digest()

    def refuse(error_class: type[OAuth2Error], description: str) -> Any:
        error = error_class(description=description, redirect_uri=redirect_uri)
        error.state = grant.request.payload.state
        return server.handle_error_response(None, error)

    try:
        max_age = _max_age(data.get("max_age"))
    except ValueError:
        return refuse(InvalidRequestError, "max_age must be a whole number of seconds.")
    if len(data.get("nonce") or "") > NONCE_LENGTH:
        return refuse(InvalidRequestError, f"nonce is longer than {NONCE_LENGTH} characters.")

    live = web_session.current_session()
    if live is None or user is None or ("login" in prompts and not pending_request.is_signed_in_for(digest)):
        if "none" in prompts:
            return refuse(LoginRequiredError, "The person is not signed in.")
        pending_request.ask_sign_in(digest)
        return _send_to("signin.login")
    pending_request.forget_sign_in()

    client = grant.client.row
    accounts = signin.admitted_accounts(user, client.account_id)
    if not accounts:
        refusal = signin.refusal_for(user, client.account_id)
        if "none" in prompts:
            return refuse(AccessDeniedError, refusal.description)
        return _refusal_page(server, grant, refusal)
    account = _choose_account(accounts, live.account_id, prompts, digest)
    if account is None:
        if "none" in prompts:
            return refuse(AccountSelectionRequiredError, "The person must choose an account.")
        pending_request.ask_choice(digest)
        return _send_to("signin.choose_account")

    step = signin.next_step(user, account, amr=live.amr, auth_time=live.started_at, max_age=max_age,
                            acr_values=(data.get("acr_values") or "").split(), connection_id=live.connection_id)
    if step.name is not None:
        if "none" in prompts:
            missing = LoginRequiredError if step.name in ("login", "sso") else InteractionRequiredError
            return refuse(missing, step.reason)
        if step.name == "sso":  # F4: this account's people sign in through its IdP, whatever this session used
            return redirect(url_for("federation.start", connection_id=step.connection_id, next=_this_request(),
                                    login_hint=user.email))
        if step.name == "login":
            pending_request.ask_sign_in(digest)
        elif step.name in ("mfa", "mfa_enrol") and _declined(digest):
            return _refusal_page(server, grant, signin.second_factor_refusal(user, account))
        return _send_to(STEP_PAGES[step.name])

    if not client.first_party:
        # a third-party application sees the person's details only after they agree, each time
        if "none" in prompts:
            return refuse(ConsentRequiredError, "The person has not agreed to share their details.")
        unanswered = _consent(server, grant, account)
        if unanswered is not None:
            return unanswered

    if live.account_id != account.id:
        sessions.switch_account(live, account.id)
    signed_in = GrantUser(user, account.id, session_id=live.id, auth_time=live.started_at, amr=tuple(live.amr),
                          acr=signin.acr_for(live.amr))  # authlib hands it to the grant's hooks as request.user
    return server.create_authorization_response(grant_user=signed_in, grant=grant)


def _refusal_page(server: Any, grant: Any, refusal: signin.Refusal) -> tuple[str, int]:
    """Why the person may not go on, before the client hears of it: the page's "Return to" link carries
    access_denied (with a short description and the request's state) to the client's redirect URI."""
    from .i18n import local_time

    error = AccessDeniedError(description=refusal.description, redirect_uri=grant.redirect_uri,
                              state=grant.request.payload.state)
    back = server.handle_error_response(None, error).headers["Location"]
    client = grant.client.row
    user = web_session.current_user()
    return render_template("refused.html", refusal=refusal, client_name=client.name or client.client_id,
                           back=back, next=_this_request(), email=user.email if user else "",
                           until=local_time(refusal.until, user) if refusal.until and user else ""), 403


def _consent(server: Any, grant: Any, account: Account) -> Any | None:
    """The consent page until the person answers; a refusal goes back to the client as access_denied.

    None when they allowed it: the authorization goes on.
    """
    form = FlaskForm()
    if request.method != "POST" or not form.validate_on_submit():
        return render_template("consent.html", client=grant.client.row, account=account, form=form,
                               scopes=(grant.request.payload.scope or "").split()), 200
    if request.form.get("decision") != "allow":
        return server.create_authorization_response(grant_user=None, grant=grant)
    return None


def _choose_account(accounts: list[Account], current: str | None, prompts: set[str], digest: str) -> Account | None:
    """One admitted account: the only one, or the one chosen for this request; else None (ask)."""
    chosen = PendingRequest.load().account_for(digest)
    if chosen is not None:
        match = [a for a in accounts if a.id == chosen]
        if match:
            return match[0]
    if "select_account" in prompts:
        return None
    if len(accounts) == 1:
        return accounts[0]
    if "none" in prompts and current is not None:
        match = [a for a in accounts if a.id == current]
        return match[0] if match else None
    return None


def client_account_for(target: str) -> str | None:
    """The account the client of an authorization request in ``target`` is bound to, if any."""
    from urllib.parse import parse_qs, urlsplit

    from models import clients

    client_id = parse_qs(urlsplit(target).query).get("client_id", [""])[0]
    client = clients.get_client(client_id) if client_id else None
    return client.account_id if client is not None else None
