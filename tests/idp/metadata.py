"""SAML IdP metadata for tests that only need Roster to read it (no signing, no running IdP).

:func:`idp_metadata` writes the smallest EntityDescriptor that
``models.saml_metadata.parse`` accepts: an IDPSSODescriptor with a signing
KeyDescriptor (a fresh self-signed certificate) and a SingleSignOnService
over HTTP-Redirect. :class:`MetadataServer` serves a text on loopback, for
the "metadata URL" way of adding a connection.
"""

from __future__ import annotations

import base64
import datetime as dt
import http.server
import threading
from functools import cache
from types import TracebackType
from xml.sax.saxutils import quoteattr

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ENTITY_ID = "https://idp.acme.example/saml/metadata"
SSO_URL = "https://idp.acme.example/saml/sso"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"


def self_signed(common_name: str) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A 2048-bit RSA key and a self-signed certificate for it, valid for a month from an hour ago."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    return key, cert


@cache
def certificate_der(common_name: str = "idp.acme.example") -> bytes:
    """A self-signed RSA certificate (DER); one per name per test run, as key generation is slow."""
    return self_signed(common_name)[1].public_bytes(serialization.Encoding.DER)


def idp_metadata(entity_id: str = ENTITY_ID, sso_url: str = SSO_URL, *, binding: str = REDIRECT,
                 signing: bool = True) -> str:
    """IdP metadata as an IdP publishes it; ``signing=False`` leaves the certificate out (which Roster refuses)."""
    certificate = base64.b64encode(certificate_der()).decode()
    key = (f'<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>{certificate}'
           "</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>") if signing else ""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
            f'xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID={quoteattr(entity_id)}>'
            '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" '
            'WantAuthnRequestsSigned="false">'
            f"{key}"
            "<md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>"
            f"<md:SingleSignOnService Binding={quoteattr(binding)} Location={quoteattr(sso_url)}/>"
            "</md:IDPSSODescriptor></md:EntityDescriptor>\n")


class MetadataServer:
    """An HTTP server on 127.0.0.1 answering ``GET /metadata`` with ``body`` (any other path: 404)."""

    def __init__(self, body: str, content_type: str = "application/samlmetadata+xml") -> None:
        served = body.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                found = self.path == "/metadata"
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", content_type if found else "text/plain")
                payload = served if found else b"not found"
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
                """Quiet: pytest shows what a test prints."""

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/metadata"

    def __enter__(self) -> MetadataServer:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
