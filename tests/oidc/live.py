"""Live `roster serve` processes and a browser made of plain HTTP, for the end-to-end OpenID Connect tests.

A :class:`Deployment` is one database and one secret key: ``roster init``
makes its account, :meth:`Deployment.serve` starts as many instances on it
as a test needs, and :meth:`Deployment.domain` binds the models to the same
database in this process (to give a person a password or a TOTP app, as an
operator's script would). A :class:`Browser` signs in through the pages
with form posts, as a person's browser would, and a :class:`RelyingParty`
is an application using authlib's OAuth client.
"""

from __future__ import annotations

import contextlib
import dataclasses
import html
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import pyotp
import requests
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from conformance import live_server
from conformance.live_server import ROSTER, free_port, stop, wait_until_healthy

from .flow import csrf, hidden

PASSWORD = "correct horse battery staple"
TIMEOUT = 30


@dataclasses.dataclass
class Instance:
    """One `roster serve` process."""

    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclasses.dataclass
class Deployment(live_server.Deployment):
    """conformance.live_server's deployment, with the instances and people the end-to-end tests need."""

    @contextlib.contextmanager
    def serve(self, *, port: int | None = None, workers: int = 2, threads: int = 1,
              name: str = "serve") -> Iterator[Instance]:
        """A `roster serve` on ``port`` (a free one by default), stopped (and waited for) on exit.

        ``threads`` over 1 serves with gunicorn's threaded (gthread) workers.
        """
        port = port or free_port()
        log = self.workdir / f"{name}-{port}.log"
        command = [str(ROSTER), "serve", "--port", str(port), "--workers", str(workers)]
        if threads > 1:
            command += ["--threads", str(threads)]
        with log.open("wb") as out:
            process = subprocess.Popen(command, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_until_healthy(port, process, log)
            yield Instance(port, process, log)
        finally:
            stop(process)

    def ready_person(self, email: str, *, given_name: str = "Pat", family_name: str = "Person") -> str:
        """A member of the account with PASSWORD who accepted the terms (no first-login step); their user id."""
        from models import Actor, clock, members
        from models.tenancy import Account, User

        with self.domain() as handed:
            account = Account.get_by_id(self.account_id)
            added = members.add_user(account, email, given_name=given_name, family_name=family_name,
                                     password=PASSWORD, by=Actor.cli("e2e"), via="cli", deployment=handed)
            User.update(must_change_password=False, terms_accepted_at=clock.now()).where(
                User.id == added.user.id).execute()
            return str(added.user.id)

    def accept_invitation(self, email: str) -> None:
        """The person a directory invited accepts through their link: PASSWORD, the terms, an active membership."""
        from models import Actor, invitations
        from models.tenancy import Account

        with self.domain() as handed:
            account = Account.get_by_id(self.account_id)
            link = invitations.link(invitations.find_invitation(account, email), by=Actor.cli("e2e"),
                                    deployment=handed)
            invitations.accept(link.rsplit("/", 1)[1], password=PASSWORD, accept_terms=True, hasher=handed.hasher)

    def enrol_totp(self, user_id: str) -> pyotp.TOTP:
        """A confirmed TOTP authenticator for the person; the app that makes their codes.

        Confirmed with the previous time step's code, so the current one is
        still unused for the sign-in that follows (a step is accepted once).
        """
        from models import mfa
        from models.tenancy import User

        with self.domain() as handed:
            user = User.get_by_id(user_id)
            credential, uri = mfa.begin_totp(user, deployment=handed)
            app = pyotp.parse_uri(uri)
            assert isinstance(app, pyotp.TOTP)
            mfa.confirm_totp(user, credential.id, app.at(time.time() - app.interval), secrets=handed.secrets)
            return app


@contextlib.contextmanager
def fresh_postgres(url: str, prefix: str) -> Iterator[str]:
    """A new, empty database on the server of ``url`` (``prefix``_random), dropped on exit; its URL."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ----------------------------------------------------------------- the browser


def form_action(page: str) -> str | None:
    found = re.search(r'<form method="post" action="([^"]*)"', page)
    return html.unescape(found.group(1)) if found else None


class Browser:
    """A person's browser: a cookie jar, redirects followed by hand, forms posted with their CSRF token."""

    def __init__(self) -> None:
        self.http = requests.Session()
        self.pages: list[str] = []  # the paths of the pages shown, in order

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def go(self, url: str, *, stop_at: str) -> requests.Response:
        """GET ``url`` and follow redirects until a page, or a redirect to a URL starting with ``stop_at``."""
        return self.follow(self.http.get(url, allow_redirects=False, timeout=TIMEOUT), stop_at=stop_at)

    def follow(self, response: requests.Response, *, stop_at: str) -> requests.Response:
        for _ in range(20):
            location = response.headers.get("Location")
            if response.status_code not in (301, 302, 303, 307) or not location:
                self.pages.append(requests.utils.urlparse(response.url).path)
                return response
            target = urljoin(response.url, location)
            if target.startswith(stop_at):
                return response
            response = self.http.get(target, allow_redirects=False, timeout=TIMEOUT)
        raise AssertionError("too many redirects")

    def submit(self, page: requests.Response, *, stop_at: str, action: str | None = None,
               **fields: str) -> requests.Response:
        """Post the page's form (its CSRF token and ``next`` included), then follow redirects."""
        data = {"csrf_token": csrf(page.text), **fields}
        nxt = hidden(page.text, "next")
        if nxt is not None:
            data.setdefault("next", nxt)
        target = urljoin(page.url, action or form_action(page.text) or page.url)
        return self.follow(self.http.post(target, data=data, allow_redirects=False, timeout=TIMEOUT), stop_at=stop_at)

    def sign_in(self, authorization_url: str, redirect_uri: str, *, email: str, password: str = PASSWORD,
                totp: pyotp.TOTP | None = None) -> str:
        """From the relying party's authorization URL to its redirect URI (returned) through the sign-in pages."""
        response = self.go(authorization_url, stop_at=redirect_uri)
        for _ in range(5):
            if response.status_code in (302, 303):
                return urljoin(response.url, response.headers["Location"])
            path = requests.utils.urlparse(response.url).path
            assert response.status_code == 200, (response.status_code, path, response.text[:2000])
            if path == "/login":
                response = self.submit(response, stop_at=redirect_uri, email=email, password=password)
            elif path == "/login/mfa":
                assert totp is not None, "the sign-in asks for a second factor"
                response = self.submit(response, stop_at=redirect_uri, code=totp.now())
            else:
                raise AssertionError(f"unexpected page {path}:\n{response.text[:2000]}")
        raise AssertionError("the sign-in did not end at the redirect URI")


# ----------------------------------------------------------- the relying party


class RelyingParty:
    """What an application does with authlib: discovery, the authorization URL, the code, checks on tokens."""

    def __init__(self, issuer: str, client_id: str, client_secret: str, *, redirect_uri: str,
                 scope: str = "openid profile email offline_access") -> None:
        self.metadata: dict[str, Any] = requests.get(f"{issuer}/.well-known/openid-configuration",
                                                     timeout=TIMEOUT).json()
        self.client_id = client_id
        self.oauth = OAuth2Session(client_id, client_secret, scope=scope, redirect_uri=redirect_uri,
                                   code_challenge_method="S256")
        self.verifier = self.nonce = ""

    def close(self) -> None:
        self.oauth.close()

    def endpoint(self, name: str) -> str:
        return str(self.metadata[f"{name}_endpoint"])

    def authorization_url(self, **extra: str) -> str:
        self.verifier, self.nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(16)
        url, _state = self.oauth.create_authorization_url(self.endpoint("authorization"), nonce=self.nonce,
                                                          code_verifier=self.verifier, **extra)
        return str(url)

    def callback(self, redirected_to: str) -> dict[str, Any]:
        """The code from the redirect (state checked by authlib), exchanged with the PKCE verifier."""
        return dict(self.oauth.fetch_token(self.endpoint("token"), authorization_response=redirected_to,
                                           code_verifier=self.verifier))

    def jwks(self) -> KeySet:
        return KeySet.import_key_set(requests.get(self.metadata["jwks_uri"], timeout=TIMEOUT).json())

    def id_token_claims(self, id_token: str, *, nonce: str | None = None) -> dict[str, Any]:
        """Signature against the published JWKS, then iss, aud, exp and the nonce of this sign-in."""
        token = jwt.decode(id_token, self.jwks(), algorithms=self.metadata["id_token_signing_alg_values_supported"])
        jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.metadata["issuer"]},
            aud={"essential": True, "value": self.client_id},
            exp={"essential": True}, iat={"essential": True}, sub={"essential": True},
            nonce={"essential": True, "value": nonce if nonce is not None else self.nonce},
        ).validate(token.claims)
        return dict(token.claims)

    def userinfo(self, access_token: str) -> requests.Response:
        return requests.get(self.endpoint("userinfo"), headers={"Authorization": f"Bearer {access_token}"},
                            timeout=TIMEOUT)

    def introspect(self, token: str) -> dict[str, Any]:
        response = self.oauth.introspect_token(self.endpoint("introspection"), token=token)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        return dict(self.oauth.refresh_token(self.endpoint("token"), refresh_token=refresh_token))
