"""The steps of sign-in and recovery, kept apart from the views.

Adding a second factor is meant to touch only this module: after the right
password, :func:`after_password` decides whether the session is complete or
half-signed-in; :func:`reset_steps` lists the steps between opening a reset
link and choosing the new password.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, session, url_for

from .. import events, passwords
from ..accounts import find_by_email
from ..extensions import db
from ..models import User
from ..sessions import PENDING, SIGNED_IN


def check_password(email: str, password: str) -> User | None:
    """Return the account when ``password`` is right, else ``None``.

    Unknown emails are checked against a dummy hash so both failures take
    about the same time; a right password made with old argon2 parameters is
    rehashed. A wrong password for a known account is recorded as an event.
    """
    user = find_by_email(email)
    if not passwords.verify_password(user.password_hash if user else None, password):
        if user is not None:
            events.record(user, "sign_in_failed")
            db.session.commit()
        return None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    return user


def may_sign_in(user: User) -> bool:
    """False while the email is unconfirmed and confirmation is required."""
    return user.email_confirmed or not current_app.config["REQUIRE_EMAIL_CONFIRMATION"]


def after_password(user: User) -> str:
    """Start the session that follows the right password; return where to go.

    A fresh session id is issued (no fixation). With two-step verification on,
    the session is only half signed in (``pending``): it reaches nothing but
    the second step until :func:`after_second_step`.
    """
    target = safe_next(session.get("next"))
    if user.two_step_enabled:
        session.start(user, PENDING)
        session["next"] = target
        db.session.commit()
        return url_for("auth.verify")
    return _signed_in(user, target)


def after_second_step(user: User) -> str:
    """Turn the half-signed-in session into a full one, under a new id."""
    return _signed_in(user, safe_next(session.get("next")))


def _signed_in(user: User, target: str) -> str:
    session.start(user, SIGNED_IN)
    events.record(user, "sign_in")
    db.session.commit()
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
