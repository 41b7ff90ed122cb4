"""The steps of sign-in and recovery, kept apart from the views.

Adding a second factor is meant to touch only this module: after the right
password, :func:`after_password` decides whether the session is complete or
half-signed-in; :func:`reset_steps` lists the steps between opening a reset
link and choosing the new password.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app, session, url_for

from .. import events, mail, passwords, trusted_browsers
from ..accounts import AccountError, find_by_email, normalize_email
from ..extensions import db
from ..i18n import lazy_text as _l
from ..models import User
from ..sessions import SIGNED_IN
from . import half_signed_in

#: Consecutive wrong passwords before the owner is emailed, and before the
#: account takes no password until reset (NIST SP 800-63B 5.2.2: at most 100).
ALERT_AFTER = 10
LOCK_AFTER = 100


def check_password(email: str, password: str) -> User | None:
    """Return the account when ``password`` is right, else ``None``.

    Unknown emails are checked against a dummy hash so both failures take
    about the same time; a right password made with old argon2 parameters is
    rehashed (unless password checks are at capacity: then at a later sign-in).
    A wrong password for a known account is recorded as an event
    and counted: after :data:`LOCK_AFTER` (100) in a row the account takes no
    password at all until it is reset (NIST SP 800-63B section 5.2.2), with
    the same message as a wrong password so the lock reveals nothing. The
    owner is emailed at :data:`ALERT_AFTER` (10) and at the lock.

    :raises hubweb.admission.Busy: password checks are at capacity; nothing
        was checked, counted or written, for a known or an unknown email alike.
    """
    # The factor rows come with the account, before the hash: the step after a
    # right password reads them (two-step on or off) and then need not wait.
    user = find_by_email(email, with_factors=True)
    right = passwords.verify_password(user.password_hash if user else None, password)
    if user is None:
        return None
    if not right or user.password_failures >= LOCK_AFTER:
        _count_wrong_password(user)
        return None
    if passwords.needs_rehash(user.password_hash):
        try:
            user.password_hash = passwords.hash_password(password)
        except passwords.Busy:
            pass  # the upgrade waits for a quieter sign-in; this one goes on
    if user.password_failures:
        db.session.execute(sa.update(User).where(User.id == user.id).values(password_failures=0))
    return user


def _count_wrong_password(user: User) -> None:
    db.session.execute(
        sa.update(User).where(User.id == user.id)
        .values(password_failures=User.password_failures + 1)
    )
    count = db.session.scalar(sa.select(User.password_failures).where(User.id == user.id))
    events.record(user, "sign_in_failed")
    if count == ALERT_AFTER:
        mail.queue(user, _l("Several failed sign-ins to your account"), "password_failures",
                   count=count, locked=False)
    elif count == LOCK_AFTER:
        mail.queue(user, _l("Sign-in to your account is locked"), "password_failures",
                   count=count, locked=True)
    db.session.commit()


def address_accepted(field) -> bool:
    """Check a typed address (:func:`hubweb.addresses.check`); on refusal add the reason.

    :param field: the form's ``email`` field, already validated by WTForms.
    """
    try:
        normalize_email(field.data)
    except AccountError as exc:
        field.errors.append(str(exc))
        return False
    return True


def may_sign_in(user: User) -> bool:
    """False while the email is unconfirmed and confirmation is required."""
    return user.email_confirmed or not current_app.config["REQUIRE_EMAIL_CONFIRMATION"]


def after_password(user: User) -> str:
    """Start the session that follows the right password; return where to go.

    A fresh session id is issued (no fixation). With two-step verification on,
    the session is only half signed in (``pending``): it reaches nothing but
    the second step until :func:`after_second_step`. Nothing is committed
    here: saving the new session commits it together with the pending changes
    (event, rehash, used code), in one transaction at the end of the request.
    """
    target = safe_next(session.get("next"))
    if user.two_step_enabled:
        # A browser this account trusts skips the second step, never the password.
        if trusted_browsers.skips_second_step(user):
            return _signed_in(user, target, factors=2, kind="sign_in_trusted")
        return half_signed_in.start(user, target)
    return _signed_in(user, target, factors=1)


def after_second_step(user: User, remember: bool = False) -> str:
    """Turn the half-signed-in session into a full one, under a new id, that
    records both factors (see :mod:`hubweb.sessions`).

    :param remember: "Don't ask again on this browser" was ticked: while
        trusted browsers are on, this browser is trusted
        (:func:`hubweb.trusted_browsers.remember`).
    """
    if remember and trusted_browsers.days() > 0:
        trusted_browsers.remember(user)
    return _signed_in(user, safe_next(session.get("next")), factors=2)


def _signed_in(user: User, target: str, factors: int, kind: str = "sign_in") -> str:
    session.start(user, SIGNED_IN, factors)
    # Written now, committed with the session row at the end of the request (see
    # above): nothing but the reply comes between.
    events.write(user.id, kind)
    return target


def reset_steps(user: User) -> list[str]:
    """The steps of a password reset after the link, in order; the last sets it.

    Recovery never turns two-step verification off: with it on, the code comes
    between the link and the new password.
    """
    return ["second_factor", "new_password"] if user.two_step_enabled else ["new_password"]


def safe_next(target: str | None) -> str:
    """Return ``target`` if it is a path on this site, else the home page.

    Refuses absolute and scheme-relative URLs (``//evil.example``) and
    backslash tricks, so sign-in cannot become an open redirect.
    """
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc:
            return target
    return url_for("views.home")
