"""QR codes for otpauth URIs, as small PNG images to inline in a page.

The code is computed by qrcode (ISO/IEC 18004) and written by qrcode's
``PyPNGImage`` (pypng, no Pillow needed) at one pixel per module: a 1-bit
greyscale PNG of a few hundred bytes, which the browser scales up without
smoothing (``image-rendering: pixelated`` in ``static/style.css``) to
:data:`MODULE_PX` CSS pixels per module. The same code as an SVG path was
about 9 KB, too heavy for the htmx fragment that carries it.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import qrcode
import qrcode.constants
from qrcode.image.pure import PyPNGImage

#: Quiet zone in modules: ISO/IEC 18004 asks for 4 on each side.
BORDER = 4
#: Displayed size of one module, in CSS pixels; scanners need at least 4.
MODULE_PX = 5
MIN_MODULE_PX = 4


@dataclass(frozen=True)
class QrImage:
    """A QR code as a PNG ``data:`` URL, with its size.

    :ivar data_url: ``data:image/png;base64,...``: a 1-bit greyscale PNG, one
        pixel per module, dark modules black (0) on white (1), quiet zone
        included.
    :ivar modules: modules per side, quiet zone included; also the PNG's width
        and height in pixels.
    :ivar display_px: the width and height to show it at, in CSS pixels
        (``modules`` x :data:`MODULE_PX`), for the ``<img>``'s ``width`` and
        ``height`` attributes.
    """

    data_url: str
    modules: int
    display_px: int


def qr_png(uri: str) -> tuple[bytes, int]:
    """Encode ``uri`` as a QR code PNG, one pixel per module.

    Error correction level M (about 15 % of the codewords recoverable), the
    smallest version (1-40) that holds ``uri``, qrcode's default mask choice
    and mode optimisation (e.g. the base32 key in alphanumeric mode), and a
    quiet zone of :data:`BORDER` modules.

    :param uri: the text to encode, usually from ``otpauth_uri`` (UTF-8 in
        byte mode where it is not plain ASCII).
    :return: ``(png, modules)``: the PNG file's bytes (greyscale, bit depth 1,
        no palette, no alpha) and its width and height in pixels, which is
        the number of modules per side, quiet zone included.
    :raises qrcode.exceptions.DataOverflowError: if ``uri`` is too long for
        any QR version (over 2,331 bytes at level M).
    """
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=1,
                       border=BORDER, image_factory=PyPNGImage)
    qr.add_data(uri)
    qr.make(fit=True)
    buffer = io.BytesIO()
    qr.make_image().save(buffer)
    return buffer.getvalue(), qr.modules_count + 2 * BORDER


def qr_image(uri: str, *, module_px: int = MODULE_PX) -> QrImage:
    """The QR code of ``uri`` (see :func:`qr_png`) as a ``data:`` URL for an ``<img>``.

    Inline, so the key never travels in a URL of its own; an ``<img>`` needs
    no markup to be trusted, and the Content-Security-Policy allows
    ``img-src data:``.

    :param uri: the text to encode.
    :param module_px: CSS pixels per module when shown, at least
        :data:`MIN_MODULE_PX`.
    :raises ValueError: if ``module_px`` is too small.
    :raises qrcode.exceptions.DataOverflowError: if ``uri`` is too long.
    """
    if module_px < MIN_MODULE_PX:
        raise ValueError(f"module_px must be at least {MIN_MODULE_PX}")
    png, modules = qr_png(uri)
    data_url = "data:image/png;base64," + base64.b64encode(png).decode("ascii")
    return QrImage(data_url, modules, modules * module_px)
