"""One-time codes sent by SMS: sending with limits, and checking.

Rules (issue #3; NIST SP 800-63B section 5.1.3 for out-of-band codes):

- 6 digits from :mod:`secrets`, valid :data:`LIFETIME` (300 s), single use,
  bound to user, number and purpose, stored as HMAC-SHA256 under a key derived
  from ``SECRET_KEY``, compared in constant time, never logged.
- Sending voids the user's older codes (they expire at once; ``used_at``
  marks only a code entered right). The send limits, by budget and with a
  growing resend cooldown, are :mod:`hubweb.twostep.sendlimits` (issue 11).
- :data:`MAX_ATTEMPTS` (5) wrong entries void a code; every wrong entry also
  counts on the account (:mod:`hubweb.twostep.throttle`).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app, g, has_request_context

from .. import mail, outbox
from ..extensions import db
from ..models import User
from ..timeutil import utcnow
from . import messages as msg
from . import sendlimits, throttle
from .codes import codes_match, generate_code, hash_code, normalize_code
from .models import SmsCode
from .phone import mask_phone
from .sms import SmsError, build_sender, code_message

log = logging.getLogger(__name__)

PURPOSES = ("setup", "sign_in", "recovery", "change_phone")
LIFETIME = 300  # seconds
MAX_ATTEMPTS = 5


class Problem(enum.Enum):
    """Why a send or a check did not succeed."""

    COOLDOWN = "cooldown"
    RESEND_WAIT = "resend_wait"
    ACCOUNT_LIMIT = "account_limit"
    PHONE_LIMIT = "phone_limit"
    SEND_FAILED = "send_failed"
    FORMAT = "format"
    THROTTLED = "throttled"
    NO_CODE = "no_code"
    EXPIRED = "expired"
    TOO_MANY = "too_many"
    WRONG = "wrong"
    REPLAYED = "replayed"
    CLOCK_DRIFT = "clock_drift"


_TEXT = {
    Problem.COOLDOWN: msg.SEND_COOLDOWN,
    Problem.RESEND_WAIT: msg.SEND_RESEND_WAIT,
    Problem.ACCOUNT_LIMIT: msg.SEND_LIMIT_ACCOUNT,
    Problem.PHONE_LIMIT: msg.SEND_LIMIT_PHONE,
    Problem.SEND_FAILED: msg.SEND_FAILED,
    Problem.FORMAT: msg.CODE_FORMAT,
    Problem.THROTTLED: msg.THROTTLED,
    Problem.NO_CODE: msg.NO_CODE,
    Problem.EXPIRED: msg.CODE_EXPIRED,
    Problem.TOO_MANY: msg.CODE_TOO_MANY,
    Problem.WRONG: msg.CODE_WRONG,
    Problem.REPLAYED: msg.CODE_REPLAYED,
    Problem.CLOCK_DRIFT: msg.CLOCK_DRIFT,
}


_WRONG = frozenset({Problem.WRONG, Problem.TOO_MANY, Problem.REPLAYED, Problem.CLOCK_DRIFT})
#: The send limits: the page says these calmly, next to the button they hold back.
_HOLDS = frozenset({Problem.COOLDOWN, Problem.RESEND_WAIT, Problem.ACCOUNT_LIMIT,
                    Problem.PHONE_LIMIT})
_LIMITS = _HOLDS | {Problem.THROTTLED}
_HOLD_PROBLEM = {
    sendlimits.Hold.COOLDOWN: Problem.COOLDOWN,
    sendlimits.Hold.RESEND_WAIT: Problem.RESEND_WAIT,
    sendlimits.Hold.ACCOUNT: Problem.ACCOUNT_LIMIT,
    sendlimits.Hold.NUMBER: Problem.PHONE_LIMIT,
}


@dataclass(frozen=True)
class Result:
    """Outcome of :func:`send_code` or :func:`check_code`.

    :ivar problem: ``None`` on success.
    :ivar wait: seconds to wait, for the limits and the throttle.
    :ivar drift_minutes: for ``CLOCK_DRIFT``, how far the device's clock is
        off, in whole minutes; positive when it runs ahead.
    """

    problem: Problem | None = None
    wait: int = 0
    drift_minutes: int = 0

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def message(self) -> str:
        """The sentence to show the user; a wrong code that started a wait says so."""
        if self.problem is None:
            return ""
        text = _TEXT[self.problem].format(
            wait=msg.duration(self.wait),
            minutes=abs(self.drift_minutes),
            unit="minute" if abs(self.drift_minutes) == 1 else "minutes",
            direction="ahead" if self.drift_minutes > 0 else "behind",
        )
        if self.wait and self.problem in _WRONG:
            text += " " + msg.THROTTLED.format(wait=msg.duration(self.wait))
        return text

    @property
    def held(self) -> bool:
        """True when a send limit held the code back (not sent; send later)."""
        return self.problem in _HOLDS

    @property
    def alert(self) -> str | None:
        """The message to show as an error, or ``None``: none on success, and
        none for a send limit, which the page states calmly where the button is
        (:attr:`held`; issue 11 rule 4)."""
        return None if self.ok or self.held else self.message

    @property
    def wait_text(self) -> str:
        """The message with ``{wait}`` left in, for a live countdown (a send limit only)."""
        return _TEXT[self.problem] if self.held else ""

    @property
    def status(self) -> int:
        """The HTTP status for a reply that shows this result.

        200 on success; 503 when the SMS gateway failed; 429 while a limit or
        the throttle makes the user wait; 422 for a code that is not right.
        """
        if self.problem is None:
            return 200
        if self.problem is Problem.SEND_FAILED:
            return 503
        if self.wait or self.problem in _LIMITS:
            return 429
        return 422


def reply_status(result: Result) -> int:
    """:attr:`Result.status`, for the reply that shows ``result``.

    A 429 with a wait also notes the wait for the reply's ``Retry-After``
    header (RFC 6585 section 4), which ``hubweb.errors`` adds: the seconds the
    message states ("Wait 4 minutes": 240, even when 235 are left), so the
    header and the words agree and neither is shorter than the real wait.
    """
    status = result.status
    if status == 429 and result.wait and has_request_context():
        g.retry_after = msg.stated_seconds(result.wait)
    return status


def sender():
    """The app's SMS sender, built once from the ``SMS_*`` settings."""
    ext = current_app.extensions
    if "hubweb.sms" not in ext:
        ext["hubweb.sms"] = build_sender(
            current_app.config, lambda to, body: outbox.record("sms", to, body)
        )
    return ext["hubweb.sms"]


def _key() -> bytes:
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, b"hubweb sms one-time code v1", hashlib.sha256).digest()


def _context(user: User, phone: str, purpose: str) -> str:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    return f"{purpose}:{user.id}:{phone}"


def send_limit(user: User, phone: str, purpose: str) -> Result:
    """Check the send limits without sending; a :class:`Result` with the wait.

    The limits and their numbers are :mod:`hubweb.twostep.sendlimits`.

    :param purpose: one of :data:`PURPOSES`.
    :raises ValueError: for an unknown purpose.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    held = sendlimits.hold(user.id, phone, purpose, utcnow())
    if held is None:
        return Result()
    limit, wait = held
    return Result(_HOLD_PROBLEM[limit], wait)


def send_code(user: User, phone: str, purpose: str) -> Result:
    """Send a new code to ``phone`` for ``purpose``, voiding the user's older codes.

    Commits on success. The SMS goes out before anything is written; on a
    gateway failure nothing is written, the error is logged for the operator,
    and the result says so: the account is left as it was.

    :param phone: E.164 number.
    :param purpose: one of :data:`PURPOSES`.
    """
    limit = send_limit(user, phone, purpose)
    if not limit.ok:
        return limit
    now, code = utcnow(), generate_code()
    code_hash = hash_code(_key(), code, context=_context(user, phone, purpose))
    text = code_message(portal=current_app.config["PORTAL_NAME"], code=code,
                        minutes=LIFETIME // 60, base_url=current_app.config["BASE_URL"])
    # Send first, write after: a write transaction left open while the gateway
    # answers (up to its timeout) would hold SQLite's database-wide write lock,
    # and everyone else's requests would fail with "database is locked".
    try:
        sender().send(phone, text)
    except SmsError as exc:
        log.error("SMS to %s for user %s failed: %s", mask_phone(phone), user.id, exc)
        return Result(Problem.SEND_FAILED)  # nothing was written
    # Void the older codes: they expire now. ``used_at`` stays for a code entered
    # right, which the growing resend cooldown needs to tell apart.
    db.session.execute(
        sa.update(SmsCode)
        .where(SmsCode.user_id == user.id, SmsCode.used_at.is_(None), SmsCode.expires_at > now)
        .values(expires_at=now)
    )
    db.session.add(SmsCode(
        user_id=user.id, phone=phone, purpose=purpose, created_at=now, code_hash=code_hash,
        expires_at=now + timedelta(seconds=LIFETIME),
    ))
    db.session.commit()
    return Result()


def check_code(user: User, phone: str, purpose: str, text: str | None) -> Result:
    """Check what the user typed against their latest code for ``purpose``.

    On success the code is used up by an atomic compare-and-set, so of two
    parallel submissions exactly one succeeds; the caller commits with its own
    change. A wrong code is counted on the code and on the account, and that
    is committed here.
    """
    code = normalize_code(text or "")
    if code is None:
        return Result(Problem.FORMAT)
    wait = throttle.wait_seconds(user)
    if wait:
        return Result(Problem.THROTTLED, wait)
    row = db.session.scalar(
        sa.select(SmsCode).where(SmsCode.user_id == user.id, SmsCode.purpose == purpose,
                                 SmsCode.phone == phone)
        .order_by(SmsCode.id.desc()).limit(1)
    )
    now = utcnow()
    if row is None:
        return Result(Problem.NO_CODE)
    if row.used_at is not None or row.expires_at <= now:
        return Result(Problem.EXPIRED)
    if row.attempts >= MAX_ATTEMPTS:
        return Result(Problem.TOO_MANY)
    if codes_match(_key(), code, _context(user, phone, purpose), row.code_hash):
        used = db.session.execute(
            sa.update(SmsCode)
            .where(SmsCode.id == row.id, SmsCode.used_at.is_(None),
                   SmsCode.attempts < MAX_ATTEMPTS, SmsCode.expires_at > now)
            .values(used_at=now)
        ).rowcount
        if used != 1:
            # A parallel submission used it first. This UPDATE changed nothing, so no
            # rollback: it would expire every loaded object, among them the session
            # record that the winner has just deleted, and saving the session would
            # then fail to reload it (a 500 instead of this answer).
            return Result(Problem.EXPIRED)
        throttle.record_success(user)
        return Result()
    # The count after this entry, taken before the UPDATE: its ORM synchronisation
    # already adds 1 to ``row.attempts`` in the session.
    attempts = row.attempts + 1
    db.session.execute(
        sa.update(SmsCode).where(SmsCode.id == row.id).values(attempts=SmsCode.attempts + 1)
    )
    return failed(user, Problem.TOO_MANY if attempts >= MAX_ATTEMPTS else Problem.WRONG)


def failed(user: User, problem: Problem, drift_minutes: int = 0) -> Result:
    """Count a wrong code on the account, commit, and alert the owner at 10, 20...

    Used for every kind of code (SMS and authenticator app).
    """
    count = throttle.record_failure(user)
    if throttle.should_alert(count):
        mail.queue(user, "Several wrong verification codes were entered", "factor_failures",
                   count=count)
    db.session.commit()
    return Result(problem, throttle.wait_seconds(user), drift_minutes)
