"""TOTP secrets, otpauth URIs, QR codes (read by netpbm, decoded with zbar) and the KeyBox."""

import base64
import re
import struct
import zlib

import pytest
from cryptography.fernet import Fernet

from hubweb.twostep.keys import (
    KeyBox,
    KeyBoxError,
    group_secret,
    new_secret,
    otpauth_uri,
    parse_otpauth_uri,
)
from hubweb.twostep.qr import BORDER, MODULE_PX, qr_image, qr_png
from tests.support.authenticator import decode_qr, decode_qr_png, pbm_of_png, png_of

ISSUER = "Business Hub"
AWKWARD_ACCOUNTS = [
    "plain@example.com",
    "a+b@example.com",
    "x#y@example.com",
    "q?r&s%t@example.com",
    "name with space@example.com",
    "jürgen@exämple.de",
]




def test_new_secret_shape():
    secrets_ = {new_secret() for _ in range(50)}
    assert len(secrets_) == 50
    for s in secrets_:
        assert re.fullmatch(r"[A-Z2-7]{32}", s)
        assert len(base64.b32decode(s)) == 20  # 160 bits


def test_group_secret():
    assert group_secret("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ") == (
        "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"
    )
    assert group_secret("ABCDEF") == "ABCD EF"
    assert group_secret("ABCD EFGH") == "ABCD EFGH"


def test_otpauth_uri_exact():
    uri = otpauth_uri("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "a+b@example.com", ISSUER)
    assert uri == (
        "otpauth://totp/Business%20Hub:a%2Bb%40example.com"
        "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Business%20Hub"
        "&algorithm=SHA1&digits=6&period=30"
    )


@pytest.mark.parametrize("account", AWKWARD_ACCOUNTS)
def test_otpauth_round_trip(account):
    secret = new_secret()
    uri = otpauth_uri(secret, account, ISSUER)
    assert "=" not in secret
    assert uri.isascii() and " " not in uri and "#" not in uri
    assert uri.count("?") == 1
    assert parse_otpauth_uri(uri) == {
        "issuer": ISSUER, "account": account, "secret": secret,
        "algorithm": "SHA1", "digits": 6, "period": 30,
    }


@pytest.mark.parametrize(("account", "issuer"), [
    ("a@example.com", "Bad:Issuer"), ("a:b@example.com", ISSUER), ("", ISSUER),
    ("a@example.com", ""),
])
def test_otpauth_rejects_colon_or_empty(account, issuer):
    with pytest.raises(ValueError):
        otpauth_uri(new_secret(), account, issuer)


def test_parse_rejects_other_uris():
    with pytest.raises(ValueError):
        parse_otpauth_uri("otpauth://hotp/A:b?secret=AAAA")
    with pytest.raises(ValueError):
        parse_otpauth_uri("otpauth://totp/A:b?secret=AAAA&issuer=B")


def _chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """The chunks of a PNG file (PNG spec, section 5), each CRC checked."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(png):
        (length,) = struct.unpack(">I", png[at:at + 4])
        kind, data = png[at + 4:at + 8], png[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length:at + 12 + length])
        assert zlib.crc32(kind + data) == crc, kind
        chunks.append((kind, data))
        at += 12 + length
    return chunks


def test_qr_png_is_a_small_bilevel_image_one_pixel_per_module(tmp_path):
    uri = otpauth_uri(new_secret(), "typical@example.com", ISSUER)
    png, modules = qr_png(uri)
    chunks = _chunks(png)
    assert [k for k, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]  # nothing else to carry
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (width, height) == (modules, modules)
    assert (depth, colour, interlace) == (1, 0, 0)  # 1-bit greyscale, not interlaced
    # Version 8 (49 modules) at level M holds this 147-character URI; 4 each side.
    assert modules == 49 + 2 * BORDER
    assert len(png) < 600
    pixels = pbm_of_png(png, tmp_path)
    assert len(pixels) == modules and {len(row) for row in pixels} == {modules}
    # The quiet zone is white all round; the finder patterns' corners are dark.
    for i in range(BORDER):
        assert not any(pixels[i]) and not any(pixels[-1 - i])
        assert not any(row[i] for row in pixels) and not any(row[-1 - i] for row in pixels)
    # A finder pattern (ISO/IEC 18004) just inside the quiet zone at three corners:
    # dark 7x7 ring, light 5x5 ring, dark 3x3 centre; the light separator after it.
    finder = [[max(abs(dx - 3), abs(dy - 3)) != 2 for dx in range(8)] for dy in range(8)]
    for row in finder:
        row[7] = False
    finder[7] = [False] * 8
    end = modules - BORDER - 1
    for y0, x0, sy, sx in ((BORDER, BORDER, 1, 1), (BORDER, end, 1, -1), (end, BORDER, -1, 1)):
        seen = [[pixels[y0 + sy * dy][x0 + sx * dx] for dx in range(8)] for dy in range(8)]
        assert seen == finder, (y0, x0)


def test_qr_image_data_url_and_display_size(tmp_path):
    uri = otpauth_uri(new_secret(), "a@example.com", ISSUER)
    image = qr_image(uri)
    png, modules = qr_png(uri)
    assert image.data_url == "data:image/png;base64," + base64.b64encode(png).decode()
    assert png_of(image.data_url) == png
    assert image.modules == modules
    assert image.display_px == modules * MODULE_PX and MODULE_PX >= 4
    assert qr_image(uri, module_px=4).display_px == modules * 4
    with pytest.raises(ValueError):
        qr_image(uri, module_px=3)
    assert decode_qr(image.data_url, tmp_path) == uri


@pytest.mark.parametrize("account", AWKWARD_ACCOUNTS)
def test_qr_decodes_to_the_exact_uri(account, tmp_path):
    uri = otpauth_uri(new_secret(), account, ISSUER)
    png, _ = qr_png(uri)
    assert decode_qr_png(png, tmp_path) == uri


def test_long_uri_takes_a_larger_version(tmp_path):
    uri = otpauth_uri(new_secret(), "a" * 64 + "@" + "b" * 60 + ".example.com", ISSUER)
    png, modules = qr_png(uri)
    assert modules > 49 + 2 * BORDER
    assert decode_qr_png(png, tmp_path) == uri


def _keys(n):
    return [Fernet.generate_key().decode("ascii") for _ in range(n)]


def test_keybox_round_trip():
    box = KeyBox(_keys(1))
    secret = new_secret()
    token = box.encrypt(secret)
    assert secret not in token
    assert box.encrypt(secret) != token  # fresh IV each time
    assert box.decrypt(token) == secret
    assert box.needs_rotation(token) is False


def test_keybox_rotation():
    old, new = _keys(2)
    secret = new_secret()
    token = KeyBox([old]).encrypt(secret)
    box = KeyBox([new, old])
    assert box.decrypt(token) == secret
    assert box.needs_rotation(token) is True
    rotated = box.rotate(token)
    assert box.needs_rotation(rotated) is False
    assert KeyBox([new]).decrypt(rotated) == secret
    with pytest.raises(KeyBoxError):
        KeyBox([old]).decrypt(rotated)


def test_keybox_wrong_key_and_garbage():
    token = KeyBox(_keys(1)).encrypt(new_secret())
    other = KeyBox(_keys(2))
    for bad in (token, "not a token", "é", token[:-2] + "AA"):
        with pytest.raises(KeyBoxError):
            other.decrypt(bad)
        with pytest.raises(KeyBoxError):
            other.needs_rotation(bad)
        with pytest.raises(KeyBoxError):
            other.rotate(bad)


def test_keybox_bad_config():
    with pytest.raises(ValueError):
        KeyBox([])
    with pytest.raises(ValueError):
        KeyBox(["too-short"])
