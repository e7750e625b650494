"""A real SAML 2.0 identity provider for Roster's SSO tests: pysaml2's ``Server`` behind a small WSGI app.

Run as ``python -m tests.idp.saml_idp --port P --key K --cert C`` from the repository root; the
``saml_idp`` fixture of ``tests/idp/saml_idp_fixture.py`` does that. Only SP-initiated sign-in:

- ``GET /metadata``: the IdP metadata (entity id ``http://127.0.0.1:<port>/metadata``, SSO over
  HTTP-Redirect and HTTP-POST at ``/sso``, the signing certificate).
- ``GET /sso`` (HTTP-Redirect) and ``POST /sso`` (HTTP-POST): the AuthnRequest is parsed and checked
  by pysaml2 (Destination, ACS URL against the SP metadata, the SP's signature when it signed); the
  answer is a login form. An SP whose Issuer is unknown and an http(s) URL has its metadata fetched there.
- ``POST /sso/login``: the Response (``create_authn_response``) in an auto-submitting HTTP-POST form
  to the request's ACS URL, with its RelayState. Fields: ``key`` (hidden), ``email``; optional
  ``given_name``, ``family_name``, ``groups`` (comma list), ``name_id`` (default
  ``default_name_id(email)``, or the email with ``name_id_format=email``), ``name_id_format``
  (``persistent``, the default unless the request's NameIDPolicy asks emailAddress, or ``email``),
  ``authn_context`` (AuthnContextClassRef, default PasswordProtectedTransport), ``attributes`` (the
  profile of ``ATTRIBUTE_PROFILES``, default ``basic``). RSA-SHA256 signatures.
  Test knobs for the attack tests: ``sign`` = assertion (default) | response | both | none;
  ``audience``, ``destination`` (Response Destination), ``recipient`` (SubjectConfirmationData) and
  ``issuer`` overrides; ``in_response_to`` (another id, or present and empty to leave it out);
  ``not_on_or_after_seconds`` (lifetime of Conditions and SubjectConfirmationData, default 3600;
  negative: expired); ``tamper=1`` replaces the email AttributeValue with ``mallory@<same domain>``
  after signing.
- ``POST /test/sp`` (SP metadata XML as the body) and ``GET /test/last-request``: test-only.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import re
import secrets
import threading
import urllib.request
from dataclasses import dataclass
from typing import Any

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml
from saml2.assertion import Policy
from saml2.attribute_converter import AttributeConverter
from saml2.config import IdPConfig
from saml2.mdstore import InMemoryMetaData
from saml2.metadata import entity_descriptor
from saml2.s_utils import decode_base64_and_inflate
from saml2.saml import NAME_FORMAT_BASIC, NAME_FORMAT_UNSPECIFIED, NAME_FORMAT_URI
from saml2.samlp import authn_request_from_string
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256
from werkzeug.serving import run_simple
from werkzeug.wrappers import Request, Response

XMLSEC1 = "/usr/bin/xmlsec1"
PASSWORD_PROTECTED_TRANSPORT = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"
NAME_ID_FORMATS: dict[str, str] = {
    "persistent": saml.NAMEID_FORMAT_PERSISTENT, "email": saml.NAMEID_FORMAT_EMAILADDRESS}

# Per profile: the NameFormat, and per form field the (FriendlyName, Name) of its attribute.
# "basic" is what the tests use unless they ask for another: Okta-like plain names;
# "uri" the standard OIDs (pysaml2's own SP maps them to mail/givenName/sn/isMemberOf);
# "entra" the claim URIs Microsoft Entra ID sends.
_CLAIMS = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/"
ATTRIBUTE_PROFILES: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "basic": (NAME_FORMAT_BASIC, {
        "email": ("email", "email"),
        "given_name": ("givenName", "givenName"),
        "family_name": ("surname", "surname"),
        "groups": ("groups", "groups"),
    }),
    "uri": (NAME_FORMAT_URI, {
        "email": ("mail", "urn:oid:0.9.2342.19200300.100.1.3"),
        "given_name": ("givenName", "urn:oid:2.5.4.42"),
        "family_name": ("sn", "urn:oid:2.5.4.4"),
        "groups": ("isMemberOf", "urn:oid:1.3.6.1.4.1.5923.1.5.1.1"),
    }),
    "entra": (NAME_FORMAT_UNSPECIFIED, {
        "email": ("emailaddress", _CLAIMS + "emailaddress"),
        "given_name": ("givenname", _CLAIMS + "givenname"),
        "family_name": ("surname", _CLAIMS + "surname"),
        "groups": ("groups", "http://schemas.microsoft.com/ws/2008/06/identity/claims/groups"),
    }),
}


def default_name_id(email: str) -> str:
    """The persistent NameID of ``email`` when the login names none: opaque, and the same on every sign-in."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()[:32]


class BadRequest(Exception):
    """What the IdP refuses, said to the browser as a 400 page."""


def _attribute_converters() -> list[Any]:
    converters = []
    for name_format, fields in ATTRIBUTE_PROFILES.values():
        converter = AttributeConverter(name_format)
        converter.from_dict({"identifier": name_format, "to": dict(fields.values())})
        converters.append(converter)
    return converters


class _Policy(Policy):  # type: ignore[misc]  # pysaml2 is untyped
    """pysaml2's release policy, with the Audience a test asked for instead of the SP's entity id."""

    def __init__(self, restrictions: dict[str, Any], mds: Any, audience: str | None) -> None:
        super().__init__(restrictions, mds=mds)
        self.audience = audience

    def conditions(self, sp_entity_id: str) -> Any:
        return super().conditions(self.audience if self.audience is not None else sp_entity_id)


@dataclass
class PendingRequest:
    """An AuthnRequest pysaml2 accepted, kept under a random key until the login form comes back."""

    request_id: str
    sp_entity_id: str
    acs_url: str
    relay_state: str | None
    binding: str
    name_id_format: str | None
    signed: bool  # its signature was required and verified
    xml: str

    def as_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


class SamlIdpApp:
    """The WSGI app; one pysaml2 ``Server``, used under a lock since the server runs threaded."""

    def __init__(self, base_url: str, key_file: str, cert_file: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.entity_id = self.base_url + "/metadata"
        sso = self.base_url + "/sso"
        config = IdPConfig()
        config.load({
            "entityid": self.entity_id,
            "service": {"idp": {
                "name": "Roster test SAML IdP",
                "endpoints": {"single_sign_on_service": [(sso, BINDING_HTTP_REDIRECT), (sso, BINDING_HTTP_POST)]},
                "name_id_format": list(NAME_ID_FORMATS.values()),
                "want_authn_requests_signed": False,
            }},
            "key_file": key_file,
            "cert_file": cert_file,
            "xmlsec_binary": XMLSEC1,
            "metadata": {},
        })
        config.attribute_converters = _attribute_converters()
        # imported here, not at the top: saml2.server warns (a cryptography deprecation) on import, and the
        # pytest process, whose warnings are errors, imports this module for its constants
        from saml2.server import Server

        self.server = Server(config=config)
        self.lock = threading.Lock()
        self.pending: dict[str, PendingRequest] = {}
        self.last_request: PendingRequest | None = None

    # -- SP metadata

    def add_sp(self, metadata_xml: str) -> list[str]:
        """Loads SP metadata, replacing what was known of the same entities; their entity ids."""
        loaded = InMemoryMetaData(self.server.metadata.attrc, metadata_xml)
        try:
            loaded.load()
        except Exception as exc:  # pysaml2 raises many kinds on bad XML
            raise BadRequest(f"unreadable SP metadata: {exc}") from exc
        entity_ids = list(loaded.keys())
        if not entity_ids:
            raise BadRequest("the SP metadata holds no entity")
        with self.lock:
            stores = self.server.metadata.metadata
            for key in [k for k, store in stores.items() if set(store.keys()) & set(entity_ids)]:
                del stores[key]
            stores[f"added:{secrets.token_hex(8)}"] = loaded
        return entity_ids

    def _known(self, entity_id: str) -> bool:
        try:
            self.server.metadata[entity_id]
        except KeyError:
            return False
        return True

    def _sp_signs_requests(self, entity_id: str) -> bool:
        descriptors = self.server.metadata[entity_id].get("spsso_descriptor", [])
        return any(str(d.get("authn_requests_signed", "")).lower() in ("true", "1") for d in descriptors)

    def _fetch_sp(self, entity_id: str) -> None:
        # Roster's SP entity id is the URL of its metadata, so an unknown SP is looked up where its name points
        if not re.match(r"https?://", entity_id):
            raise BadRequest(f"unknown SP {entity_id!r}, and its entity id is no URL to fetch metadata from")
        try:
            with urllib.request.urlopen(entity_id, timeout=10) as answer:
                metadata_xml = answer.read().decode()
        except OSError as exc:
            raise BadRequest(f"unknown SP {entity_id!r}; fetching its metadata failed: {exc}") from exc
        if entity_id not in self.add_sp(metadata_xml):
            raise BadRequest(f"the metadata at {entity_id} is not about the entity {entity_id!r}")

    # -- the AuthnRequest

    def accept_authn_request(self, request: Request) -> tuple[str, PendingRequest]:
        """The key the login form carries, and the request pysaml2 parsed and checked."""
        values = request.args if request.method == "GET" else request.form
        encoded = values.get("SAMLRequest")
        if not encoded:
            raise BadRequest("no SAMLRequest")
        binding = BINDING_HTTP_REDIRECT if request.method == "GET" else BINDING_HTTP_POST
        relay_state = values.get("RelayState")
        try:
            raw = decode_base64_and_inflate(encoded) if binding == BINDING_HTTP_REDIRECT else base64.b64decode(encoded)
            peek = authn_request_from_string(raw)
        except Exception as exc:
            raise BadRequest(f"SAMLRequest is no AuthnRequest: {exc}") from exc
        if peek is None or peek.issuer is None or not peek.issuer.text:
            raise BadRequest("the AuthnRequest has no Issuer")
        issuer = peek.issuer.text.strip()
        if not self._known(issuer):
            self._fetch_sp(issuer)
        signature = values.get("Signature")
        with self.lock:
            # pysaml2 checks a request's signature only when the IdP demands signed requests; a real IdP checks
            # any signature it is sent, and demands one from an SP whose metadata says AuthnRequestsSigned
            must = bool(signature) or peek.signature is not None or self._sp_signs_requests(issuer)
            self.server.config.setattr("idp", "want_authn_requests_signed", must)
            try:
                parsed = self.server.parse_authn_request(
                    encoded, binding, relay_state=relay_state, sigalg=values.get("SigAlg"), signature=signature)
                if parsed is None:
                    raise BadRequest("pysaml2 refused the AuthnRequest")
                args = self.server.response_args(parsed.message, [BINDING_HTTP_POST])
            except BadRequest:
                raise
            except Exception as exc:
                raise BadRequest(f"AuthnRequest refused: {type(exc).__name__}: {exc}") from exc
        message = parsed.message
        policy = message.name_id_policy
        pending = PendingRequest(
            request_id=message.id, sp_entity_id=args["sp_entity_id"], acs_url=args["destination"],
            relay_state=relay_state, binding=binding, name_id_format=policy.format if policy is not None else None,
            signed=must, xml=raw.decode() if isinstance(raw, bytes) else str(raw))
        key = secrets.token_urlsafe(16)
        with self.lock:
            self.pending[key] = pending
            self.last_request = pending
        return key, pending

    # -- the Response

    def authn_response(self, form: dict[str, str]) -> tuple[PendingRequest, str]:
        """The Response XML (signed as ``sign`` says) to the pending request named by ``form['key']``."""
        pending = self.pending.get(form.get("key", ""))
        if pending is None:
            raise BadRequest("unknown or missing request key")
        email = form.get("email", "").strip()
        if not email:
            raise BadRequest("email is required")
        profile = form.get("attributes") or "basic"
        if profile not in ATTRIBUTE_PROFILES:
            raise BadRequest(f"attributes must be one of {sorted(ATTRIBUTE_PROFILES)}")
        name_format, names = ATTRIBUTE_PROFILES[profile]
        values: dict[str, list[str]] = {
            "email": [email],
            "given_name": [form["given_name"]] if form.get("given_name") else [],
            "family_name": [form["family_name"]] if form.get("family_name") else [],
            "groups": [g.strip() for g in form.get("groups", "").split(",") if g.strip()],
        }
        identity = {names[field][0]: found for field, found in values.items() if found}

        name_id_format = self._name_id_format(form.get("name_id_format", ""), pending)
        name_id_value = form.get("name_id") or (
            email if name_id_format == saml.NAMEID_FORMAT_EMAILADDRESS else default_name_id(email))
        name_id = saml.NameID(format=name_id_format, text=name_id_value, name_qualifier=self.entity_id,
                              sp_name_qualifier=pending.sp_entity_id)

        sign = form.get("sign") or "assertion"
        if sign not in ("assertion", "response", "both", "none"):
            raise BadRequest("sign must be assertion, response, both or none")
        try:
            lifetime = int(form.get("not_on_or_after_seconds") or 3600)
        except ValueError as exc:
            raise BadRequest("not_on_or_after_seconds must be an integer") from exc
        # a form field present but empty means "leave InResponseTo out"
        in_response_to = (form["in_response_to"] or None) if "in_response_to" in form else pending.request_id
        recipient = form.get("recipient") or pending.acs_url
        farg = {"assertion": {"subject": {"subject_confirmation": {
            "method": saml.SCM_BEARER,
            "subject_confirmation_data": {"in_response_to": in_response_to, "recipient": recipient},
        }}}}
        with self.lock:
            policy = _Policy({"default": {"name_form": name_format, "lifetime": {"seconds": lifetime}}},
                             self.server.metadata, form.get("audience") or None)
            response = self.server.create_authn_response(
                identity, in_response_to, form.get("destination") or pending.acs_url, pending.sp_entity_id,
                name_id=name_id, authn={"class_ref": form.get("authn_context") or PASSWORD_PROTECTED_TRANSPORT},
                issuer=form.get("issuer") or None, sign_assertion=sign in ("assertion", "both"),
                sign_response=sign in ("response", "both"), sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256,
                release_policy=policy, farg=farg, best_effort=True)
        xml = str(response)
        if form.get("tamper") in ("1", "true", "yes"):
            xml = self._tamper(xml, email)
        return pending, xml

    @staticmethod
    def _name_id_format(asked: str, pending: PendingRequest) -> str:
        if asked:
            if asked in NAME_ID_FORMATS:
                return NAME_ID_FORMATS[asked]
            if asked in NAME_ID_FORMATS.values():
                return asked
            raise BadRequest("name_id_format must be persistent or email")
        if pending.name_id_format in NAME_ID_FORMATS.values():
            return str(pending.name_id_format)
        return NAME_ID_FORMATS["persistent"]

    @staticmethod
    def _tamper(xml: str, email: str) -> str:
        """The email attribute changed after signing, to another person of the same domain."""
        forged = "mallory@" + email.rpartition("@")[2]
        pattern = re.compile(r"(<(?:\w+:)?AttributeValue\b[^>]*>)" + re.escape(html.escape(email, quote=False)) + "<")
        tampered, count = pattern.subn(lambda m: m.group(1) + forged + "<", xml)
        if not count:
            raise RuntimeError("tamper: the email attribute value was not found in the Response")
        return tampered

    # -- HTTP

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except BadRequest as exc:
            response = Response(f"SAML IdP: {exc}\n", status=400, mimetype="text/plain")
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path, method = request.path, request.method
        if path == "/metadata" and method == "GET":
            return Response(str(entity_descriptor(self.server.config)), mimetype="application/samlmetadata+xml")
        if path == "/sso" and method in ("GET", "POST"):
            key, pending = self.accept_authn_request(request)
            return Response(_login_page(key, pending), mimetype="text/html")
        if path == "/sso/login" and method == "POST":
            pending, xml = self.authn_response(request.form.to_dict())
            fields = {"SAMLResponse": base64.b64encode(xml.encode()).decode()}
            if pending.relay_state is not None:
                fields["RelayState"] = pending.relay_state
            return Response(_auto_post_page(pending.acs_url, fields), mimetype="text/html")
        if path == "/test/sp" and method == "POST":
            entity_ids = self.add_sp(request.get_data(as_text=True))
            return Response(json.dumps({"entity_ids": entity_ids}), mimetype="application/json")
        if path == "/test/last-request" and method == "GET":
            last = self.last_request.as_json() if self.last_request else None
            return Response(json.dumps(last), mimetype="application/json")
        return Response("not found\n", status=404, mimetype="text/plain")


_KNOBS = ("given_name", "family_name", "groups", "name_id", "name_id_format", "authn_context", "attributes")


def _login_page(key: str, pending: PendingRequest) -> str:
    fields = "\n".join(f'<label>{name} <input name="{name}"></label><br>' for name in _KNOBS)
    return f"""<!doctype html>
<html><head><title>Test IdP sign-in</title></head><body>
<h1>Sign in to the test IdP</h1>
<p>For {html.escape(pending.sp_entity_id)}</p>
<form method="post" action="/sso/login">
<input type="hidden" name="key" value="{html.escape(key)}">
<label>email <input name="email" type="email" required></label><br>
{fields}
<button type="submit">Sign in</button>
</form></body></html>
"""


def _auto_post_page(action: str, fields: dict[str, str]) -> str:
    inputs = "\n".join(f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
                       for name, value in fields.items())
    return f"""<!doctype html>
<html><head><title>Signing you in</title></head><body onload="document.forms[0].submit()">
<form method="post" action="{html.escape(action)}">
{inputs}
<noscript><button type="submit">Continue</button></noscript>
</form></body></html>
"""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--key", required=True, help="PEM private key that signs")
    parser.add_argument("--cert", required=True, help="PEM certificate published in the metadata")
    parser.add_argument("--sp-metadata", action="append", default=[], help="SP metadata XML file to trust at start")
    args = parser.parse_args(argv)
    app = SamlIdpApp(f"http://{args.host}:{args.port}", args.key, args.cert)
    for path in args.sp_metadata:
        with open(path) as metadata:
            app.add_sp(metadata.read())
    run_simple(args.host, args.port, app, threaded=True)


if __name__ == "__main__":
    main()
