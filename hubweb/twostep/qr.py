"""QR codes for otpauth URIs, as inline SVG (no Pillow needed)."""

from __future__ import annotations

import base64

import qrcode
import qrcode.constants

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
    explicit size in px (``module_px`` per module). qrcode computes the
    modules; the SVG is drawn here, with one rectangle per run of dark
    modules. No XML declaration, so it can be inlined in HTML; it carries
    ``role="img"`` and ``aria-label``.

    :param uri: the text to encode, usually from ``otpauth_uri``.
    :param aria_label: the accessible name of the image.
    :param module_px: pixels per module, at least :data:`MIN_MODULE_PX`.
    :raises ValueError: if ``module_px`` is too small.
    :raises qrcode.exceptions.DataOverflowError: if ``uri`` is too long for any
        QR version.
    """
    if module_px < MIN_MODULE_PX:
        raise ValueError(f"module_px must be at least {MIN_MODULE_PX}")
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=BORDER)
    qr.add_data(uri)
    qr.make(fit=True)
    matrix = qr.get_matrix()  # rows of booleans, quiet zone included
    size = len(matrix)
    side = size * module_px
    svg = ET.Element("svg", {
        "xmlns": "http://www.w3.org/2000/svg", "viewBox": f"0 0 {size} {size}",
        "width": f"{side}px", "height": f"{side}px", "role": "img",
        "aria-label": aria_label, "shape-rendering": "crispEdges",
    })
    ET.SubElement(svg, "rect", {"fill": "white", "x": "0", "y": "0",
                                "width": "100%", "height": "100%"})
    ET.SubElement(svg, "path", {"fill": "black", "d": _runs_path(matrix)})
    return ET.tostring(svg, encoding="unicode")


def _runs_path(matrix: list[list[bool]]) -> str:
    """SVG path data drawing each horizontal run of dark modules as one rectangle.

    qrcode's own SVG factories draw every module separately; runs make the
    path about four times shorter, which matters in an htmx fragment.
    """
    parts = []
    for y, row in enumerate(matrix):
        x = 0
        while x < len(row):
            if not row[x]:
                x += 1
                continue
            end = x
            while end < len(row) and row[end]:
                end += 1
            parts.append(f"M{x},{y}h{end - x}v1h-{end - x}z")
            x = end
    return "".join(parts)


def qr_data_url(uri: str) -> str:
    """The QR code of ``uri`` as a ``data:image/svg+xml;base64,...`` URL for an ``<img>``.

    An ``<img>`` needs no markup to be trusted in the page, and the
    Content-Security-Policy allows ``img-src data:``.
    """
    svg = qr_svg(uri)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")
