"""Authenticator app (TOTP) for an account: the key's life and code checks.

- The key (:func:`~hubweb.twostep.keys.new_secret`, 160 bits) is encrypted at
  rest with the ``ENCRYPTION_KEYS`` (MultiFernet), so a copy of the database
  alone does not reveal it.
- A key being set up is an ``app`` authenticator not yet enabled for
  :data:`PENDING_LIFETIME` (15 minutes): showing the panel again or a wrong
  code keeps the same key; only a right code makes it the active key.
- A code verifies for a time step in now +/- 1 that is after the last accepted
  step, stored by a compare-and-set ``UPDATE`` that must change one row, so no
  code is accepted twice, even by parallel requests (RFC 6238 section 5.2).
- Wrong codes count on the same account-wide throttle as SMS codes.
"""

from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..i18n import lazy_text as _l
from ..models import Authenticator, User
from ..timeutil import utcnow
from . import throttle, totp
from .codes import normalize_code
from .factorbase import FactorBase
from .keyring import keybox  # re-exported: appcodes.keybox
from .keys import new_secret, otpauth_uri
from .result import Problem, Result
from .store import remove_all
from .throttle import failed

PENDING_LIFETIME = 15 * 60  # seconds


KIND = "app"


def _pending(user: User) -> Authenticator | None:
    """The key being set up, unless it expired (:data:`PENDING_LIFETIME`)."""
    row = user.authenticator(KIND, enabled=False)
    if row is None or utcnow() - row.created_at > timedelta(seconds=PENDING_LIFETIME):
        return None
    return row


def pending_secret(user: User) -> str | None:
    """The key being set up, or ``None`` when there is none or it expired."""
    row = _pending(user)
    return keybox().decrypt(row.secret) if row else None


def start_setup(user: User) -> str:
    """Return the pending key, making a new one if none is pending.

    Showing the panel twice gives the same key, so a key already scanned
    keeps working. The active key, if any, is untouched; an expired pending
    key is replaced. Commits.
    """
    secret = pending_secret(user)
    if secret is None:
        db.session.execute(
            sa.delete(Authenticator).where(Authenticator.user_id == user.id,
                                           Authenticator.kind == KIND,
                                           Authenticator.enabled_at.is_(None)),
            execution_options={"synchronize_session": False})
        db.session.expire(user, ["authenticators"])
        secret = new_secret()
        user.authenticators.append(
            Authenticator(kind=KIND, secret=keybox().encrypt(secret), created_at=utcnow()))
        db.session.commit()
    return secret


def uri_for(user: User, secret: str) -> str:
    """The ``otpauth://`` URI for ``secret`` (label ``Issuer:email``)."""
    return otpauth_uri(secret, user.email, current_app.config["TOTP_ISSUER"])


def confirm_setup(user: User, text: str | None) -> Result:
    """Check a code from the pending key; a right one makes it the active key
    (and removes the key it replaces).

    The accepted step becomes the last step, so the confirming code cannot
    sign in afterwards. Of two parallel confirmations one wins (the update is
    conditional on the pending key still being pending). The caller commits.
    """
    row = _pending(user)
    if row is None:
        return Result(Problem.EXPIRED)
    result, step = _check(user, keybox().decrypt(row.secret), text, last_step=None)
    if not result.ok:
        return result
    pending_id, now = row.id, utcnow()
    changed = db.session.execute(
        sa.update(Authenticator)
        .where(Authenticator.id == pending_id, Authenticator.enabled_at.is_(None))
        .values(enabled_at=now, last_step=step, last_used_at=now),
        execution_options={"synchronize_session": False},
    ).rowcount
    if changed != 1:
        db.session.rollback()
        return Result(Problem.EXPIRED)
    db.session.execute(
        sa.delete(Authenticator).where(Authenticator.user_id == user.id,
                                       Authenticator.kind == KIND,
                                       Authenticator.id != pending_id),
        execution_options={"synchronize_session": False})
    throttle.record_success(user)
    db.session.expire(user, ["authenticators"])
    return result


def check_code(user: User, text: str | None) -> Result:
    """Check a code from the active key (sign-in, recovery). The caller commits."""
    row = user.authenticator(KIND)
    if row is None:
        return Result(Problem.NO_CODE)
    secret = keybox().decrypt(row.secret)
    result, step = _check(user, secret, text, last_step=row.last_step)
    if not result.ok:
        return result
    stored = db.session.execute(
        sa.update(Authenticator)
        .where(Authenticator.id == row.id)
        .where(sa.or_(Authenticator.last_step.is_(None), Authenticator.last_step < step))
        .values(last_step=step, last_used_at=utcnow()),
        execution_options={"synchronize_session": False},
    ).rowcount
    if stored != 1:  # a parallel request took this step first
        db.session.rollback()
        return failed(user, Problem.REPLAYED)
    throttle.record_success(user)
    return result


def _check(user: User, secret: str, text, last_step) -> tuple[Result, int | None]:
    code = normalize_code(text or "")
    if code is None:
        return Result(Problem.FORMAT), None
    wait = throttle.wait_seconds(user)
    if wait:
        return Result(Problem.THROTTLED, wait), None
    check = totp.verify(secret, code, at=time.time(), last_step=last_step)
    if check.ok:
        return Result(), check.step
    if check.step is not None:
        return failed(user, Problem.REPLAYED), None
    if check.drift_steps:
        # Whole minutes rounded half up (TotpCheck.drift_minutes), signed: + is ahead.
        # round() here said "about 2 minutes" for 2.5 and "about 4" for 4.5.
        minutes = check.drift_minutes if check.drift_steps > 0 else -check.drift_minutes
        return failed(user, Problem.CLOCK_DRIFT, minutes), None
    return failed(user, Problem.WRONG), None


def disable(user: User) -> None:
    """Turn the authenticator app off and drop any pending key. The caller commits."""
    remove_all(user, KIND)


def rotate_all() -> int:
    """Re-encrypt every stored key with the newest ``ENCRYPTION_KEYS`` entry.

    :return: how many keys were re-encrypted. Commits.
    """
    box, count = keybox(), 0
    for row in db.session.scalars(
        sa.select(Authenticator).where(Authenticator.secret.is_not(None))
    ):
        if box.needs_rotation(row.secret):
            row.secret = box.rotate(row.secret)
            count += 1
    db.session.commit()
    return count


class AppFactor(FactorBase):
    """An authenticator app (TOTP) as a second factor
    (:class:`hubweb.twostep.factors.Factor`); only ever on top of SMS. It
    sends nothing: the app shows its codes by itself."""

    def is_on(self, user: User) -> bool:
        return user.totp_enabled

    def verify(self, user: User, answer: str | None, purpose: str) -> Result:
        return check_code(user, answer)

    def disable(self, user: User) -> None:
        disable(user)


FACTOR = AppFactor(key=KIND, name=_l("authenticator app"),
                   switch_label=_l("Use authenticator app"),
                   template="twostep/_app_input.html",
                   choice_name=_l("the authenticator app"),
                   lost_text=_l("No access to your authenticator app?"),
                   switch_hint=_l('Choose "Use authenticator app" if the app is on another '
                                  'device.'))
