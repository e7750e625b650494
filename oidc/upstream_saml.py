"""An account's upstream SAML 2.0 IdP (DESIGN.md §7): Roster as the service provider, through pysaml2 and xmlsec1.

Each connection is its own SP: entity id (the URL of its metadata), an ACS
URL, the IdP's metadata as the admin gave it. The AuthnRequest goes by
HTTP-Redirect with a RelayState; the Response comes back by HTTP-POST.
pysaml2 checks the signature (of the response or of the assertion: one is
required), audience, recipient, InResponseTo and the time window; Destination
is checked here too, and each assertion ID is accepted once
(models.connections.SamlAssertion, in the database for every instance).
"""

from __future__ import annotations

import datetime as dt
import functools
import shutil
from typing import Any

import peewee
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.client import Saml2Client
from saml2.config import SPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAMEID_FORMAT_UNSPECIFIED
from saml2.sigver import CryptoBackendXmlSec1

from models import clock, sso
from models.connections import Connection, SamlAssertion, Urls
from models.database import transaction
from models.i18n import Text

from .upstream_oidc import UpstreamError

ACCEPTED_CLOCK_SKEW = 60  # seconds
MAX_RESPONSE = 1_000_000  # bytes of base64: a Response with a few attributes is a few kB
# how the usual AuthnContextClassRefs read as RFC 8176 methods (what the ID tokens Roster issues carry)
CONTEXT_METHODS = {
    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport": "pwd",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:Password": "pwd",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:X509": "swk",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard": "sc",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:SmartcardPKI": "sc",
    "urn:oasis:names:tc:SAML:2.0:ac:classes:TimeSyncToken": "otp",
    "http://schemas.microsoft.com/claims/multipleauthn": "mfa",
}


def xmlsec_binary() -> str:
    found = shutil.which("xmlsec1") or shutil.which("xmlsec1", path="/usr/bin")
    if not found:
        raise UpstreamError("xmlsec_missing", Text("xmlsec1 is not installed on this server (Debian package "
                                                   "xmlsec1), so SAML signatures cannot be checked."))
    return found


def _config(connection: Connection, urls: Urls) -> SPConfig:
    config = SPConfig()
    config.load({
        "entityid": urls.entity_id,
        "xmlsec_binary": xmlsec_binary(),
        "allow_unknown_attributes": True,
        "accepted_time_diff": ACCEPTED_CLOCK_SKEW,
        "metadata": {"inline": [connection.idp_metadata_xml]} if connection.idp_metadata_xml else {},
        "service": {"sp": {
            "name": connection.name,
            "endpoints": {"assertion_consumer_service": [(urls.acs_url, BINDING_HTTP_POST)]},
            "allow_unsolicited": False,  # every response answers a request Roster sent (InResponseTo)
            "authn_requests_signed": False,
            "want_response_signed": False,
            "want_assertions_signed": False,
            "want_assertions_or_response_signed": True,  # F7: an unsigned response with an unsigned assertion fails
            "name_id_format": [NAMEID_FORMAT_UNSPECIFIED],
        }},
    })
    return config


@functools.cache
def _xmlsec_version(binary: str) -> str:
    return str(CryptoBackendXmlSec1(binary).version)


class _KnownVersionXmlSec1(CryptoBackendXmlSec1):  # type: ignore[misc]  # pysaml2 is untyped
    """pysaml2's xmlsec1 backend, which asks ``xmlsec1 --version`` twice per signature it checks (two process
    starts beside the one that checks): the version is asked once per process instead. Measured on a real
    response: 55.7 → 48.4 ms and 44.6 → 37.3 ms of xmlsec1 CPU (tests/sso/test_saml_speed.py counts the runs)."""

    @property
    def version(self) -> str:
        return _xmlsec_version(self.xmlsec)


@functools.lru_cache(maxsize=64)
def _client(connection_id: str, updated_at: dt.datetime, urls: Urls, connection: Connection) -> Saml2Client:
    """One SP per connection version: parsing the IdP's metadata costs more than the rest of a sign-in."""
    del connection_id, updated_at  # the cache key: a changed connection gets a new SP
    made = Saml2Client(config=_config(connection, urls))
    if type(made.sec.crypto) is CryptoBackendXmlSec1:
        made.sec.crypto.__class__ = _KnownVersionXmlSec1
    return made


def client(connection: Connection, urls: Urls) -> Saml2Client:
    return _client(connection.id, connection.updated_at, urls, connection)


def sp_metadata(connection: Connection, urls: Urls) -> str:
    """The SP metadata an admin gives the IdP: entity id, ACS (HTTP-POST), no signing of its own."""
    made = create_metadata_string(None, config=_config(connection, urls), valid=None)
    return made.decode() if isinstance(made, bytes) else str(made)


def authn_request(connection: Connection, urls: Urls, relay_state: str) -> tuple[str, str]:
    """(the AuthnRequest's ID, the URL of the IdP's SSO service carrying it by HTTP-Redirect)."""
    try:
        request_id, info = client(connection, urls).prepare_for_authenticate(
            entityid=connection.idp_entity_id, relay_state=relay_state, binding=BINDING_HTTP_REDIRECT)
    except Exception as exc:  # pysaml2 raises plain exceptions for metadata it cannot use
        raise UpstreamError("upstream_invalid", Text("Roster could not build the request to the IdP (%(error)s): "
                                                     "check the IdP metadata.", error=type(exc).__name__)) from None
    location = dict(info["headers"]).get("Location", "")
    return str(request_id), str(location)


def _first(ava: dict[str, list[Any]], names: tuple[str, ...]) -> str:
    lowered = {k.lower(): v for k, v in ava.items()}
    for name in names:
        values = ava.get(name) or lowered.get(name.lower())
        if values:
            return str(values[0]).strip()
    return ""


def _all(ava: dict[str, list[Any]], names: tuple[str, ...]) -> tuple[str, ...]:
    lowered = {k.lower(): v for k, v in ava.items()}
    for name in names:
        values = ava.get(name) or lowered.get(name.lower())
        if values:
            return tuple(str(v)[:256] for v in values if isinstance(v, str))[:100]
    return ()


def finish(connection: Connection, urls: Urls, saml_response: str, request_id: str) -> tuple[sso.Asserted,
                                                                                              dict[str, Any]]:
    """F7 on the POSTed response: (the person asserted, what was received, for the admin's test page)."""
    if not isinstance(saml_response, str) or not saml_response or len(saml_response) > MAX_RESPONSE:
        raise UpstreamError("no_response", Text("The IdP sent no SAML response."))
    try:
        response = client(connection, urls).parse_authn_request_response(
            saml_response, BINDING_HTTP_POST, outstanding={request_id: "roster"},
            # without conv_info pysaml2 does not check SubjectConfirmationData's Recipient at all
            conv_info={"entity_id": urls.acs_url})
    except Exception as exc:  # pysaml2's refusals are many classes (SignatureError, ToEarly, UnsolicitedResponse…)
        raise UpstreamError(_reason(exc), Text("The SAML response was refused: %(error)s.", error=_describe(exc))) \
            from None
    if response is None:  # what pysaml2 answers to a Destination that is not ours
        raise UpstreamError("wrong_destination", Text("The SAML response was refused: its Destination is not this "
                                                      "connection's ACS URL."))
    if response.response.destination != urls.acs_url:
        raise UpstreamError("wrong_destination", Text("The SAML response's Destination is not this connection's ACS "
                                                      "URL."))
    if response.in_response_to != request_id:
        raise UpstreamError("wrong_in_response_to", Text("The SAML response answers another request (InResponseTo)."))
    assertion = response.assertion
    name_id = response.name_id.text.strip() if response.name_id is not None and response.name_id.text else ""
    if not name_id:
        raise UpstreamError("no_subject", Text("The SAML assertion has no NameID."))
    _use_once(connection, str(assertion.id), response.not_on_or_after)
    ava = response.get_identity() or {}
    contexts = [str(ref) for ref, *_ in (response.authn_info() or []) if ref]
    methods = tuple(dict.fromkeys(CONTEXT_METHODS[c] for c in contexts if c in CONTEXT_METHODS))
    second_factor = bool(set(contexts) & set(connection.mfa_contexts or [])) or "mfa" in methods
    asserted = sso.Asserted(
        subject=name_id[:512],
        email=_first(ava, connection.attribute_names("email"))[:320] or (name_id if "@" in name_id else ""),
        given_name=_first(ava, connection.attribute_names("given_name"))[:200],
        family_name=_first(ava, connection.attribute_names("family_name"))[:200],
        groups=_all(ava, connection.attribute_names("groups")),
        methods=methods + (("mfa",) if second_factor and "mfa" not in methods else ()),
        second_factor=second_factor,
    )
    received = {"NameID": name_id, "attributes": {k: [str(v) for v in vs] for k, vs in ava.items()},
                "AuthnContextClassRef": contexts, "assertion_id": str(assertion.id)}
    return asserted, received


def _use_once(connection: Connection, assertion_id: str, not_on_or_after: int) -> None:
    """F7: an assertion ID is accepted once; kept until its NotOnOrAfter, after which time alone refuses it."""
    until = dt.datetime.fromtimestamp(not_on_or_after or 0, dt.UTC).replace(tzinfo=None)
    until = max(until, clock.now() + dt.timedelta(seconds=ACCEPTED_CLOCK_SKEW)) + dt.timedelta(
        seconds=ACCEPTED_CLOCK_SKEW)
    try:
        with transaction():
            SamlAssertion.create(connection=connection.id, assertion_id=assertion_id[:256], expires_at=until)
    except peewee.IntegrityError:
        raise UpstreamError("replayed", Text("This SAML assertion was used already: a response is accepted once.")) \
            from None


def _reason(exc: Exception) -> str:
    name = type(exc).__name__
    if "signed" in str(exc) or "signature" in str(exc).lower():
        return "bad_signature"
    return {"SignatureError": "bad_signature", "IncorrectlySigned": "bad_signature",
            "ResponseLifetimeExceed": "expired", "ToEarly": "not_yet_valid", "UnsolicitedResponse":
            "wrong_in_response_to", "StatusError": "idp_error", "VerificationError": "invalid_response"}.get(
        name, "invalid_response")


def _describe(exc: Exception) -> str:
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}{': ' + text if text else ''}"
