"""The TOTP enrolment QR code: inline, accessible SVG that does not leak the secret in its label."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import segno

from oidc.qr import DEFAULT_LABEL, qr_svg

URI = "otpauth://totp/Roster:ada%40acme.example?secret=JBSWY3DPEHPK3PXP&issuer=Roster"


def test_qr_svg_is_an_accessible_inline_image():
    svg = qr_svg(URI)

    root = ET.fromstring(svg)
    assert root.tag.rsplit("}", 1)[-1] == "svg"
    assert not svg.startswith("<?xml")
    assert root.get("role") == "img"
    assert root.get("aria-label") == DEFAULT_LABEL
    assert root.findtext("{*}title", default=root.findtext("title")) == DEFAULT_LABEL
    assert root.get("viewBox") and root.get("width") == root.get("height")
    assert "JBSWY3DPEHPK3PXP" not in svg


def test_qr_svg_draws_the_uri_and_escapes_the_label():
    svg = qr_svg(URI, label='Scan "this" <now>')

    assert 'aria-label="Scan &quot;this&quot; &lt;now&gt;"' in svg
    ET.fromstring(svg)
    size = segno.make(URI, error="m", micro=False).symbol_size(scale=5, border=4)
    assert ET.fromstring(svg).get("width") == str(size[0])
    assert qr_svg(URI.replace("JBSWY3DPEHPK3PXP", "KRSXG5CTMVRXEZLU")) != qr_svg(URI)
