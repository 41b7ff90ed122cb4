"""Security events: what happened to an account, shown to its owner."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from .extensions import client_ip, db
from .i18n import lazy_text as _l
from .models import SecurityEvent, User
from .sessions import user_agent
from .timeutil import utcnow

#: kind -> the sentence shown in "Recent security activity".
KINDS: dict[str, str] = {
    "account_created": _l("Account created"),
    "registration_attempted": _l("Someone tried to create an account with this email"),
    "email_confirmed": _l("Email address confirmed"),
    "sign_in": _l("Signed in"),
    "sign_in_failed": _l("Failed sign-in (wrong password)"),
    "sign_out": _l("Signed out"),
    "password_changed": _l("Password changed"),
    "reset_requested": _l("Password reset requested"),
    "reset_done": _l("Password reset"),
    "session_ended": _l("Session signed out from settings"),
    "other_sessions_ended": _l("All other sessions signed out"),
    "sms_enabled": _l("Two-step verification by SMS turned on"),
    "phone_changed": _l("Phone number for two-step verification changed"),
    "two_step_disabled": _l("Two-step verification turned off"),
    "app_enabled": _l("Authenticator app turned on"),
    "app_replaced": _l("Authenticator app moved to a new secret key"),
    "app_disabled": _l("Authenticator app turned off"),
    "recovery_codes_created": _l("Recovery codes made"),
    "recovery_codes_replaced": _l("New recovery codes made; the old ones no longer work"),
    "recovery_code_used": _l("Recovery code used"),
    "two_step_reset_by_operator": _l("Two-step verification turned off by an administrator"),
    "sign_in_trusted": _l("Signed in on a trusted browser (no code asked)"),
    "browser_trusted": _l("Browser trusted: no code asked at sign-in on it"),
    "browser_forgotten": _l("Trusted browser forgotten"),
    "browsers_forgotten": _l("All trusted browsers forgotten"),
    "key_added": _l("Security key added"),
    "key_removed": _l("Security key removed"),
    "key_counter": _l("Security key refused: it may have been copied"),
    "email_change_requested": _l("Change of email address requested"),
    "email_changed": _l("Email address changed"),
    "data_exported": _l("Your data was downloaded"),
}

RECENT_LIMIT = 20


def record(user: User | int, kind: str) -> SecurityEvent:
    """Add a security event for ``user`` with the request's IP and browser.

    :param user: the account or its id.
    :param kind: a key of :data:`KINDS`.
    :raises KeyError: for an unknown kind (a programming error, caught by tests).
    :return: the new event; the caller commits with its own change, so the
        event and the change land together or not at all.
    """
    KINDS[kind]  # noqa: B018 - fail fast on a typo'd kind
    event = SecurityEvent(
        user_id=user if isinstance(user, int) else user.id,
        kind=kind,
        ip=client_ip()[:64],
        user_agent=user_agent(),
    )
    db.session.add(event)
    return event


#: The INSERT of :func:`write`, on the table, built once.
_INSERT = sa.insert(SecurityEvent.__table__)


def write(user_id: int, kind: str) -> None:
    """Insert a security event for the account ``user_id`` at once, as :func:`record`
    would, without an ORM object: for sign-in, which commits right after and reads
    nothing back (the unit of work cost about 0.4 ms more after the hash, README
    "Performance", figure 8a). The row is written in the session's transaction, now:
    on SQLite that takes the write lock, so call it only where the commit follows
    without waiting for anything else (no SMS, no mail).

    :param user_id: the account's id.
    :param kind: a key of :data:`KINDS`.
    :raises KeyError: for an unknown kind.
    :raises sqlalchemy.exc.SQLAlchemyError: when the database refuses or is down;
        the caller's transaction is then to be rolled back.
    """
    KINDS[kind]  # noqa: B018 - fail fast on a typo'd kind
    # A statement on the table does not flush the session's pending changes
    # (as an ORM one does): flushed first, so events keep their order.
    db.session.flush()
    db.session.execute(_INSERT, {"user_id": user_id, "kind": kind, "created_at": utcnow(),
                                 "ip": client_ip()[:64], "user_agent": user_agent()})


def count_recent(user: User, kind: str, seconds: int) -> int:
    """How many events of ``kind`` the account had in the last ``seconds``."""
    since = utcnow() - timedelta(seconds=seconds)
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(SecurityEvent)
        .where(SecurityEvent.user_id == user.id, SecurityEvent.kind == kind)
        .where(SecurityEvent.created_at >= since)
    )


#: :func:`recent`'s statement, built once: Core columns (no ORM entity to set
#: up per execution) and bound parameters, so its cache key is computed once.
_EVENTS = SecurityEvent.__table__
_RECENT = (
    sa.select(_EVENTS.c.kind, _EVENTS.c.created_at, _EVENTS.c.ip, _EVENTS.c.user_agent)
    .where(_EVENTS.c.user_id == sa.bindparam("user_id"))
    .order_by(_EVENTS.c.created_at.desc(), _EVENTS.c.id.desc())
    .limit(sa.bindparam("limit"))
)


def recent(user: User, limit: int = RECENT_LIMIT) -> list[sa.Row]:
    """Return the account's newest ``limit`` events, newest first.

    :return: read-only rows with ``kind``, ``created_at``, ``ip`` and
        ``user_agent`` (not ORM objects: the settings page shows up to 20 on
        every load, and mapping them into the identity map cost about a third
        of a millisecond).
    """
    return db.session.execute(_RECENT, {"user_id": user.id, "limit": limit}).all()
