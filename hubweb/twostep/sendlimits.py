"""The limits on sending one-time codes by SMS: ordinary use never meets one.

The limits exist against SMS pumping (toll fraud: an attacker makes the portal
send many texts to premium-rate numbers they are paid for) and against flooding
someone's phone (OWASP Forgot Password and Authentication Cheat Sheets; NIST SP
800-63B section 5.1.3.2 asks for rate limits on out-of-band sends but leaves
the numbers to the verifier). They must never stop a person's normal flows, so:

- Two budgets per account (:data:`BUDGETS`): codes to the account's own,
  verified number (``sign_in``, ``recovery``) and claims, codes to a number the
  account has not proved it holds (``setup``, ``change_phone``). A set-up just
  finished never holds back the first sign-in code.
- A resend cooldown that grows (:data:`COOLDOWNS`): within a budget, while no
  code of that budget has been entered right, each further send waits longer
  after the one before: 60 s, 2 min, then 5 min. A right code starts afresh;
  so do :data:`HOUR` seconds without a send of that budget.
- :data:`PER_BUDGET_PER_HOUR` (10) sends per budget and account in any hour,
  and :data:`PER_ACCOUNT_PER_DAY` (20) per account in any 24 hours: the
  ceiling that caps what one account can pump.
- Claims on one number from all accounts together: :data:`CLAIMS_PER_NUMBER`
  (5 an hour, 10 a day), so nobody floods a number they do not hold. Codes to
  a verified number do not count there, so strangers claiming it cannot lock
  its owner out.

Every window is rolling; the sent codes (``sms_codes`` rows) are the send log.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from ..extensions import db
from .models import SmsCode

#: The budget of each purpose: ``own`` (the verified number) or ``claim``.
BUDGETS = {"sign_in": "own", "recovery": "own", "account": "own",
           "setup": "claim", "change_phone": "claim"}
#: Purposes whose code goes to a number the account has not proved it holds.
CLAIMS = ("setup", "change_phone")
#: Seconds to wait after the 1st, 2nd, 3rd and later unconfirmed send of a budget.
COOLDOWNS = (60, 120, 300)
HOUR = 3600
DAY = 86400
PER_BUDGET_PER_HOUR = 10
PER_ACCOUNT_PER_DAY = 20
#: Claims on one number, from all accounts: ``(count, seconds)`` pairs.
CLAIMS_PER_NUMBER = ((5, HOUR), (10, DAY))


class Hold(enum.Enum):
    """Which limit holds a send back."""

    COOLDOWN = "cooldown"  # the first resend wait (60 s)
    RESEND_WAIT = "resend_wait"  # a longer wait after several resends in a row
    ACCOUNT = "account"  # the hourly budget or the daily ceiling of the account
    NUMBER = "number"  # the claims on the number


@dataclass(frozen=True)
class Sent:
    """One row of the send log: when, for which purpose, and whether it was entered."""

    created_at: datetime
    purpose: str
    verified: bool


def hold(user_id: int, phone: str, purpose: str, now: datetime) -> tuple[Hold, int] | None:
    """The limit that holds back a code to ``phone`` for ``purpose`` now, if any.

    :return: ``None`` when the code may be sent, else the limit and the whole
        seconds (at least 1) until it may; of several limits, the longest wait.
    :raises KeyError: for a purpose not in :data:`BUDGETS`.
    """
    budget = BUDGETS[purpose]
    log = _account_log(user_id, now)
    mine = [s for s in log if BUDGETS.get(s.purpose) == budget]
    waits = [
        _cooldown(mine, now),
        (Hold.ACCOUNT, _count_wait(mine, PER_BUDGET_PER_HOUR, HOUR, now)),
        (Hold.ACCOUNT, _count_wait(log, PER_ACCOUNT_PER_DAY, DAY, now)),
    ]
    if purpose in CLAIMS:
        claims = _claims_on(phone, now)
        waits += [(Hold.NUMBER, _count_wait(claims, count, seconds, now))
                  for count, seconds in CLAIMS_PER_NUMBER]
    limit, wait = max(waits, key=lambda pair: pair[1])
    return (limit, wait) if wait > 0 else None


def _account_log(user_id: int, now: datetime) -> list[Sent]:
    """The account's sends of the last :data:`DAY`, newest first."""
    rows = db.session.execute(
        sa.select(SmsCode.created_at, SmsCode.purpose, SmsCode.used_at.is_not(None))
        .where(SmsCode.user_id == user_id, SmsCode.created_at > now - timedelta(seconds=DAY))
        .order_by(SmsCode.created_at.desc(), SmsCode.id.desc())
    )
    return [Sent(*row) for row in rows]


def _claims_on(phone: str, now: datetime) -> list[Sent]:
    """Set-up and change-of-number sends to ``phone`` of the last :data:`DAY`, newest first."""
    rows = db.session.execute(
        sa.select(SmsCode.created_at, SmsCode.purpose, SmsCode.used_at.is_not(None))
        .where(SmsCode.phone == phone, SmsCode.purpose.in_(CLAIMS),
               SmsCode.created_at > now - timedelta(seconds=DAY))
        .order_by(SmsCode.created_at.desc(), SmsCode.id.desc())
    )
    return [Sent(*row) for row in rows]


def _cooldown(sends: list[Sent], now: datetime) -> tuple[Hold, int]:
    """The growing resend wait: sends of the last hour since the latest right code."""
    run = []
    for sent in sends:
        if sent.verified or (now - sent.created_at).total_seconds() >= HOUR:
            break
        run.append(sent)
    if not run:
        return Hold.COOLDOWN, 0
    step = min(len(run), len(COOLDOWNS)) - 1
    limit = Hold.COOLDOWN if step == 0 else Hold.RESEND_WAIT
    return limit, _seconds_until(run[0].created_at + timedelta(seconds=COOLDOWNS[step]), now)


def _count_wait(sends: list[Sent], count: int, seconds: int, now: datetime) -> int:
    """Seconds until fewer than ``count`` of ``sends`` fall in the last ``seconds``."""
    since = now - timedelta(seconds=seconds)
    recent = [s for s in sends if s.created_at > since]
    if len(recent) < count:
        return 0
    return _seconds_until(recent[count - 1].created_at + timedelta(seconds=seconds), now)


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(0, math.ceil((moment - now).total_seconds()))
