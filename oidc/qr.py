"""The TOTP enrolment QR code, drawn as inline SVG by segno (no image request, no JavaScript)."""

from __future__ import annotations

import html

import segno

DEFAULT_LABEL = "QR code to scan with your authenticator app"
SCALE = 5
# the quiet zone ISO/IEC 18004 asks for around the symbol
BORDER = 4


def qr_svg(uri: str, *, label: str = DEFAULT_LABEL) -> str:
    """An inline ``<svg>`` of ``uri`` (an ``otpauth://`` URI) for a page to embed as is.

    Accessible as an image: ``role="img"`` with ``aria-label`` and a
    ``<title>``. The label never repeats the URI, which holds the secret;
    the page shows the secret as text for those who cannot scan.
    """
    # error level M: the usual trade between size and damage tolerance for a screen
    code = segno.make(uri, error="m", micro=False)
    svg = code.svg_inline(scale=SCALE, border=BORDER, dark="#000", light="#fff", title=label, svgclass="qr-code",
                          lineclass=None, omitsize=True)
    width, height = code.symbol_size(scale=SCALE, border=BORDER)
    # a viewBox (so CSS may resize it) and a natural size (so it needs no CSS)
    attributes = f'<svg role="img" aria-label="{html.escape(label, quote=True)}" width="{width}" height="{height}" '
    return svg.replace("<svg ", attributes, 1)
