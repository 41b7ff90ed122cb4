"""Authenticator app (TOTP) for an account: the key's life and code checks.

- The key (:func:`~hubweb.twostep.keys.new_secret`, 160 bits) is encrypted at
  rest with the ``ENCRYPTION_KEYS`` (MultiFernet), so a copy of the database
  alone does not reveal it.
- A key being set up is "pending" on the account row for
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
from ..models import User
from ..timeutil import utcnow
from . import throttle, totp
from .codes import normalize_code
from .factorbase import FactorBase
from .keyring import keybox  # re-exported: appcodes.keybox
from .keys import new_secret, otpauth_uri
from .result import Problem, Result
from .throttle import failed

PENDING_LIFETIME = 15 * 60  # seconds


def pending_secret(user: User) -> str | None:
    """The key being set up, or ``None`` when there is none or it expired."""
    if user.totp_pending_secret is None or user.totp_pending_at is None:
        return None
    if utcnow() - user.totp_pending_at > timedelta(seconds=PENDING_LIFETIME):
        return None
    return keybox().decrypt(user.totp_pending_secret)


def start_setup(user: User) -> str:
    """Return the pending key, making a new one if none is pending.

    Showing the panel twice gives the same key, so a key already scanned
    keeps working. The active key, if any, is untouched. Commits.
    """
    secret = pending_secret(user)
    if secret is None:
        secret = new_secret()
        user.totp_pending_secret = keybox().encrypt(secret)
        user.totp_pending_at = utcnow()
        db.session.commit()
    return secret


def uri_for(user: User, secret: str) -> str:
    """The ``otpauth://`` URI for ``secret`` (label ``Issuer:email``)."""
    return otpauth_uri(secret, user.email, current_app.config["TOTP_ISSUER"])


def confirm_setup(user: User, text: str | None) -> Result:
    """Check a code from the pending key; a right one makes it the active key.

    The accepted step becomes the last step, so the confirming code cannot
    sign in afterwards. Of two parallel confirmations one wins (the update is
    conditional on the pending key still being there). The caller commits.
    """
    secret = pending_secret(user)
    if secret is None:
        return Result(Problem.EXPIRED)
    result, step = _check(user, secret, text, last_step=None)
    if not result.ok:
        return result
    changed = db.session.execute(
        sa.update(User)
        .where(User.id == user.id, User.totp_pending_secret == user.totp_pending_secret)
        .values(totp_secret=user.totp_pending_secret, totp_enabled_at=utcnow(),
                totp_last_step=step, totp_pending_secret=None, totp_pending_at=None)
    ).rowcount
    if changed != 1:
        db.session.rollback()
        return Result(Problem.EXPIRED)
    throttle.record_success(user)
    db.session.refresh(user)
    return result


def check_code(user: User, text: str | None) -> Result:
    """Check a code from the active key (sign-in, recovery). The caller commits."""
    if not user.totp_enabled:
        return Result(Problem.NO_CODE)
    secret = keybox().decrypt(user.totp_secret)
    result, step = _check(user, secret, text, last_step=user.totp_last_step)
    if not result.ok:
        return result
    stored = db.session.execute(
        sa.update(User)
        .where(User.id == user.id)
        .where(sa.or_(User.totp_last_step.is_(None), User.totp_last_step < step))
        .values(totp_last_step=step)
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
    user.totp_secret = user.totp_enabled_at = user.totp_last_step = None
    user.totp_pending_secret = user.totp_pending_at = None


def rotate_all() -> int:
    """Re-encrypt every stored key with the newest ``ENCRYPTION_KEYS`` entry.

    :return: how many keys were re-encrypted. Commits.
    """
    box, count = keybox(), 0
    for user in db.session.scalars(
        sa.select(User).where(
            sa.or_(User.totp_secret.is_not(None), User.totp_pending_secret.is_not(None))
        )
    ):
        for column in ("totp_secret", "totp_pending_secret"):
            token = getattr(user, column)
            if token and box.needs_rotation(token):
                setattr(user, column, box.rotate(token))
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


FACTOR = AppFactor(key="app", name=_l("authenticator app"),
                   switch_label=_l("Use authenticator app"),
                   template="twostep/_app_input.html")
