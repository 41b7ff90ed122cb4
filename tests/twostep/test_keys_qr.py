"""TOTP secrets, otpauth URIs, QR codes (decoded with zbar) and the KeyBox."""

import base64
import re
import subprocess

import pytest
from conftest import require_tools
from cryptography.fernet import Fernet

from hubweb.twostep.keys import (
    KeyBox,
    KeyBoxError,
    group_secret,
    new_secret,
    otpauth_uri,
    parse_otpauth_uri,
)
from hubweb.twostep.qr import qr_svg

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


def test_qr_svg_markup():
    svg = qr_svg(otpauth_uri(new_secret(), "a@example.com", ISSUER), aria_label="Scan <me>")
    assert svg.startswith("<svg ") and svg.endswith("</svg>")
    assert "<?xml" not in svg and "mm" not in svg
    assert 'role="img"' in svg and 'aria-label="Scan &lt;me&gt;"' in svg
    assert '<rect fill="white" x="0" y="0" width="100%" height="100%"' in svg
    assert 'id="' not in svg
    width = int(re.search(r'width="(\d+)px"', svg).group(1))
    modules = int(re.search(r'viewBox="0 0 (\d+) \1"', svg).group(1))
    assert width / modules >= 4
    # Quiet zone: no dark module starts closer than 4 modules to the edge.
    starts = [(int(x), int(y)) for x, y in re.findall(r"M(\d+),(\d+)", svg)]
    assert min(min(p) for p in starts) == 4
    assert max(max(p) for p in starts) == modules - 5
    with pytest.raises(ValueError):
        qr_svg("x", module_px=3)


@pytest.mark.parametrize("account", AWKWARD_ACCOUNTS)
def test_qr_decodes_to_the_exact_uri(account, tmp_path):
    require_tools("rsvg-convert", "zbarimg")
    uri = otpauth_uri(new_secret(), account, ISSUER)
    (tmp_path / "qr.svg").write_text(qr_svg(uri), encoding="utf-8")
    subprocess.run(["rsvg-convert", str(tmp_path / "qr.svg"), "-o", str(tmp_path / "qr.png")],
                   check=True, timeout=20)
    out = subprocess.run(["zbarimg", "--raw", "-q", str(tmp_path / "qr.png")],
                         capture_output=True, text=True, check=True, timeout=20).stdout
    assert out.removesuffix("\n") == uri


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
