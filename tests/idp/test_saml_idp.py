"""The test SAML IdP against a real pysaml2 SP: what it asserts is read back, and each broken response is refused.

The SP here is pysaml2's ``Saml2Client`` in the test process, as Roster's will be; its ACS URL is
never posted to (``SamlIdp.login`` hands the form fields back), so nothing listens there.
"""

from __future__ import annotations

import base64
import http.server
import re
import secrets
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import entity_descriptor
from saml2.saml import NAMEID_FORMAT_EMAILADDRESS, NAMEID_FORMAT_PERSISTENT

from tests.idp import saml_idp_fixture
from tests.idp.saml_idp_fixture import (
    PASSWORD_PROTECTED_TRANSPORT,
    SamlIdp,
    default_name_id,
    make_key_and_cert,
    saml_idp,
)

__all__ = ["saml_idp"]  # the fixture, imported so pytest finds it here

EMAIL = "alice@example.com"


class Sp:
    """A pysaml2 SP trusting the IdP's metadata; ``base`` is a loopback URL nothing listens on (port 9)."""

    def __init__(self, idp: SamlIdp, directory: Path, *, want_assertions_signed: bool = True,
                 want_response_signed: bool = False, sign_requests: bool = False, base: str | None = None) -> None:
        self.idp = idp
        base = base or f"http://127.0.0.1:9/sp-{secrets.token_hex(4)}"
        self.entity_id, self.acs_url = base + "/metadata", base + "/acs"
        key, cert = make_key_and_cert(directory, "sp-" + secrets.token_hex(4), "test SP")
        config = SPConfig()
        config.load({
            "entityid": self.entity_id,
            "service": {"sp": {
                "endpoints": {"assertion_consumer_service": [(self.acs_url, BINDING_HTTP_POST)]},
                "want_assertions_signed": want_assertions_signed,
                "want_response_signed": want_response_signed,
                "authn_requests_signed": sign_requests,
            }},
            # the basic-format names (email, givenName, ...) are in no pysaml2 attribute map
            "allow_unknown_attributes": True,
            "key_file": str(key),
            "cert_file": str(cert),
            "xmlsec_binary": "/usr/bin/xmlsec1",
            "metadata": {"inline": [idp.metadata_xml()]},
        })
        self.client = Saml2Client(config)
        self.metadata_xml = str(entity_descriptor(config))

    def authn_request(self, relay_state: str = "relay-1") -> tuple[str, str]:
        """The request id and the URL the SP redirects the browser to (HTTP-Redirect binding)."""
        request_id, info = self.client.prepare_for_authenticate(
            entityid=self.idp.entity_id, relay_state=relay_state, binding=BINDING_HTTP_REDIRECT)
        return str(request_id), str(dict(info["headers"])["Location"])

    def parse(self, fields: dict[str, str], request_id: str) -> Any:
        # conv_info: without it pysaml2 checks no SubjectConfirmationData Recipient at all
        return self.client.parse_authn_request_response(
            fields["SAMLResponse"], BINDING_HTTP_POST, outstanding={request_id: "/"},
            conv_info={"entity_id": self.entity_id})

    def sign_in(self, email: str = EMAIL, **knobs: Any) -> tuple[str, str, dict[str, str]]:
        request_id, url = self.authn_request()
        acs_url, fields = self.idp.login(requests.Session(), url, email, **knobs)
        return request_id, acs_url, fields


@pytest.fixture
def sp(saml_idp: SamlIdp, tmp_path: Path) -> Sp:
    found = Sp(saml_idp, tmp_path)
    assert saml_idp.add_sp(found.metadata_xml) == [found.entity_id]
    return found


def test_signed_assertion_names_the_person_to_the_sp_that_asked(saml_idp: SamlIdp, sp: Sp) -> None:
    request_id, url = sp.authn_request(relay_state="back-to-console")
    acs_url, fields = saml_idp.login(requests.Session(), url, EMAIL, given_name="Alice", family_name="Liddell",
                                     groups=["staff", "admins"])

    assert acs_url == sp.acs_url
    assert fields["RelayState"] == "back-to-console"
    answer = sp.parse(fields, request_id)  # want_assertions_signed: pysaml2 verified the assertion's signature
    assert answer.name_id.text == default_name_id(EMAIL)
    assert answer.name_id.format == NAMEID_FORMAT_PERSISTENT
    assert answer.ava == {"email": [EMAIL], "givenName": ["Alice"], "surname": ["Liddell"],
                          "groups": ["staff", "admins"]}
    assert answer.in_response_to == request_id
    assertion = answer.assertion
    assert assertion.issuer.text == saml_idp.entity_id
    assert assertion.signature.signed_info.signature_method.algorithm.endswith("rsa-sha256")
    assert answer.response.signature is None  # sign=assertion (the default) signs the assertion only
    assert assertion.conditions.audience_restriction[0].audience[0].text == sp.entity_id
    authn_context = assertion.authn_statement[0].authn_context
    assert authn_context.authn_context_class_ref.text == PASSWORD_PROTECTED_TRANSPORT

    last = saml_idp.last_authn_request()
    assert last is not None
    assert (last["request_id"], last["sp_entity_id"], last["relay_state"]) == (request_id, sp.entity_id,
                                                                                "back-to-console")
    assert last["signed"] is False


def test_name_id_and_authn_context_follow_the_login(sp: Sp) -> None:
    mfa = "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract"
    request_id, _, fields = sp.sign_in(name_id_format="email", authn_context=mfa, sign="both")
    answer = sp.parse(fields, request_id)
    assert (answer.name_id.format, answer.name_id.text) == (NAMEID_FORMAT_EMAILADDRESS, EMAIL)
    assert answer.assertion.authn_statement[0].authn_context.authn_context_class_ref.text == mfa
    assert answer.response.signature is not None and answer.assertion.signature is not None

    request_id, _, fields = sp.sign_in(name_id="00u-okta-42")
    assert sp.parse(fields, request_id).name_id.text == "00u-okta-42"


def test_the_requests_name_id_policy_chooses_the_format(saml_idp: SamlIdp, sp: Sp) -> None:
    request_id, info = sp.client.prepare_for_authenticate(
        entityid=saml_idp.entity_id, binding=BINDING_HTTP_REDIRECT, nameid_format=NAMEID_FORMAT_EMAILADDRESS)
    _, fields = saml_idp.login(requests.Session(), dict(info["headers"])["Location"], EMAIL)
    assert sp.parse(fields, str(request_id)).name_id.text == EMAIL
    assert "RelayState" not in fields  # none was sent


def test_authn_request_by_http_post(saml_idp: SamlIdp, sp: Sp) -> None:
    request_id, info = sp.client.prepare_for_authenticate(
        entityid=saml_idp.entity_id, relay_state="posted", binding=BINDING_HTTP_POST)
    # pysaml2's auto-post page for the browser; its SAMLRequest field is what the browser would post
    saml_request = re.search(r'name="SAMLRequest" value="([^"]+)"', str(info["data"]))
    assert saml_request is not None
    page = requests.post(saml_idp.sso_url, data={"SAMLRequest": saml_request.group(1), "RelayState": "posted"},
                         timeout=10)
    assert page.status_code == 200 and 'action="/sso/login"' in page.text
    last = saml_idp.last_authn_request()
    assert last is not None
    assert (last["request_id"], last["binding"], last["relay_state"]) == (request_id, BINDING_HTTP_POST, "posted")


@pytest.mark.parametrize(("profile", "ava"), [
    # pysaml2's own attribute maps name the standard OIDs
    ("uri", {"mail": [EMAIL], "givenName": ["Alice"], "sn": ["Liddell"], "isMemberOf": ["staff"]}),
    # pysaml2's ADFS map knows Entra's claim URIs but its groups claim
    ("entra", {"emailAddress": [EMAIL], "givenName": ["Alice"], "surname": ["Liddell"],
               "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups": ["staff"]}),
])
def test_other_attribute_profiles(sp: Sp, profile: str, ava: dict[str, list[str]]) -> None:
    request_id, _, fields = sp.sign_in(given_name="Alice", family_name="Liddell", groups="staff", attributes=profile)
    assert sp.parse(fields, request_id).ava == ava


@pytest.mark.parametrize(("wants", "knobs", "refusal"), [
    ({}, {"sign": "none"}, "Signature missing for assertion"),
    ({}, {"sign": "response"}, "Signature missing for assertion"),
    ({"want_assertions_signed": False, "want_response_signed": True}, {"sign": "none"},
     "Signature missing for response"),
    ({}, {"tamper": True}, "Failed to verify signature"),
    ({}, {"tamper": True, "sign": "both"}, "Failed to verify signature"),
    ({}, {"audience": "http://127.0.0.1:9/someone-else/metadata"}, "AudienceRestrictions conditions not satisfied"),
    ({}, {"destination": "http://127.0.0.1:9/someone-else/acs"}, "None"),  # pysaml2 answers None, no exception
    ({}, {"recipient": "http://127.0.0.1:9/someone-else/acs"}, "No valid recipient"),
    ({}, {"in_response_to": "id-of-another-request"}, "Unsolicited response: id-of-another-request"),
    ({}, {"in_response_to": ""}, "Unsolicited response: None"),
    ({}, {"not_on_or_after_seconds": -3600}, "Condition not OK"),
    ({}, {"issuer": "http://127.0.0.1:9/another-idp/metadata"}, "http://127.0.0.1:9/another-idp/metadata"),
])
def test_broken_responses_are_refused(saml_idp: SamlIdp, tmp_path: Path, wants: dict[str, Any],
                                      knobs: dict[str, Any], refusal: str) -> None:
    sp = Sp(saml_idp, tmp_path, **wants)
    saml_idp.add_sp(sp.metadata_xml)
    # the same login signed both ways is accepted: each refusal comes from the knob alone
    request_id, _, fields = sp.sign_in(sign="both")
    assert sp.parse(fields, request_id).ava["email"] == [EMAIL]
    request_id, _, fields = sp.sign_in(**knobs)
    try:
        answer = sp.parse(fields, request_id)
    except Exception as exc:  # pysaml2 raises many kinds, some bare Exception
        said = f"{type(exc).__name__}: {exc}"
    else:
        said = "None" if answer is None else f"accepted: {answer.ava}"
    assert refusal in said


def test_tamper_changes_the_email_after_signing(sp: Sp) -> None:
    _, _, fields = sp.sign_in(tamper=True, sign="none")
    xml = base64.b64decode(fields["SAMLResponse"]).decode()
    assert ">mallory@example.com<" in xml and EMAIL not in xml


def test_unknown_sp_metadata_is_fetched_from_its_entity_id(saml_idp: SamlIdp, tmp_path: Path) -> None:
    served: list[str] = []
    metadata: list[bytes] = []  # the SP's, once it exists: its entity id names this server's port

    class Metadata(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.append(self.path)
            body = metadata[0]
            self.send_response(200)
            self.send_header("Content-Type", "application/samlmetadata+xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), Metadata) as server:
        sp = Sp(saml_idp, tmp_path, base=f"http://127.0.0.1:{server.server_address[1]}/saml")
        metadata.append(sp.metadata_xml.encode())
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            request_id, _, fields = sp.sign_in()
        finally:
            server.shutdown()
    assert served == ["/saml/metadata"]
    assert sp.parse(fields, request_id).ava["email"] == [EMAIL]


def test_signed_authn_request_is_verified(saml_idp: SamlIdp, tmp_path: Path) -> None:
    sp = Sp(saml_idp, tmp_path, sign_requests=True)
    saml_idp.add_sp(sp.metadata_xml)
    request_id, url = sp.authn_request()
    sp.idp.login(requests.Session(), url, EMAIL)
    last = saml_idp.last_authn_request()
    assert last is not None and last["signed"] is True and last["request_id"] == request_id

    # the same request with another RelayState no longer matches its signature
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query["RelayState"] = "forged"
    with pytest.raises(AssertionError, match="400"):
        sp.idp.login(requests.Session(), urlunsplit(parts._replace(query=urlencode(query))), EMAIL)


def test_unknown_sp_without_a_metadata_url_is_refused(saml_idp: SamlIdp, tmp_path: Path) -> None:
    sp = Sp(saml_idp, tmp_path, base="urn:example:sp")
    with pytest.raises(AssertionError, match="unknown SP 'urn:example:sp/metadata'"):
        sp.sign_in()



@pytest.mark.parametrize(("ci", "outcome"), [("true", pytest.fail.Exception), ("", pytest.skip.Exception)])
def test_missing_xmlsec1_fails_under_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str,
                                                            outcome: type[BaseException]) -> None:
    monkeypatch.setattr(saml_idp_fixture, "XMLSEC1", str(tmp_path / "xmlsec1"))
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="run make install-test"):
        saml_idp_fixture.require_xmlsec1()
