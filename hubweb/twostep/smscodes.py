"""One-time codes sent by SMS: sending with limits, and checking.

Rules (NIST SP 800-63B section 5.1.3, out-of-band codes):

- 6 digits from :mod:`secrets`, valid :data:`LIFETIME` (300 s), single use,
  bound to user, number and purpose, stored as HMAC-SHA256 under a key derived
  from ``SECRET_KEY``, compared in constant time, never logged.
- Sending voids the user's older codes (they expire at once; ``used_at``
  marks only a code entered right). The send limits, by budget and with a
  growing resend cooldown, are :mod:`hubweb.twostep.sendlimits`.
- :data:`MAX_ATTEMPTS` (5) wrong entries void a code; every wrong entry also
  counts on the account (:mod:`hubweb.twostep.throttle`).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale

from .. import outbox
from ..extensions import db
from ..i18n import language_of
from ..i18n import lazy_text as _l
from ..models import Authenticator, User
from ..timeutil import utcnow
from . import messages as msg
from . import sendlimits, throttle
from .codes import codes_match, generate_code, hash_code, normalize_code
from .factorbase import FactorBase
from .models import SmsCode
from .phone import mask_phone
from .result import Problem, Result  # re-exported: smscodes.Problem, smscodes.Result
from .sms import SmsError, build_sender, code_message
from .store import mark_used, remove_all
from .throttle import failed  # re-exported: smscodes.failed

__all__ = ["Problem", "Result", "failed", "send_code", "check_code", "send_limit", "sender"]

log = logging.getLogger(__name__)

PURPOSES = ("setup", "sign_in", "recovery", "change_phone", "account")
LIFETIME = 300  # seconds
MAX_ATTEMPTS = 5
#: How many accounts one number may serve (:func:`number_problem`).
MAX_ACCOUNTS_PER_NUMBER = 5


_HOLD_PROBLEM = {
    sendlimits.Hold.COOLDOWN: Problem.COOLDOWN,
    sendlimits.Hold.RESEND_WAIT: Problem.RESEND_WAIT,
    sendlimits.Hold.ACCOUNT: Problem.ACCOUNT_LIMIT,
    sendlimits.Hold.NUMBER: Problem.PHONE_LIMIT,
}


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
    # Send first, write after: a write transaction left open while the gateway
    # answers (up to its timeout) would hold SQLite's database-wide write lock,
    # and everyone else's requests would fail with "database is locked".
    try:
        with force_locale(language_of(user)):  # the account's language, else the page's
            text = code_message(portal=current_app.config["PORTAL_NAME"], code=code,
                                minutes=LIFETIME // 60, base_url=current_app.config["BASE_URL"])
            sender().send(phone, text)  # (the development outbox notes the language)
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


def number_problem(user: User, phone: str) -> str | None:
    """Why ``phone`` (E.164) cannot become ``user``'s number, or ``None``.

    The same number as now, or a number that already serves
    :data:`MAX_ACCOUNTS_PER_NUMBER` (5) other accounts with SMS on (a shared
    office phone is fine; one number for many accounts is a pumping pattern).

    :return: :data:`~.messages.PHONE_SAME` or :data:`~.messages.PHONE_IN_USE`.
    """
    if user.sms_enabled and user.sms_phone == phone:
        return msg.PHONE_SAME
    serving = sa.select(sa.func.count(sa.distinct(Authenticator.user_id))).where(
        Authenticator.kind == FACTOR.key, Authenticator.lookup == phone,
        Authenticator.enabled_at.is_not(None), Authenticator.user_id != user.id)
    return msg.PHONE_IN_USE if db.session.scalar(serving) >= MAX_ACCOUNTS_PER_NUMBER else None


def enable(user: User, phone: str) -> None:
    """Make ``phone`` (E.164, proved by a code) ``user``'s number: SMS on (a new
    ``sms`` authenticator), or a new number on the one there is (the time it
    was turned on stays). The caller records, emails and commits
    (:func:`hubweb.accounts.credentials_changed` first)."""
    row = user.authenticator(FACTOR.key)
    if row is None:
        now = utcnow()
        user.authenticators.append(
            Authenticator(kind=FACTOR.key, lookup=phone, created_at=now, enabled_at=now))
    else:
        row.lookup = phone


class SmsFactor(FactorBase):
    """SMS as a second factor (:class:`hubweb.twostep.factors.Factor`): the base
    factor; a code to the account's number for each step."""

    def is_on(self, user: User) -> bool:
        return user.sms_enabled

    def begin(self, user: User, purpose: str) -> Result:
        return send_code(user, user.sms_phone, purpose)

    def hold(self, user: User, purpose: str) -> Result:
        return send_limit(user, user.sms_phone, purpose)

    def verify(self, user: User, answer: str | None, purpose: str) -> Result:
        result = check_code(user, user.sms_phone, purpose, answer)
        if result.ok:
            mark_used(user.authenticator(self.key))
        return result

    def destination(self, user: User) -> str:
        return mask_phone(user.sms_phone)

    def disable(self, user: User) -> None:
        remove_all(user, self.key)


FACTOR = SmsFactor(key="sms", name=_l("SMS"), switch_label=_l("Use SMS"),
                   template="twostep/_sms_input.html", sends=True, requires_base=False,
                   choice_name=_l("SMS"), lost_text=_l("No access to your phone?"),
                   switch_hint=_l('Choose "Use SMS" to get a code by text message.'))
