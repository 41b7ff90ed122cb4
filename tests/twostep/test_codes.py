"""One-time code helpers: normalising input, generating, hashing, throttling."""

import hashlib
import hmac

import pytest

from hubweb.twostep import codes
from hubweb.twostep.codes import (
    codes_match,
    failure_delay,
    generate_code,
    hash_code,
    normalize_code,
)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("123456", "123456"),
        ("123 456", "123456"),
        ("\t123\u00a0456 ", "123456"),
        ("12\u202f34\u200756", "123456"),
        ("1\n2\r3\u30004\u20035 6", "123456"),
        ("１２３４５６", "123456"),
        ("٠١٢٣٤٥", "012345"),
        ("۰۱۲ ۳۴۵", "012345"),
        ("012345", "012345"),
        ("000000", "000000"),
        ("12345", None),
        ("1234567", None),
        ("abcdef", None),
        ("12345a", None),
        ("123-456", None),
        ("²23456", None),
        ("", None),
        ("   ", None),
    ],
)
def test_normalize_code(typed, expected):
    assert normalize_code(typed) == expected


def test_normalize_code_other_lengths():
    assert normalize_code("0123 4567", digits=8) == "01234567"
    assert normalize_code("123456", digits=8) is None
    with pytest.raises(ValueError):
        normalize_code("1", digits=0)


def test_generate_code_shape():
    seen = {generate_code() for _ in range(200)}
    assert all(len(c) == 6 and c.isascii() and c.isdigit() for c in seen)
    assert len(seen) > 150  # random, not constant
    assert len(generate_code(8)) == 8


def test_generate_code_zero_padded(monkeypatch):
    monkeypatch.setattr(codes.secrets, "randbelow", lambda n: 42)
    assert generate_code() == "000042"


def test_hash_code_value_and_binding():
    key = b"server-key"
    h = hash_code(key, "123456", context="login:1:+447700900123")
    # HMAC-SHA256("server-key", "login:1:+447700900123\x00123456"), computed independently.
    assert h == hmac.new(key, b"login:1:+447700900123\x00123456", hashlib.sha256).hexdigest()
    assert len(h) == 64
    assert h != hash_code(key, "123456", context="login:2:+447700900123")
    assert h != hash_code(key, "123456", context="setup:1:+447700900123")
    assert h != hash_code(b"other-key", "123456", context="login:1:+447700900123")
    with pytest.raises(ValueError):
        hash_code(key, "123456", context="a\x00b")


def test_codes_match():
    key = b"k" * 32
    stored = hash_code(key, "012345", context="ctx")
    assert codes_match(key, "012345", "ctx", stored)
    assert not codes_match(key, "012346", "ctx", stored)
    assert not codes_match(key, "012345", "other", stored)
    assert not codes_match(key, "012345", "ctx", "")
    assert not codes_match(key, "012345", "ctx", "é" * 64)


@pytest.mark.parametrize(
    ("failures", "delay"),
    [(0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (5, 60), (6, 120), (7, 240), (8, 480),
     (9, 960), (10, 1920), (11, 3600), (12, 3600), (50, 3600), (10**9, 3600)],
)
def test_failure_delay(failures, delay):
    assert failure_delay(failures) == delay


def test_failure_constants_and_negative():
    assert (codes.FAILURES_BEFORE_DELAY, codes.BASE_DELAY, codes.MAX_DELAY, codes.ALERT_AFTER) == (
        5, 60, 3600, 10
    )
    with pytest.raises(ValueError):
        failure_delay(-1)
