"""Signing in through an account's own IdP (DESIGN.md §7): the round trip, its pages and the SP metadata.

``/sso/<id>/start`` sends the person to the IdP (OIDC: state, nonce, PKCE;
SAML: an AuthnRequest with a RelayState), remembering in the database (any
instance may get the answer) where the sign-in goes on: usually the
relying party's own authorization request, untouched. The answer comes to
``/sso/oidc/callback`` or, for SAML, ``/sso/saml/<id>/acs`` then
``/sso/<id>/complete``. Protocol checks (F7) are upstream_oidc's and
upstream_saml's; who the person is and whether they may come in (F2–F6),
models.sso's. Every failure shows the person what failed and leaves the
admin an audit event with the detail.

The sign-in in flight is bound to the browser that started it by a cookie
(``roster_sso``): an answer carried to another browser completes nothing,
so nobody can be signed in as someone else by a link (login CSRF).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from models import audit, clock, sso
from models import signin as rules
from models.audit import Actor
from models.connections import Connection, SsoRequest, Urls, client_secret, forget_expired, urls
from models.database import transaction
from models.deployment import Deployment
from models.i18n import Text
from models.secrets import same, token_hash
from models.tenancy import Membership

from . import pending_request, upstream_oidc, upstream_saml, web_session
from . import signin as pages
from .i18n import translated
from .pages import sign_in_page_headers
from .upstream_oidc import UpstreamError

bp = Blueprint("federation", __name__, template_folder="templates")
bp.after_request(sign_in_page_headers)

BROWSER_COOKIE = "roster_sso"
LIFETIME = dt.timedelta(minutes=10)
TEST_RESULT = "sso_test_result"  # in Flask's session: what the admin's last test sign-in received


def _urls(connection: Connection) -> Urls:
    return urls(connection, Deployment.of(current_app).settings)


def _connection(connection_id: str) -> Connection:
    found = Connection.get_or_none(Connection.id == connection_id[:64])
    if found is None:
        abort(404)
    return found


def _is_admin(connection: Connection) -> bool:
    live = web_session.current_session()
    return live is not None and Membership.select().where(
        (Membership.user == live.user_id) & (Membership.account == connection.account_id)
        & (Membership.role == "admin") & (Membership.status == "active")).exists()


def failure_page(connection: Connection | None, message: str, status: int, *, password_way: bool = True,
                 next_target: str = "") -> tuple[str, int]:
    """What the person sees when the round trip fails: what failed, and a way on."""
    title = _("Signing in through %(name)s failed", name=connection.name) if connection else _(
        "Single sign-on failed")
    way = password_way and not (connection is not None and connection.sso_required)
    link = (url_for("signin.login", password="1", next=next_target or None), _("Sign in another way")) if way \
        else (url_for("signin.login", next=next_target or None), _("Start again"))
    return render_template("message.html", title=title, message=translated(message), kind="error",
                           link=link), status


def _browser_cookie(response: Response, value: str) -> None:
    # the SAML answer is a cross-site POST: over HTTPS the cookie must be SameSite=None to come with it;
    # path / so every page that starts a sign-in (the sign-in page, /sso/…/start) sees it: tabs share it
    secure = web_session.secure_cookies()
    response.set_cookie(BROWSER_COOKIE, value, httponly=True, secure=secure, samesite="None" if secure else "Lax",
                        path="/", max_age=int(LIFETIME.total_seconds()))


@bp.get("/sso/<connection_id>/start")
def start(connection_id: str) -> Any:
    """Send the person to the connection's IdP; ``next`` is where the sign-in goes on afterwards."""
    connection = _connection(connection_id)
    test = request.args.get("test") == "1"
    target = web_session.safe_next(request.args.get("next"), url_for("signin.home"))
    if test and not _is_admin(connection):
        return failure_page(connection, _("Only an admin of the account can test its connection."), 403)
    return send_to_idp(connection, target, (request.args.get("login_hint") or "")[:320], test=test)


def send_to_idp(connection: Connection, target: str, hint: str = "", *, test: bool = False) -> Any:
    """The redirect to the connection's IdP, the sign-in in flight remembered; the sign-in page calls it
    directly (F1) rather than through :func:`start`, a request less per sign-in."""
    if not test and not connection.enabled:
        return failure_page(connection, sso.REFUSALS["connection_disabled"], 403, next_target=target)
    state = secrets.token_urlsafe(32)
    browser = request.cookies.get(BROWSER_COOKIE) or ""
    if len(browser) != 43:
        browser = secrets.token_urlsafe(32)
    nonce, verifier = secrets.token_urlsafe(24), secrets.token_urlsafe(48)
    deployment = Deployment.of(current_app)
    link = _urls(connection)
    try:
        if connection.kind == "oidc":
            location = upstream_oidc.authorization_url(
                connection, client_secret=client_secret(connection, deployment.secrets),
                redirect_uri=link.redirect_uri, state=state, nonce=nonce, code_verifier=verifier, login_hint=hint)
            request_id = ""
        else:
            request_id, location = upstream_saml.authn_request(connection, link, state)
    except UpstreamError as exc:
        sso.refuse(connection, exc.reason, ip=web_session.client_ip(), detail=exc.message)
        return failure_page(connection, exc.message, 502, next_target=target)
    now = clock.now()
    with transaction():
        forget_expired(now)  # what was never answered, and assertion IDs past their time: one indexed DELETE each
        SsoRequest.create(id=token_hash(state), connection=connection.id, browser_hash=token_hash(browser),
                          nonce=nonce, code_verifier=deployment.secrets.encrypt(verifier) if request_id == "" else "",
                          saml_request_id=request_id, next=target, test=test, created_at=now,
                          expires_at=now + LIFETIME)
    response = redirect(location)
    _browser_cookie(response, browser)
    return response


def _in_flight(state: str | None) -> SsoRequest | None:
    """The sign-in in flight that an answer's ``state`` (OIDC) or RelayState (SAML) names, if any."""
    found: SsoRequest | None = (SsoRequest.get_or_none(SsoRequest.id == token_hash(state))
                                if state and len(state) < 200 else None)
    return found


def _gone(connection: Connection | None) -> tuple[str, int]:
    return failure_page(connection, _("This sign-in has expired or was finished already. Start again."), 400)


def _pending(connection: Connection, found: SsoRequest | None) -> SsoRequest | tuple[str, int]:
    if found is None or found.connection_id != connection.id or found.expires_at < clock.now():
        return _gone(connection)
    return found


def _take(connection: Connection, found: SsoRequest | None) -> SsoRequest | tuple[str, int]:
    """The sign-in in flight ``found``, for this browser, used up now (an answer counts once)."""
    row = _pending(connection, found)
    if not isinstance(row, SsoRequest):
        return row
    browser = request.cookies.get(BROWSER_COOKIE) or ""
    if not browser or not same(token_hash(browser), row.browser_hash):
        sso.refuse(connection, "other_browser", ip=web_session.client_ip(),
                   detail="the answer came to a browser other than the one that started the sign-in")
        return failure_page(connection, _("This sign-in was started in another browser. Start again here."), 400,
                            next_target=row.next)
    if not SsoRequest.delete().where(SsoRequest.id == row.id).execute():
        return _gone(connection)
    return row


def _failed(connection: Connection, row: SsoRequest, exc: UpstreamError) -> tuple[str, int]:
    sso.refuse(connection, exc.reason, ip=web_session.client_ip(), detail=exc.message)
    return failure_page(connection, exc.message, 400, next_target=row.next)


@bp.get("/sso/oidc/callback")
def oidc_callback() -> Any:
    found = _in_flight(request.args.get("state"))  # the one redirect URI of every connection: the state says whose
    connection = Connection.get_or_none(Connection.id == found.connection_id) if found is not None else None
    if connection is None or connection.kind != "oidc":
        return _gone(None)
    row = _take(connection, found)
    if not isinstance(row, SsoRequest):
        return row
    error = request.args.get("error")
    if error:
        described = (request.args.get("error_description") or "")[:200]
        said = (Text("The IdP answered %(error)s: %(description)s.", error=error[:60], description=described)
                if described else Text("The IdP answered %(error)s.", error=error[:60]))
        return _failed(connection, row, UpstreamError("idp_error", said))
    deployment = Deployment.of(current_app)
    try:
        asserted, claims = upstream_oidc.finish(
            connection, client_secret=client_secret(connection, deployment.secrets),
            redirect_uri=_urls(connection).redirect_uri, code=(request.args.get("code") or "")[:2048],
            code_verifier=deployment.secrets.decrypt(row.code_verifier), nonce=row.nonce)
    except UpstreamError as exc:
        return _failed(connection, row, exc)
    return _complete(connection, row, asserted, claims)


@bp.post("/sso/saml/<connection_id>/acs")
def saml_acs(connection_id: str) -> Any:
    """The IdP's POST: checked here (F7), finished at the redirect that follows, with the browser's cookies."""
    connection = _connection(connection_id)
    if connection.kind != "saml":
        abort(404)
    relay_state = request.form.get("RelayState")
    row = _pending(connection, _in_flight(relay_state))
    if not isinstance(row, SsoRequest):
        sso.refuse(connection, "unsolicited", ip=web_session.client_ip(),
                   detail="a SAML response without a sign-in in flight (unknown or expired RelayState)")
        return row
    try:
        asserted, received = upstream_saml.finish(connection, _urls(connection), request.form.get("SAMLResponse", ""),
                                                  row.saml_request_id)
    except UpstreamError as exc:
        SsoRequest.delete().where(SsoRequest.id == row.id).execute()
        return _failed(connection, row, exc)
    stored = {"asserted": dataclasses.asdict(asserted), "received": received}
    SsoRequest.update(result=stored).where((SsoRequest.id == row.id) & SsoRequest.result.is_null()).execute()
    return redirect(url_for("federation.complete", connection_id=connection.id, state=relay_state), 303)


@bp.get("/sso/<connection_id>/complete")
def complete(connection_id: str) -> Any:
    connection = _connection(connection_id)
    row = _take(connection, _in_flight(request.args.get("state")))
    if not isinstance(row, SsoRequest):
        return row
    if not row.result:
        return _gone(connection)
    kept = row.result["asserted"]
    asserted = sso.Asserted(**{**kept, "groups": tuple(kept["groups"]), "methods": tuple(kept["methods"])})
    return _complete(connection, row, asserted, row.result["received"])


def _complete(connection: Connection, row: SsoRequest, asserted: sso.Asserted, received: dict[str, Any]) -> Any:
    """Sign the person in (or, for an admin's test, show what came back)."""
    if row.test:
        return _test_result(connection, asserted, received)
    try:
        signed_in = sso.sign_in(connection, asserted, ip=web_session.client_ip())
    except sso.SsoRefused as refusal:
        return failure_page(connection, refusal.message, 403, next_target=row.next)
    target = row.next or url_for("signin.home")
    response = redirect(target)
    web_session.begin(signed_in.user, account_id=connection.account_id, amr=signed_in.amr, response=response,
                      connection_id=connection.id)
    web_session.clear_pending()
    pending_request.signed_in()
    pages.report("success")
    step = rules.next_step(signed_in.user, None, amr=signed_in.amr, auth_time=clock.now())
    if step.name == "first_login":
        response.headers["Location"] = url_for(pages.STEP_PAGES[step.name], next=target)
    return response


def _test_result(connection: Connection, asserted: sso.Asserted, received: dict[str, Any]) -> Any:
    if not _is_admin(connection):
        return failure_page(connection, _("Only an admin of the account can test its connection."), 403)
    admin = web_session.current_user()
    assert admin is not None
    with transaction():
        audit.record(Actor.for_user(admin), "connection.tested",
                     account_id=connection.account_id, target_type="connection", target_id=connection.id,
                     subject=asserted.subject[:200], email=asserted.email[:320])
    session[TEST_RESULT] = {"connection_id": connection.id, "asserted": dataclasses.asdict(asserted),
                            "received": _printable(received)}
    return redirect(url_for("federation.test_result", connection_id=connection.id))


def _printable(received: dict[str, Any]) -> dict[str, str]:
    """One line per claim or attribute, as a person reads it (the session cookie holds it: bounded)."""

    def shown(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list | tuple):
            return ", ".join(shown(v) for v in value)
        return "" if value is None else str(value)

    flat = {**{k: v for k, v in received.items() if k != "attributes"}, **(received.get("attributes") or {})}
    return {str(k)[:100]: shown(v)[:500] for k, v in list(flat.items())[:40]}


@bp.get("/sso/<connection_id>/test")
def test_result(connection_id: str) -> Any:
    """What the admin's test sign-in received from the IdP and how Roster reads it (nobody was signed in)."""
    connection = _connection(connection_id)
    if not _is_admin(connection):
        return failure_page(connection, _("Only an admin of the account can test its connection."), 403)
    result = session.get(TEST_RESULT)
    if not isinstance(result, dict) or result.get("connection_id") != connection.id:
        return redirect(url_for("federation.start", connection_id=connection.id, test="1"))
    return render_template("sso_test.html", connection=connection, asserted=result["asserted"],
                           received=result["received"],
                           back=url_for("console.sso", account_id=connection.account_id)
                           if "console.sso" in current_app.view_functions else url_for("signin.home"))


@bp.get("/sso/saml/<connection_id>/metadata")
def saml_metadata(connection_id: str) -> Response:
    """Our SP metadata for the IdP: its URL is also the SP's entity id."""
    connection = _connection(connection_id)
    if connection.kind != "saml":
        abort(404)
    try:
        body = upstream_saml.sp_metadata(connection, _urls(connection))
    except UpstreamError as exc:
        return Response(str(exc), status=503, mimetype="text/plain")
    return Response(body, mimetype="application/samlmetadata+xml")
