"""One-time codes sent by SMS or email: normalising, generating, hashing, throttling.

Pure functions with no storage: callers keep the hash, the failure count and the
time of the last failure on the device row (the django-otp model).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata

DEFAULT_DIGITS = 6

#: Consecutive failures allowed before verification is delayed.
FAILURES_BEFORE_DELAY = 5
#: Delay in seconds at the first throttled failure; doubles on each further one.
BASE_DELAY = 60
#: Upper bound of the delay in seconds.
MAX_DELAY = 3600
#: Consecutive failures after which the account owner is alerted by email.
ALERT_AFTER = 10


def normalize_code(text: str, digits: int = DEFAULT_DIGITS) -> str | None:
    """Turn what a person typed into a code of ``digits`` ASCII digits.

    Whitespace of any kind (spaces, tabs, U+00A0, U+202F, U+2007 and every other
    character for which :meth:`str.isspace` holds) is dropped wherever it occurs.
    Every Unicode decimal digit (``unicodedata.decimal``: full-width ``'１'``,
    Arabic-Indic ``'٣'``...) becomes its ASCII digit. Anything else rejects the input.

    The result stays a string so that leading zeros survive.

    :param text: the raw input.
    :param digits: the exact number of digits required (at least 1).
    :return: the code as ASCII digits, or ``None`` if the input is not exactly
        ``digits`` digits once whitespace is removed.
    :raises ValueError: if ``digits`` is less than 1.
    """
    if digits < 1:
        raise ValueError("digits must be at least 1")
    out: list[str] = []
    for ch in text:
        if ch.isspace():
            continue
        value = unicodedata.decimal(ch, None)
        if value is None:
            return None
        out.append(str(value))
        if len(out) > digits:
            return None
    return "".join(out) if len(out) == digits else None


def generate_code(digits: int = DEFAULT_DIGITS) -> str:
    """Return a uniformly random code of ``digits`` ASCII digits, zero-padded.

    Uses :func:`secrets.randbelow` (a CSPRNG, as NIST SP 800-63B section 5.1.3
    requires for out-of-band secrets).

    :param digits: length of the code (at least 1).
    :raises ValueError: if ``digits`` is less than 1.
    """
    if digits < 1:
        raise ValueError("digits must be at least 1")
    return f"{secrets.randbelow(10**digits):0{digits}d}"


def hash_code(key: bytes, code: str, *, context: str) -> str:
    """Return the HMAC-SHA256 (hex, 64 chars) of ``context + "\\x00" + code``.

    Storing this instead of the code means a database leak does not reveal live
    codes without the server key. ``context`` binds the code to what it was sent
    for (for example ``"login:42:+447700900123"``), so a code issued for one
    user, phone number or purpose never verifies for another.

    :param key: the server-side HMAC key.
    :param code: the normalised code (see :func:`normalize_code`).
    :param context: what the code is bound to; must not contain NUL.
    :raises ValueError: if ``context`` contains ``"\\x00"``, which would make the
        message ambiguous.
    """
    if "\x00" in context:
        raise ValueError("context must not contain NUL")
    message = f"{context}\x00{code}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def codes_match(key: bytes, code: str, context: str, stored_hash: str) -> bool:
    """Tell whether ``code`` issued for ``context`` hashes to ``stored_hash``.

    The comparison is constant-time (:func:`hmac.compare_digest`).

    :return: ``True`` on a match, ``False`` otherwise (also for a malformed hash).
    :raises ValueError: as :func:`hash_code`.
    """
    expected = hash_code(key, code, context=context).encode("ascii")
    return hmac.compare_digest(expected, stored_hash.encode("utf-8", "surrogatepass"))


def failure_delay(failures: int) -> int:
    """Return how many seconds to refuse verification after ``failures`` failures.

    No delay below :data:`FAILURES_BEFORE_DELAY` consecutive failures; then
    :data:`BASE_DELAY` seconds, doubling with each further failure, capped at
    :data:`MAX_DELAY` (5 -> 60, 6 -> 120, 7 -> 240 ... 11 and more -> 3600).
    This is the rate limiting NIST SP 800-63B section 5.2.2 requires, shaped as
    django-otp's ``base x 2^(n-1)`` throttle.

    :param failures: consecutive failed attempts since the last success.
    :return: delay in whole seconds.
    :raises ValueError: if ``failures`` is negative.
    """
    if failures < 0:
        raise ValueError("failures must not be negative")
    if failures < FAILURES_BEFORE_DELAY:
        return 0
    # Bound the exponent so a huge count never builds a huge integer.
    exponent = min(failures - FAILURES_BEFORE_DELAY, MAX_DELAY.bit_length())
    return min(BASE_DELAY * 2**exponent, MAX_DELAY)
