"""Time-based one-time passwords (RFC 6238) for authenticator apps.

``pyotp`` only computes the HOTP value for a counter (RFC 4226 section 5.3);
which counters are acceptable (the window, the replay guard and drift
reporting) is decided here, apart from storage, as django-otp's ``oath.py`` does.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass

import pyotp

#: The profile every common authenticator app supports (RFC 6238 section 1.2,
#: Google Authenticator Key Uri Format defaults).
ALGORITHM = "SHA1"
DIGITS = 6
STEP_SECONDS = 30
#: Steps either side of now that verify (RFC 6238 section 5.2: at most one).
WINDOW = 1
#: Steps either side of now scanned to report clock drift (10 minutes).
DRIFT_SCAN_STEPS = 20


def time_step(at: float) -> int:
    """Return the RFC 6238 time step ``T = floor(at / 30)`` (section 4.2, T0 = 0).

    :param at: Unix time in seconds.
    :raises ValueError: if ``at`` is negative (before the epoch).
    """
    if at < 0:
        raise ValueError("time must not be before the Unix epoch")
    return math.floor(at / STEP_SECONDS)


def code_at_step(secret_b32: str, step: int) -> str:
    """Return the 6-digit SHA1 code for time step ``step``.

    This is HOTP(K, T) (RFC 4226 section 5.3, RFC 6238 section 4.2) with the
    counter set to the time step.

    :param secret_b32: the shared secret in base32, with or without ``=`` padding.
    :param step: the counter; for TOTP the value of :func:`time_step`.
    :return: the code as 6 ASCII digits, leading zeros kept.
    :raises ValueError: for a negative step or a secret that is not base32 or is
        shorter than 112 bits.
    """
    secret = secret_b32.replace(" ", "").upper().rstrip("=")
    return pyotp.HOTP(secret, digits=DIGITS, digest=hashlib.sha1).at(step)


@dataclass(frozen=True)
class TotpCheck:
    """The outcome of :func:`verify`.

    :ivar ok: whether the code is accepted.
    :ivar step: the time step the code matched: the one to store as the last
        used step when ``ok``; a step already used when refused as a replay;
        ``None`` otherwise.
    :ivar drift_steps: when refused because the code matched a step outside the
        window but within :data:`DRIFT_SCAN_STEPS` of now, that step minus now
        (positive: the device clock is ahead); else ``None``.
    """

    ok: bool
    step: int | None = None
    drift_steps: int | None = None

    @property
    def drift_minutes(self) -> int | None:
        """The drift in whole minutes, rounded half up, at least 1; ``None`` if none."""
        if self.drift_steps is None:
            return None
        seconds = abs(self.drift_steps) * STEP_SECONDS
        return max(1, (seconds + 30) // 60)


def _matches(secret_b32: str, code: str, step: int) -> bool:
    if step < 0:
        return False
    expected = code_at_step(secret_b32, step).encode("ascii")
    return hmac.compare_digest(expected, code.encode("ascii"))


def _by_distance(now: int, radius: int) -> list[int]:
    """Steps from ``now - radius`` to ``now + radius``, nearest to now first."""
    steps = [now]
    for d in range(1, radius + 1):
        steps += [now - d, now + d]
    return steps


def verify(
    secret_b32: str,
    code_normalized: str,
    *,
    at: float,
    last_step: int | None,
    window: int = WINDOW,
) -> TotpCheck:
    """Check a TOTP code against the steps around ``at``.

    A code verifies when it matches a time step within ``window`` steps of now
    (RFC 6238 section 5.2 recommends at most one step of network delay) that
    is strictly after ``last_step``. A step already used, or an earlier one,
    never verifies again: RFC 6238 section 5.2 requires that a verifier not
    accept the second attempt of the same OTP. The caller stores the returned
    step with a compare-and-set ``UPDATE ... SET last_step = :step WHERE
    last_step < :step`` (or ``IS NULL``) and treats zero rows changed as a replay.

    If no step in the window matches, steps within :data:`DRIFT_SCAN_STEPS`
    (10 minutes) after ``last_step`` are scanned so the user can be told that the
    device clock is off (RFC 6238 section 6 resynchronisation); that is a hint
    only and never verifies. Codes are compared with :func:`hmac.compare_digest`.

    :param secret_b32: the shared secret in base32.
    :param code_normalized: the code as 6 ASCII digits (see ``normalize_code``);
        anything else is refused.
    :param at: Unix time in seconds of the attempt.
    :param last_step: the last time step accepted for this device, or ``None``.
    :param window: accepted steps either side of now, 0 to 19.
    :raises ValueError: for a bad ``window``, negative ``at`` or a bad secret.
    """
    if not 0 <= window < DRIFT_SCAN_STEPS:
        raise ValueError("window must be between 0 and 19")
    now = time_step(at)
    if len(code_normalized) != DIGITS or not (
        code_normalized.isascii() and code_normalized.isdigit()
    ):
        return TotpCheck(ok=False)
    floor = -1 if last_step is None else last_step

    used: int | None = None
    for step in _by_distance(now, window):
        if _matches(secret_b32, code_normalized, step):
            if step > floor:
                return TotpCheck(ok=True, step=step)
            used = step if used is None else used
    if used is not None:
        return TotpCheck(ok=False, step=used)

    for step in _by_distance(now, DRIFT_SCAN_STEPS):
        if abs(step - now) > window and step > floor:
            if _matches(secret_b32, code_normalized, step):
                return TotpCheck(ok=False, drift_steps=step - now)
    return TotpCheck(ok=False)
