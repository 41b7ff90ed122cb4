"""Recovery codes: ten single-use codes for the day the phone is lost.

Rules (NIST SP 800-63B section 5.1.2, look-up secrets):

- A set is :data:`COUNT` (10) codes of :data:`LENGTH` (10) characters from
  Crockford's base32 alphabet in lower case (:data:`ALPHABET`: no i, l, o, u),
  each drawn with :mod:`secrets`: 50 bits per code. Shown as ``xxxxx-xxxxx``.
- Typed back, case, spaces and dashes do not matter, and Crockford's
  look-alikes are read as he specified: ``i`` and ``l`` as ``1``, ``o`` as
  ``0`` (:func:`normalize`).
- Stored as one ``authenticators`` row per code (kind ``recovery``), whose
  ``lookup`` is the HMAC-SHA256 (hex) of the normalised code under a key
  derived from ``SECRET_KEY`` (its own label), bound to the user id: a copy
  of the database alone does not let anyone test guesses offline. The check
  compares every code of the account in constant time
  (:func:`hmac.compare_digest`).
- A code works once: its use is a conditional ``UPDATE ... SET last_used_at
  = now WHERE id = :id AND last_used_at IS NULL`` that must change exactly one
  row, so of two parallel uses of one code exactly one wins; the other codes
  stay valid. Used rows stay until a new set replaces them (so "none left"
  differs from "none made").
- A wrong code counts on the account-wide throttle
  (:mod:`hubweb.twostep.throttle`) like a wrong one-time code: after 5 in a
  row the account waits 1 minute, doubling up to 1 hour.
- A new set voids the old one at once; turning two-step verification off
  (and the operator's ``users reset-2sv``) deletes the codes
  (:meth:`RecoveryFactor.disable`, called for every factor by
  :func:`hubweb.twostep.factors.disable`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from flask_babel import format_date, ngettext

from .. import accounts, events, mail, trusted_browsers
from ..extensions import db
from ..i18n import lazy_text as _l
from ..models import Authenticator, User
from ..timeutil import utcnow
from . import messages as msg
from . import throttle
from .codes import hash_code
from .factorbase import FactorBase
from .result import Problem, Result
from .store import remove_all

KIND = "recovery"
#: Crockford's base32 alphabet, lower case (https://www.crockford.com/base32.html).
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
COUNT = 10
LENGTH = 10
#: With this many codes left or fewer, the person is warned to get new ones.
WARN_AT = 3
#: Crockford's decoding of look-alikes.
_LOOKALIKES = str.maketrans({"i": "1", "l": "1", "o": "0"})
_IGNORED = re.compile(r"[\s\-\u2010-\u2015\u2212]+")


def generate_set() -> list[str]:
    """A new set: :data:`COUNT` distinct codes of :data:`LENGTH` characters of
    :data:`ALPHABET` (normalised form, no dash), drawn with :mod:`secrets`."""
    codes: list[str] = []
    while len(codes) < COUNT:
        code = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
        if code not in codes:
            codes.append(code)
    return codes


def display(code: str) -> str:
    """A normalised code as shown and printed: ``xxxxx-xxxxx``."""
    half = LENGTH // 2
    return f"{code[:half]}-{code[half:]}"


def normalize(text: str | None) -> str | None:
    """The code typed in ``text``, normalised: lower case, without spaces or
    dashes, ``i``/``l`` read as ``1`` and ``o`` as ``0``.

    :return: :data:`LENGTH` characters of :data:`ALPHABET`, or ``None`` when
        ``text`` cannot be a recovery code.
    """
    code = _IGNORED.sub("", (text or "").lower()).translate(_LOOKALIKES)
    if len(code) != LENGTH or any(char not in ALPHABET for char in code):
        return None
    return code


def _key() -> bytes:
    secret = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, b"hubweb recovery code v1", hashlib.sha256).digest()


def _lookup(user: User, code: str) -> str:
    return hash_code(_key(), code, context=f"recovery:{user.id}")


def _rows(user: User) -> list[Authenticator]:
    return [row for row in user.authenticators if row.kind == KIND]


def remaining(user: User) -> int:
    """How many of ``user``'s codes are still unused."""
    return sum(1 for row in _rows(user) if row.last_used_at is None)


def has_set(user: User) -> bool:
    """True when ``user`` has a set of codes (some may be used up)."""
    return bool(_rows(user))


def made_at(user: User) -> datetime | None:
    """When ``user``'s set was made (UTC ``datetime``), or ``None``."""
    rows = _rows(user)
    return min(row.created_at for row in rows) if rows else None


def issue(user: User, keep_session: str | None = None) -> tuple[list[str], str]:
    """Make a new set for ``user``, voiding any old one at once, with its
    security event (``recovery_codes_created`` or ``recovery_codes_replaced``)
    and email, the credential version raised (:func:`hubweb.accounts.credentials_changed`),
    and commit.

    :return: the new codes, normalised (show them with :func:`display`; they
        are kept nowhere in the clear), and the kind of event recorded.
    """
    replaced = remove_all(user, KIND) > 0
    codes, now = generate_set(), utcnow()
    for code in codes:
        user.authenticators.append(Authenticator(kind=KIND, lookup=_lookup(user, code),
                                                 created_at=now, enabled_at=now))
    accounts.credentials_changed(user, keep_session=keep_session)
    kind = "recovery_codes_replaced" if replaced else "recovery_codes_created"
    events.record(user, kind)
    mail.queue(user, msg.RECOVERY_NEW_SUBJECT, "recovery_codes_new", replaced=replaced,
               count=COUNT)
    db.session.commit()
    return codes, kind


def is_current(user: User, code: str) -> bool:
    """True when ``code`` (normalised) belongs to ``user``'s current set, used
    or not: a set shown in one tab is void once another made a new one."""
    lookup = _lookup(user, code)
    return any(hmac.compare_digest(row.lookup or "", lookup) for row in _rows(user))


def check_code(user: User, text: str | None) -> Result:
    """Check a typed recovery code; a right one is used up at once (its event
    and email queued). The caller commits.

    :return: ok; or ``RECOVERY_FORMAT`` (not counted), ``THROTTLED``,
        ``WRONG`` or ``RECOVERY_USED`` (both counted on the throttle).
    """
    code = normalize(text)
    if code is None:
        return Result(Problem.RECOVERY_FORMAT)
    wait = throttle.wait_seconds(user)
    if wait:
        return Result(Problem.THROTTLED, wait)
    lookup, found = _lookup(user, code), None
    for row in _rows(user):  # every row, each in constant time
        if hmac.compare_digest(row.lookup or "", lookup):
            found = row
    if found is None:
        return throttle.failed(user, Problem.WRONG)
    used = db.session.execute(
        sa.update(Authenticator)
        .where(Authenticator.id == found.id, Authenticator.last_used_at.is_(None))
        .values(last_used_at=utcnow()),
        execution_options={"synchronize_session": False},
    ).rowcount
    if used != 1:  # used before, or by a parallel request just now
        db.session.rollback()
        return throttle.failed(user, Problem.RECOVERY_USED)
    throttle.record_success(user)
    db.session.expire(found)  # its last_used_at, as the UPDATE set it
    left = remaining(user)
    # A used recovery code means the phone may be lost: no browser skips the
    # second step any more (not credentials_changed: the reset link in use stays).
    trusted_browsers.end_all(user.id)
    events.record(user, "recovery_code_used")
    mail.queue(user, msg.RECOVERY_USED_SUBJECT, "recovery_code_used", left=left)
    return Result()


def warning(user: User) -> str | None:
    """The warning to get new codes: with :data:`WARN_AT` (3) or fewer left of
    a set (none made: no warning), or ``None``."""
    if not user.sms_enabled or not has_set(user):
        return None
    left = remaining(user)
    if left == 0:
        return str(msg.RECOVERY_NONE_LEFT)
    if left <= WARN_AT:
        return ngettext("Only %(num)s recovery code is left. Get new recovery codes before "
                        "you run out.",
                        "Only %(num)s recovery codes are left. Get new recovery codes before "
                        "you run out.", left)
    return None


@dataclass(frozen=True)
class Summary:
    """What the settings say of a user's codes (never the codes).

    :ivar left: unused codes.
    :ivar made_at: when the set was made (UTC), ``None`` for no set.
    :ivar warning: :func:`warning`'s sentence, or ``None``.
    """

    left: int
    made_at: datetime | None
    warning: str | None

    @property
    def made_on(self) -> str:
        """The day the set was made, in the page's language ("7 December 2026")."""
        return format_date(self.made_at, "long") if self.made_at else ""


class RecoveryFactor(FactorBase):
    """Recovery codes as a second factor (:class:`hubweb.twostep.factors.Factor`):
    on top of SMS, offered while at least one code is unused."""

    def is_on(self, user: User) -> bool:
        return user.sms_enabled and remaining(user) > 0

    def verify(self, user: User, answer: str | None, purpose: str) -> Result:
        return check_code(user, answer)

    def disable(self, user: User) -> None:
        remove_all(user, KIND)

    def warning(self, user: User) -> str | None:
        return warning(user)

    def used_notice(self, user: User) -> str | None:
        return str(msg.RECOVERY_USED_NOTICE)

    def summary(self, user: User) -> Summary:
        """The state of ``user``'s codes for the settings page."""
        return Summary(remaining(user), made_at(user), warning(user))


FACTOR = RecoveryFactor(
    key=KIND, name=_l("recovery codes"), switch_label=_l("Use a recovery code"),
    template="twostep/_recovery_input.html", numeric=False,
    choice_name=_l("a recovery code"),
    lost_text=_l("No recovery code at hand?"),
    switch_hint=_l('Choose "Use a recovery code" if you saved your recovery codes.'),
    answer_label=_l("Recovery code"), answer_missing=msg.RECOVERY_CODE_FORMAT, answer_max=64,
)
