"""QR codes for otpauth URIs, as inline SVG (no Pillow needed)."""

from __future__ import annotations

import base64

import qrcode
import qrcode.constants
import qrcode.image.svg

# The same ElementTree module qrcode builds with (lxml when installed).
from qrcode.compat.etree import ET

#: Quiet zone in modules (ISO/IEC 18004 section 7.3.8 asks for 4).
BORDER = 4
#: Rendered size of one module in CSS pixels; scanners need at least 4.
MODULE_PX = 5
MIN_MODULE_PX = 4
DEFAULT_LABEL = "QR code to scan with your authenticator app"


def qr_svg(uri: str, *, aria_label: str = DEFAULT_LABEL, module_px: int = MODULE_PX) -> str:
    """Return an ``<svg>`` element string showing ``uri`` as a QR code.

    Error correction level M (about 15 % recovery), a quiet zone of
    :data:`BORDER` modules, black modules on an opaque white rectangle, and an
    explicit size in px (``module_px`` per module) instead of the ``mm`` that
    qrcode's SVG factory writes. No XML declaration, so it can be inlined in
    HTML; it carries ``role="img"`` and ``aria-label``.

    :param uri: the text to encode, usually from ``otpauth_uri``.
    :param aria_label: the accessible name of the image.
    :param module_px: pixels per module, at least :data:`MIN_MODULE_PX`.
    :raises ValueError: if ``module_px`` is too small.
    :raises qrcode.exceptions.DataOverflowError: if ``uri`` is too long for any
        QR version.
    """
    if module_px < MIN_MODULE_PX:
        raise ValueError(f"module_px must be at least {MIN_MODULE_PX}")
    qr = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        border=BORDER,
        # box_size 10 is one viewBox unit per module in qrcode's SVG factories.
        box_size=10,
        image_factory=qrcode.image.svg.SvgPathFillImage,
    )
    qr.add_data(uri)
    qr.make(fit=True)
    svg = qr.make_image().get_image()

    side = (qr.modules_count + 2 * BORDER) * module_px
    svg.set("width", f"{side}px")
    svg.set("height", f"{side}px")
    svg.set("role", "img")
    svg.set("aria-label", aria_label)
    svg.set("shape-rendering", "crispEdges")
    for path in svg.iter("path"):
        # A fixed id would repeat if two codes were on one page.
        path.attrib.pop("id", None)
    return ET.tostring(svg, encoding="unicode")


def qr_data_url(uri: str) -> str:
    """The QR code of ``uri`` as a ``data:image/svg+xml;base64,...`` URL for an ``<img>``.

    An ``<img>`` needs no markup to be trusted in the page, and the
    Content-Security-Policy allows ``img-src data:``.
    """
    svg = qr_svg(uri)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
