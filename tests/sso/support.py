"""What the SSO tests set up: a verified domain, a connection to a real IdP, and the round trip through the app."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from models import Actor, clock, connections
from models.connections import Connection
from models.deployment import Deployment
from models.federation import Domain
from models.tenancy import Account
from tests.idp.oidc_idp import OidcIdp
from tests.oidc.flow import follow, submit

CLI = Actor.cli("tests")


def verified_domain(account: Account, name: str) -> Domain:
    """A domain the account has proven (the DNS check itself is tests/models/test_domains.py's)."""
    now = clock.now()
    return Domain.create(account=account.id, name=name, token=secrets.token_urlsafe(24), status="verified",
                         verified_name=name, verified_at=now, checked_at=now)


def oidc_connection(account: Account, idp: OidcIdp, deployment: Deployment, **policy: Any) -> Connection:
    """An enabled OIDC connection of ``account`` to ``idp``, its client registered there; ``policy`` as
    models.connections.update takes it (jit, sso_required, trust_upstream_mfa, default_role …)."""
    placeholder = connections.create_oidc(account, issuer=idp.issuer, client_id="pending", client_secret="pending",
                                          secrets=deployment.secrets, name="Acme Okta",
                                          scopes=["openid", "email", "profile", "groups"], by=CLI)
    redirect_uri = connections.urls(placeholder, deployment.settings).redirect_uri
    client_id, client_secret = idp.register_client([redirect_uri])
    return connections.update(placeholder, by=CLI, secrets=deployment.secrets, client_id=client_id,
                              client_secret=client_secret, enabled=True, **{"jit": True, **policy})


def local(url: str) -> str:
    """A URL of the app under test as its test client takes it: the path and query."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def to_idp(client: Any, response: Any) -> str:
    """Follow the app's redirects until one leaves it for the IdP; that URL."""
    for _ in range(10):
        location = response.headers.get("Location", "")
        assert response.status_code in (302, 303), (response.status_code, response.get_data(as_text=True)[:2000])
        if location.startswith("http://127.0.0.1"):
            return str(location)
        response = client.get(local(location))
    raise AssertionError("the app never sent the browser to the IdP")


def email_step(client: Any, page: Any, email: str) -> Any:
    """Post the sign-in page's first step (the email alone)."""
    return submit(client, page, "/login", email=email)


def upstream_sign_in(client: Any, idp: OidcIdp, start: Any, login: str, *, amr: list[str] | None = None) -> Any:
    """From a response of the app that leads to the IdP: sign ``login`` in there and bring its answer back to
    the app; the app's response to the callback."""
    back = idp.login(requests.Session(), to_idp(client, start), login, amr=amr)
    assert urlsplit(back).path.startswith("/sso/oidc/"), back
    return client.get(local(back))


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def roster_page(client: Any, response: Any) -> Any:
    return follow(client, response)


def through_terms(client: Any, answer: Any) -> Any:
    """R8: a person new to Roster accepts the terms at their first sign-in; then on as before."""
    if answer.status_code == 200 and answer.request.path == "/login/first":
        answer = follow(client, submit(client, answer, "/login/first", accept_terms="y"))
    return answer


def saml_connection(account: Account, idp: Any, client: Any, **policy: Any) -> Connection:
    """An enabled SAML connection of ``account`` to ``idp`` (tests/idp/saml_idp_fixture.py), which is given
    the connection's SP metadata as the app serves it."""
    connection = connections.create_saml(account, metadata_xml=idp.metadata_xml(), name="Acme SAML", by=CLI)
    metadata = client.get(f"/sso/saml/{connection.id}/metadata")
    assert metadata.status_code == 200, metadata.get_data(as_text=True)
    idp.add_sp(metadata.get_data(as_text=True))
    return connections.update(connection, by=CLI, enabled=True, **{"jit": True, **policy})


def saml_answer(client: Any, idp: Any, start: Any, email: str, **knobs: Any) -> tuple[str, dict[str, str]]:
    """From a response of the app that leads to the IdP: the IdP's signed answer for ``email`` (not posted)."""
    return idp.login(requests.Session(), to_idp(client, start), email, **knobs)  # type: ignore[no-any-return]


def post_answer(client: Any, answer: tuple[str, dict[str, str]]) -> Any:
    """The IdP's auto-posted form, posted to the app's ACS; the app's response."""
    acs_url, fields = answer
    return client.post(local(acs_url), data=fields)
