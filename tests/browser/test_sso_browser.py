"""Enterprise sign-in (DESIGN.md §7) in headless Chromium, through a real upstream IdP.

An application (a third-party client, so Roster asks for consent) sends the
person to Roster; the sign-in page asks for the email and, the account having
verified its domain by DNS (a loopback server) and enabled an OpenID Connect
connection, sends them to the company's IdP (panva's oidc-provider,
tests/idp/oidc_idp.py) with state, nonce and PKCE (F1). They sign in on the
IdP's own form and come back; a new person becomes a member by JIT (F3), an
existing one is linked by the verified domain (F2); they allow the
application, whose code gives an ID token that says the sign-in was
federated (F5: amr "fed"). Runs on SQLite and, with TEST_DATABASE_URL,
PostgreSQL. Screenshots go to test-artifacts/screenshots/sso-signin-*.png.
"""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from conformance.live_server import free_port
from tests.conftest import _postgres_url
from tests.dns_server import LoopbackDns
from tests.idp.oidc_idp import OidcIdp, oidc_idp
from tests.oidc.live import Deployment, Instance, RelyingParty, fresh_postgres

from .conftest import screenshot
from .test_webauthn_signin_browser import callback  # noqa: F401 (fixture)

__all__ = ["oidc_idp"]  # the fixture, imported to be found

pytestmark = pytest.mark.browser

DOMAIN = "acme-sso.example"
SCOPE = "openid profile email"


@pytest.fixture(scope="module")
def loopback_dns() -> Iterator[LoopbackDns]:
    with LoopbackDns() as server:
        yield server


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def deployment(request, tmp_path_factory, loopback_dns) -> Iterator[Deployment]:
    """An account on a database of each kind, whose `roster` processes ask the loopback DNS server."""
    workdir = tmp_path_factory.mktemp(f"sso-{request.param}")
    with contextlib.ExitStack() as stack:
        url = (stack.enter_context(fresh_postgres(_postgres_url(), "browser_sso")) if request.param == "postgres"
               else f"sqlite:///{workdir}/roster.sqlite3")
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        patch.setenv("ROSTER_DNS_NAMESERVERS", loopback_dns.nameserver)
        patch.setenv("ROSTER_DNS_TIMEOUT", "2")
        # localhost, not 127.0.0.1 (the IdP's host): the two sites keep their cookies apart, as in production
        found = Deployment(url, secrets.token_urlsafe(48), f"http://localhost:{free_port()}", workdir)
        found.init("Acme SSO", "admin@acme-admins.example")
        yield found


@pytest.fixture(scope="module")
def roster(deployment) -> Iterator[Instance]:
    with deployment.serve(port=urlsplit(deployment.base_url).port, workers=1) as instance:
        yield instance


@pytest.fixture(scope="module")
def connection(deployment, roster, oidc_idp, loopback_dns) -> str:
    """The account's domain, verified by DNS, and its enabled OIDC connection to the IdP with JIT; its id."""
    from models import Actor, connections
    from models.tenancy import Account

    added = json.loads(deployment.roster("domain", "add", deployment.account_id, DOMAIN, "--json"))
    loopback_dns.publish(added["record"], added["value"])
    verified = json.loads(deployment.roster("domain", "verify", deployment.account_id, DOMAIN, "--json"))
    assert verified["verified"], verified
    by = Actor.cli("sso browser test")
    with deployment.domain() as handed:
        account = Account.get_by_id(deployment.account_id)
        # the redirect URI names the connection: as an admin would, register the client once it exists
        made = connections.create_oidc(account, issuer=oidc_idp.issuer, client_id="pending", client_secret="pending",
                                       secrets=handed.secrets, name="Acme IdP", by=by)
        client_id, client_secret = oidc_idp.register_client([connections.urls(made, handed.settings).redirect_uri])
        connections.update(made, by=by, secrets=handed.secrets, client_id=client_id, client_secret=client_secret,
                           enabled=True, jit=True)
        return str(made.id)


@pytest.fixture(scope="module")
def relying_party(deployment, roster, callback) -> Iterator[RelyingParty]:  # noqa: F811
    created = json.loads(deployment.roster("client", "create", deployment.account_id, "--redirect-uri", callback,
                                           "--third-party", "--name", "Partner Shop", "--json"))
    party = RelyingParty(deployment.base_url, created["client_id"], created["client_secret"], redirect_uri=callback,
                         scope=SCOPE)
    yield party
    party.close()


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


@contextlib.contextmanager
def watched(browser, idp: OidcIdp) -> Iterator[tuple[Any, list[str], list[str]]]:
    """A fresh browser tab; the IdP authorization requests it sends and the pages it shows (main frame)."""
    context = browser.new_context(viewport={"width": 1024, "height": 768})
    try:
        page = context.new_page()
        to_idp: list[str] = []
        shown: list[str] = []
        page.on("request", lambda r: to_idp.append(r.url) if r.url.startswith(f"{idp.issuer}/auth?") else None)
        page.on("framenavigated", lambda frame: shown.append(frame.url) if frame == page.main_frame else None)
        yield page, to_idp, shown
    finally:
        context.close()


def assert_sent_to_idp(sent: list[str], idp: OidcIdp, base_url: str, connection_id: str, email: str) -> None:
    """F1: one authorization code request with state, nonce and PKCE (S256), back to the connection."""
    assert len(sent) == 1, sent
    asked = query_of(sent[0])
    assert asked["response_type"] == "code"
    assert asked["redirect_uri"] == f"{base_url}/sso/oidc/callback"
    assert asked["state"] and asked["nonce"] and asked["code_challenge"]
    assert asked["code_challenge_method"] == "S256"
    assert asked["login_hint"] == email
    assert set(asked["scope"].split()) >= {"openid", "email"}


def before_idp(shown: list[str], idp: OidcIdp) -> list[str]:
    """The paths of the pages the browser showed before the IdP's (redirects show nothing)."""
    pages = [u for u in shown if u != "about:blank"]
    first = next(i for i, u in enumerate(pages) if u.startswith(idp.issuer + "/"))
    return [urlsplit(u).path for u in pages[:first]]


def upstream_sign_in(page, idp: OidcIdp, email: str, amr: str, shot: str) -> None:
    """The IdP's own form (its fields are ``login`` and ``amr``), then back to Roster."""
    page.wait_for_url(f"{idp.issuer}/interaction/**")
    assert "Sign in to the upstream IdP" in page.locator("h1").inner_text()
    page.locator("input[name=login]").fill(email)
    page.locator("input[name=amr]").fill(amr)
    screenshot(page, shot)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(lambda url: not url.startswith(idp.issuer))


def allow(page, shot: str) -> None:
    assert page.locator("h1").inner_text() == "Allow Partner Shop?"
    screenshot(page, shot)
    page.get_by_role("button", name="Allow").click()


def test_an_application_signs_a_new_person_in_through_their_company_idp(deployment, roster, connection, oidc_idp,
                                                                        relying_party, browser, callback):  # noqa: F811
    person = f"jo@{DOMAIN}"
    oidc_idp.set_account(person, {"sub": "00u-jo", "given_name": "Jo", "family_name": "Upstream"})
    url = relying_party.authorization_url()
    sent = query_of(url)
    with watched(browser, oidc_idp) as (page, to_idp, shown):
        page.goto(url)
        page.wait_for_url("**/login?**")
        # F1: the email only; the password step never comes for a verified domain with a connection
        assert page.get_by_label("Password").count() == 0
        page.get_by_label("Email").fill(person)
        screenshot(page, "sso-signin-email")
        page.get_by_role("button", name="Continue").click()
        upstream_sign_in(page, oidc_idp, person, "pwd", "sso-signin-idp")
        assert_sent_to_idp(to_idp, oidc_idp, deployment.base_url, connection, person)
        assert before_idp(shown, oidc_idp) == ["/login"]  # the email step, and no password step after it

        # back at Roster: the person JIT made (F3) accepts the terms (R8), with no password to choose
        page.wait_for_url("**/login/first**")
        assert page.get_by_label("New password", exact=True).count() == 0
        screenshot(page, "sso-signin-terms")
        page.get_by_label("I accept the terms of use").check()
        page.get_by_role("button", name="Continue").click()
        allow(page, "sso-signin-consent")
        page.wait_for_url(f"{callback}**")
        screenshot(page, "sso-signin-back")
        redirected = page.url

    returned = query_of(redirected)
    assert returned["state"] == sent["state"] and returned["code"]
    tokens = relying_party.callback(redirected)  # the code, with the PKCE verifier
    claims = relying_party.id_token_claims(tokens["id_token"])  # signature, iss, aud, exp, this nonce
    assert claims["amr"][0] == "fed" and "pwd" in claims["amr"], claims["amr"]
    assert claims["email"] == person
    assert (claims["given_name"], claims["family_name"]) == ("Jo", "Upstream")
    assert claims["account"]["id"] == deployment.account_id

    from models.connections import ExternalIdentity
    from models.tenancy import Membership

    with deployment.domain():
        identity = ExternalIdentity.get((ExternalIdentity.connection == connection)
                                        & (ExternalIdentity.subject == "00u-jo"))
        assert identity.user_id == claims["sub"]
        membership = Membership.get((Membership.user == claims["sub"])
                                    & (Membership.account == deployment.account_id))
        assert (membership.status, membership.role, membership.created_via) == ("active", "user", "sso")


def test_a_login_hint_goes_straight_to_the_company_idp(deployment, roster, connection, oidc_idp, relying_party,
                                                       browser, callback):  # noqa: F811
    person = f"kai@{DOMAIN}"
    user_id = deployment.ready_person(person, given_name="Kai")  # a member already, with a password and the terms
    oidc_idp.set_account(person, {"sub": "00u-kai"})
    url = relying_party.authorization_url(login_hint=person)
    sent = query_of(url)
    with watched(browser, oidc_idp) as (page, to_idp, shown):
        page.goto(url)
        upstream_sign_in(page, oidc_idp, person, "pwd,otp", "sso-signin-hinted-idp")
        assert_sent_to_idp(to_idp, oidc_idp, deployment.base_url, connection, person)
        # no Roster page before the IdP's: the application's login_hint stood for the email step
        assert before_idp(shown, oidc_idp) == [], shown
        allow(page, "sso-signin-hinted-consent")
        page.wait_for_url(f"{callback}**")
        redirected = page.url

    returned = query_of(redirected)
    assert returned["state"] == sent["state"] and returned["code"]
    claims = relying_party.id_token_claims(relying_party.callback(redirected)["id_token"])
    # F2: linked to the existing user by the verified domain, not a new one
    assert claims["sub"] == user_id and claims["email"] == person
    # F5: the connection does not trust the IdP's second factor, so only fed and the password count
    assert claims["amr"] == ["fed", "pwd"] and claims["acr"] != "mfa", claims
