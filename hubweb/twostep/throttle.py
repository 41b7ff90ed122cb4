"""The account-wide throttle for every kind of second-factor code.

After :data:`~hubweb.twostep.codes.FAILURES_BEFORE_DELAY` (5) consecutive
failures the account waits 1 minute before the next try, doubling up to 1
hour (:func:`~hubweb.twostep.codes.failure_delay`; NIST SP 800-63B section
5.2.2). Neither a new sign-in attempt nor a new code resets the count, only a
success does. At :data:`~hubweb.twostep.codes.ALERT_AFTER` (10) consecutive
failures, and every 10 after, the owner is emailed.

The count lives on the ``users`` row and changes by atomic ``UPDATE``
statements, so it counts across processes and hosts.
"""

from __future__ import annotations

import math
from datetime import timedelta

import sqlalchemy as sa

from .. import mail
from ..extensions import db
from ..i18n import lazy_text as _l
from ..models import User
from ..timeutil import utcnow
from .codes import ALERT_AFTER, failure_delay
from .result import Problem, Result


def wait_seconds(user: User) -> int:
    """Seconds the account must still wait before a code may be checked (0: none)."""
    if not user.factor_failures or user.factor_failed_at is None:
        return 0
    until = user.factor_failed_at + timedelta(seconds=failure_delay(user.factor_failures))
    return max(0, math.ceil((until - utcnow()).total_seconds()))


def record_failure(user: User) -> int:
    """Count one failed code; return the new consecutive count.

    :return: the count after this failure; the caller commits, and emails the
        owner when :func:`should_alert` says so.
    """
    now = utcnow()
    db.session.execute(
        sa.update(User)
        .where(User.id == user.id)
        .values(factor_failures=User.factor_failures + 1, factor_failed_at=now)
    )
    count = db.session.scalar(sa.select(User.factor_failures).where(User.id == user.id))
    user.factor_failures, user.factor_failed_at = count, now
    return count


def should_alert(count: int) -> bool:
    """True at 10, 20, 30 ... consecutive failures: someone may know the password."""
    return count > 0 and count % ALERT_AFTER == 0


def record_success(user: User) -> None:
    """Reset the count after a right code. The caller commits."""
    db.session.execute(
        sa.update(User).where(User.id == user.id).values(factor_failures=0, factor_failed_at=None)
    )
    user.factor_failures, user.factor_failed_at = 0, None


def failed(user: User, problem: Problem, drift_minutes: int = 0) -> Result:
    """Count a wrong code on the account, commit, and alert the owner at 10, 20...

    Used for every kind of code (SMS, authenticator app, any factor).
    """
    count = record_failure(user)
    if should_alert(count):
        mail.queue(user, _l("Several wrong verification codes were entered"), "factor_failures",
                   count=count)
    db.session.commit()
    return Result(problem, wait_seconds(user), drift_minutes)
