"""The test SAML IdP (``tests/idp/saml_idp.py``) as a separate process, driven over HTTP.

``from tests.idp.saml_idp_fixture import saml_idp, SamlIdp``: the ``saml_idp`` fixture (session scope)
makes a signing key and a self-signed certificate, starts the IdP on a free port and yields a started
``SamlIdp``. A test gives the IdP its SP metadata (``add_sp``, or the IdP fetches the AuthnRequest's
Issuer URL), sends the browser to the IdP, and calls ``login`` with the URL it was redirected to: the
answer is the ACS URL and the form fields (``SAMLResponse``, ``RelayState``) the browser would post,
left for the test to post to the SP once, twice or never.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from cryptography.hazmat.primitives import serialization

from conformance.live_server import free_port
from tests.idp.metadata import self_signed
from tests.idp.saml_idp import ATTRIBUTE_PROFILES, PASSWORD_PROTECTED_TRANSPORT, XMLSEC1, default_name_id

__all__ = ["ATTRIBUTE_PROFILES", "PASSWORD_PROTECTED_TRANSPORT", "SamlIdp", "default_name_id", "make_key_and_cert",
           "require_xmlsec1", "saml_idp"]

ROOT = Path(__file__).resolve().parent.parent.parent

# the form fields of POST /sso/login besides email; see tests/idp/saml_idp.py
KNOBS = frozenset({
    "given_name", "family_name", "groups", "name_id", "name_id_format", "authn_context", "attributes",
    "sign", "audience", "destination", "recipient", "in_response_to", "not_on_or_after_seconds", "issuer", "tamper",
})


def require_xmlsec1() -> None:
    """Fails under CI, skips elsewhere, when Debian's xmlsec1 (pysaml2's signing and verifying) is missing."""
    if os.access(XMLSEC1, os.X_OK):
        return
    message = f"{XMLSEC1} is missing: run make install-test (needs the xmlsec1 Debian package)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def make_key_and_cert(directory: Path, name: str, common_name: str) -> tuple[Path, Path]:
    """A 2048-bit RSA key and a self-signed certificate for it, as ``<name>.key`` and ``<name>.crt`` (PEM)."""
    key, cert = self_signed(common_name)
    key_path, cert_path = directory / f"{name}.key", directory / f"{name}.crt"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


class _Forms(HTMLParser):
    """Each form of a page: its action and its inputs' names and values (entities already decoded)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((found.get("action", ""), {}))
        elif tag == "input" and self.forms and "name" in found:
            self.forms[-1][1][found["name"]] = found.get("value", "")


def _forms(page: str) -> list[tuple[str, dict[str, str]]]:
    parser = _Forms()
    parser.feed(page)
    parser.close()
    return parser.forms


class SamlIdp:
    """The test IdP process: ``start()``, ``stop()``, its URLs and certificate, and the HTTP calls tests make."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.key_path, self.cert_path = make_key_and_cert(directory, "saml-idp", "Roster test SAML IdP")
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = directory / "saml-idp.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def entity_id(self) -> str:
        return self.base_url + "/metadata"

    @property
    def metadata_url(self) -> str:
        return self.base_url + "/metadata"

    @property
    def sso_url(self) -> str:
        return self.base_url + "/sso"

    @property
    def certificate_pem(self) -> str:
        return self.cert_path.read_text()

    def start(self, timeout: float = 20) -> SamlIdp:
        self.port = free_port()
        command = [sys.executable, "-m", "tests.idp.saml_idp", "--port", str(self.port),
                   "--key", str(self.key_path), "--cert", str(self.cert_path)]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the SAML IdP exited with {self.process.returncode}:\n{self.log_path.read_text()}")
            try:
                self.metadata_xml()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the SAML IdP did not answer within {timeout} s:\n{self.log_path.read_text()}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def metadata_xml(self) -> str:
        with urllib.request.urlopen(self.metadata_url, timeout=5) as answer:
            return str(answer.read().decode())

    def add_sp(self, metadata_xml: str) -> list[str]:
        """Trusts the SP metadata (replacing any of the same entity id); the entity ids it held."""
        answer = requests.post(self.base_url + "/test/sp", data=metadata_xml.encode(), timeout=10,
                               headers={"Content-Type": "application/samlmetadata+xml"})
        if answer.status_code != 200:
            raise AssertionError(f"the IdP refused the SP metadata: {answer.status_code} {answer.text}")
        return list(answer.json()["entity_ids"])

    def last_authn_request(self) -> dict[str, Any] | None:
        """The last AuthnRequest the IdP accepted: request_id, sp_entity_id, acs_url, relay_state, binding,
        name_id_format, signed, xml."""
        answer = requests.get(self.base_url + "/test/last-request", timeout=10)
        answer.raise_for_status()
        found: dict[str, Any] | None = answer.json()
        return found

    def login(self, http_session: requests.Session, redirect_url: str, email: str,
              **knobs: str | int | bool | list[str] | None) -> tuple[str, dict[str, str]]:
        """Opens ``redirect_url`` (the IdP's /sso?SAMLRequest=..., or a URL that redirects there), signs in as
        ``email`` with ``knobs`` (form fields of POST /sso/login; None leaves one out, a list is joined with
        commas, True is "1") and returns the auto-post form's action (the ACS URL) and fields, not posting them.

        Raises AssertionError with the IdP's answer when it refuses the request or the login.
        """
        unknown = set(knobs) - KNOBS
        if unknown:
            raise TypeError(f"unknown SAML IdP knobs: {sorted(unknown)}")
        page = http_session.get(redirect_url, timeout=10)
        if page.status_code != 200 or not page.url.startswith(self.sso_url):
            raise AssertionError(f"the IdP's login form did not come: {page.status_code} {page.url}\n{page.text}")
        action, fields = next(((a, f) for a, f in _forms(page.text) if a.endswith("/sso/login")), ("", {}))
        if not action:
            raise AssertionError(f"no login form on the IdP's page:\n{page.text}")
        fields["email"] = email
        for name, value in knobs.items():
            if value is None:
                fields.pop(name, None)
            elif isinstance(value, bool):
                fields[name] = "1" if value else ""
            elif isinstance(value, list):
                fields[name] = ",".join(value)
            else:
                fields[name] = str(value)
        answer = http_session.post(urljoin(page.url, action), data=fields, timeout=10)
        if answer.status_code != 200:
            raise AssertionError(f"the IdP refused the login: {answer.status_code}\n{answer.text}")
        forms = _forms(answer.text)
        if len(forms) != 1 or "SAMLResponse" not in forms[0][1]:
            raise AssertionError(f"no auto-post form with a SAMLResponse on the IdP's answer:\n{answer.text}")
        return forms[0]


@pytest.fixture(scope="session")
def saml_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SamlIdp]:
    """A started test SAML IdP, shared by the session; tests tell their SPs apart by entity id."""
    require_xmlsec1()
    idp = SamlIdp(tmp_path_factory.mktemp("saml-idp")).start()
    try:
        yield idp
    finally:
        idp.stop()
