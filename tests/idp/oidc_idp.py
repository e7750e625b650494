"""An upstream OpenID Provider for the SSO tests: panva's oidc-provider (Node) in a process of its own.

    from tests.idp.oidc_idp import OidcIdp, oidc_idp

``oidc_idp`` is a module-scoped fixture. The IdP has open dynamic client registration, an HTML login
form of its own (any email signs in; ``amr`` is whatever the form says) and implied consent. Clients
registered and accounts set through this class survive ``restart()``, which by default rotates the
signing key, so a relying party that cached the old JWKS has to fetch it again.
"""

from __future__ import annotations

import html.parser
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from joserfc.jwk import RSAKey

from conformance.live_server import free_port
from tests.conformance.conftest import require, require_node

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = Path(__file__).with_name("oidc_idp.mjs")
PACKAGE_JSON = ROOT / "conformance" / "package.json"
OIDC_PROVIDER = ROOT / "conformance" / "node_modules" / "oidc-provider" / "package.json"
TIMEOUT = 10.0  # seconds for one HTTP exchange with the IdP
START_TIMEOUT = 20.0
MAX_HOPS = 10  # redirects followed inside the IdP before it must hand back to the client


class IdpError(RuntimeError):
    """The IdP did not start, or a sign-in did not end in a redirect back to the client."""


class _Forms(html.parser.HTMLParser):
    """The forms of a page: action and the names of its inputs."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, set[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self.forms.append((found.get("action") or "", set()))
        elif tag == "input" and self.forms and found.get("name"):
            self.forms[-1][1].add(str(found["name"]))


def require_oidc_idp() -> None:
    """Node and the pinned oidc-provider, or a skip locally and a failure in CI saying how to get them."""
    require_node()
    require("oidc-provider", OIDC_PROVIDER.exists(), "run 'make install-test' (npm ci --prefix conformance)")


class OidcIdp:
    """One oidc-provider process on a fixed loopback port, issuer ``http://127.0.0.1:<port>``."""

    def __init__(self, workdir: Path, *, port: int | None = None,
                 accounts: dict[str, dict[str, Any]] | None = None) -> None:
        self.port = port or free_port()
        self.log = workdir / "oidc-idp.log"
        self._accounts: dict[str, dict[str, Any]] = {k.lower(): dict(v) for k, v in (accounts or {}).items()}
        self._clients: list[dict[str, Any]] = []
        self._jwk: dict[str, Any] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def kid(self) -> str:
        """The ``kid`` of the key the ID tokens are signed with now."""
        if self._jwk is None:
            raise IdpError("the IdP has not started")
        return str(self._jwk["kid"])

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> OidcIdp:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start the IdP (a new signing key if it has none yet) and wait for its readiness line."""
        if self.running:
            return
        if self._jwk is None:
            self._jwk = _new_signing_key()
        config = {"port": self.port, "jwk": self._jwk, "clients": self._clients, "accounts": self._accounts}
        self.log.parent.mkdir(parents=True, exist_ok=True)
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as log_file:
            self._process = subprocess.Popen(
                [_node(), str(PROGRAM)], stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                env={**os.environ, "OIDC_IDP_CONFIG": json.dumps(config), "OIDC_IDP_PACKAGE_JSON": str(PACKAGE_JSON)})
        self._wait_ready(offset)

    def stop(self) -> None:
        """SIGTERM and wait; SIGKILL if it ignores that."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self, rotate_key: bool = True) -> None:
        """Stop and start again on the same port with the same clients and accounts.

        Sessions, codes and tokens of the old process are gone. With ``rotate_key`` the new process signs
        with a new key under a new ``kid`` and publishes only that one.
        """
        self.stop()
        if rotate_key:
            self._jwk = _new_signing_key()
        self.start()

    def register_client(self, redirect_uris: list[str], **metadata: Any) -> tuple[str, str]:
        """Dynamic client registration (RFC 7591) at /reg: (client_id, client_secret).

        ``metadata`` is any other client metadata, e.g. ``token_endpoint_auth_method="client_secret_post"``.
        """
        sent = {**metadata, "redirect_uris": list(redirect_uris)}
        response = requests.post(f"{self.issuer}/reg", json=sent, timeout=TIMEOUT)
        if response.status_code != 201:
            raise IdpError(f"registration refused ({response.status_code}): {response.text}")
        registered = response.json()
        client_id, client_secret = str(registered["client_id"]), str(registered["client_secret"])
        # kept to be passed back as a static client, since the IdP's memory does not outlive restart()
        self._clients.append({**sent, "client_id": client_id, "client_secret": client_secret})
        return client_id, client_secret

    def set_account(self, login: str, claims: dict[str, Any]) -> None:
        """What the IdP asserts for ``login`` from now on (replacing what it asserted before).

        ``claims`` may hold sub, email, email_verified, given_name, family_name, name and groups; sub
        defaults to ``"sub-" + login`` and email to ``login``, as for a login the IdP was never told about.
        """
        login = login.lower()
        self._accounts[login] = dict(claims)
        if self.running:
            response = requests.post(f"{self.issuer}/_test/accounts", json={login: claims}, timeout=TIMEOUT)
            response.raise_for_status()

    def login(self, http_session: requests.Session, url: str, login: str,
              amr: Sequence[str] | str | None = None) -> str:
        """Sign ``login`` in on the IdP's own form; the URL it then redirects to, not followed.

        ``url`` is the authorization URL (or a URL of the client that redirects there, or the IdP's
        interaction page). The answer is the client's redirect_uri with code, state and iss, or with an
        error if the IdP refused the request before showing the form. ``amr`` is a list or "a,b".
        """
        amr_field = amr if isinstance(amr, str) else ",".join(amr or ())
        return self._submit(http_session, url, lambda _action, fields: "login" in fields,
                            {"login": login, "amr": amr_field})

    def deny(self, http_session: requests.Session, url: str) -> str:
        """Cancel on the IdP's login form: the redirect back to the client, with error=access_denied."""
        return self._submit(http_session, url, lambda action, _fields: action.endswith("/abort"), {})

    def _submit(self, http_session: requests.Session, url: str, pick: Callable[[str, set[str]], bool],
                data: dict[str, str]) -> str:
        response = http_session.get(url, allow_redirects=False, timeout=TIMEOUT)
        response, back = self._follow(http_session, response, on_idp=url.startswith(self.issuer + "/"))
        if back is not None:
            return back  # no form: the IdP answered at once (an error for the client, typically)
        forms = _Forms()
        forms.feed(response.text)
        actions = [action for action, fields in forms.forms if pick(action, fields)]
        if response.status_code != 200 or not actions:
            raise IdpError(f"no login form at {response.url} ({response.status_code}):\n{response.text[:2000]}")
        response = http_session.post(urljoin(response.url, actions[0]), data=data, allow_redirects=False,
                                     timeout=TIMEOUT)
        response, back = self._follow(http_session, response, on_idp=True)
        if back is None:
            raise IdpError(f"the IdP did not redirect back after its form ({response.status_code}):\n"
                           f"{response.text[:2000]}")
        return back

    def _follow(self, http_session: requests.Session, response: requests.Response,
                *, on_idp: bool) -> tuple[requests.Response, str | None]:
        """Redirects up to and through the IdP; the first one leaving the IdP is returned, not followed."""
        for _ in range(MAX_HOPS):
            if not response.is_redirect:
                return response, None
            target = urljoin(response.url, response.headers["Location"])
            if target.startswith(self.issuer + "/"):
                on_idp = True
            elif on_idp:
                return response, target
            response = http_session.get(target, allow_redirects=False, timeout=TIMEOUT)
        raise IdpError(f"more than {MAX_HOPS} redirects, the last to {response.url}")

    def _wait_ready(self, offset: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        expected = f"ready {self.issuer} "
        while time.monotonic() < deadline:
            output = self.log.read_bytes()[offset:].decode(errors="replace")
            if any(line.startswith(expected) for line in output.splitlines()):
                return
            if self._process is None or self._process.poll() is not None:
                self.stop()
                raise IdpError(f"the OIDC IdP exited before it was ready:\n{output}")
            time.sleep(0.05)
        self.stop()
        raise IdpError(f"the OIDC IdP was not ready on {self.issuer} within {START_TIMEOUT} s:\n{output}")


def _new_signing_key() -> dict[str, Any]:
    key = RSAKey.generate_key(2048, parameters={"alg": "RS256", "use": "sig"}, private=True, auto_kid=True)
    return dict(key.as_dict(private=True))


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        raise IdpError("node is not on PATH")
    return node


@pytest.fixture(scope="module")
def oidc_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcIdp]:
    """A running upstream IdP for the module; tests register their own clients and set their own accounts."""
    require_oidc_idp()
    idp = OidcIdp(tmp_path_factory.mktemp("oidc-idp"))
    try:
        idp.start()
    except IdpError as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield idp
    finally:
        idp.stop()
