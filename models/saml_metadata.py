"""A SAML IdP's metadata, as an admin pastes it or gives its URL: read by pysaml2, checked before it is stored.

pysaml2 parses the XML (through defusedxml: no entities, no external
references); this module only says whether it describes one IdP Roster can
use (an entity id, a single sign-on service, a signing certificate), and
what is wrong when it does not. Fetching a metadata URL is bounded in time
and size, as the URL is whatever an admin typed.
"""

from __future__ import annotations

import dataclasses
import urllib.error
import urllib.request

from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, md

from .errors import InvalidInputError
from .i18n import Text

MAX_METADATA = 1_000_000  # bytes: an IdP's own metadata is a few kB; federation aggregates are not for this
FETCH_TIMEOUT = 10.0


@dataclasses.dataclass(frozen=True)
class IdpMetadata:
    entity_id: str
    sso_url: str  # the HTTP-Redirect (or else HTTP-POST) single sign-on service
    certificates: int  # signing certificates found


def parse(xml: object) -> IdpMetadata:
    """What ``xml`` says of its IdP; InvalidInputError (field ``metadata``) says why it cannot be used."""
    if not isinstance(xml, str) or not xml.strip():
        raise InvalidInputError("Paste the IdP's metadata XML, or give its URL.", field="metadata")
    if len(xml.encode()) > MAX_METADATA:
        raise InvalidInputError(Text("The metadata is larger than %(size)s kB: give the IdP's own metadata, not a "
                                     "federation's.", size=MAX_METADATA // 1000), field="metadata")
    try:
        descriptor = md.entity_descriptor_from_string(xml.strip())
    except Exception as exc:  # pysaml2 and defusedxml raise many kinds for bad XML; all mean the same here
        raise InvalidInputError(Text("This is not SAML metadata Roster can read (%(error)s).",
                                     error=type(exc).__name__), field="metadata") from None
    if descriptor is None or not descriptor.entity_id:
        raise InvalidInputError("The metadata has no EntityDescriptor with an entityID.", field="metadata")
    idps = descriptor.idpsso_descriptor or []
    if not idps:
        raise InvalidInputError("The metadata describes no identity provider (no IDPSSODescriptor).",
                                field="metadata")
    services = {s.binding: s.location for s in (idps[0].single_sign_on_service or []) if s.location}
    sso_url = services.get(BINDING_HTTP_REDIRECT) or services.get(BINDING_HTTP_POST)
    if not sso_url:
        raise InvalidInputError("The IdP's metadata has no SingleSignOnService with the HTTP-Redirect or "
                                "HTTP-POST binding.", field="metadata")
    certificates = sum(1 for key in (idps[0].key_descriptor or []) if key.use in (None, "", "signing")
                       and key.key_info is not None and key.key_info.x509_data)
    if not certificates:
        raise InvalidInputError("The IdP's metadata has no signing certificate: Roster accepts only signed "
                                "responses.", field="metadata")
    return IdpMetadata(str(descriptor.entity_id), str(sso_url), certificates)


def fetch(url: str, timeout: float = FETCH_TIMEOUT) -> str:
    """The metadata at ``url`` (already checked by models.connections.check_url), as text."""
    request = urllib.request.Request(url, headers={"Accept": "application/samlmetadata+xml, application/xml"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310 - http(s) only, checked
            body = answer.read(MAX_METADATA + 1)
    except urllib.error.HTTPError as exc:
        exc.close()  # an error answer holds its socket open until closed
        raise InvalidInputError(Text("The metadata URL answered HTTP %(status)s.", status=exc.code),
                                field="metadata_url") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise InvalidInputError(Text("The metadata URL did not answer: %(reason)s.", reason=str(reason)[:200]),
                                field="metadata_url") from None
    if len(body) > MAX_METADATA:
        raise InvalidInputError(Text("The metadata at this URL is larger than %(size)s kB.", size=MAX_METADATA // 1000),
                                field="metadata_url")
    try:
        return str(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInputError("The metadata at this URL is not UTF-8 text.", field="metadata_url") from None
