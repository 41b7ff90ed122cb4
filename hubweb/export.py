"""A person's data as one JSON document ("Download your data"; GDPR articles
15 and 20: access, and portability in a structured, machine-readable form).

The shape is versioned (:data:`VERSION`) and described by the JSON Schema in
``docs/export.schema.json`` (a test validates every export against it). It
holds what the portal keeps about the account and never a password hash, TOTP
key, code, token or session id:

- ``account``: email, created, email confirmed, password changed, language.
- ``two_step``: one entry per factor row (``authenticators``): kind, name,
  created, enabled, last used; for SMS the number masked, then in full.
- ``sessions``: state, created, last seen, IP address, browser, whether it is
  the one that downloads.
- ``trusted_browsers``: created, expires, last used, IP address, browser
  (never the cookie's token or its hash).
- ``security_events``: kind, its sentence, time, IP address, browser.

Times are ISO 8601 in UTC (``2026-12-07T16:00:00Z``).
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from .events import KINDS
from .extensions import db
from .models import SecurityEvent, TrustedBrowser, User, UserSession
from .timeutil import utcnow
from .twostep.phone import mask_phone

#: The version of the document's shape; raised on any change that is not an
#: added optional field.
VERSION = 1


def _when(value: datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def document(user: User, current_session: str | None = None) -> dict:
    """Everything the portal holds about ``user``, as JSON-ready data.

    :param current_session: the id of the session asking, marked ``current``.
    :return: a dict valid against ``docs/export.schema.json``.
    """
    return {
        "format": "hubweb-account-export", "version": VERSION,
        "exported_at": _when(utcnow()),
        "account": {
            "email": user.email, "created_at": _when(user.created_at),
            "email_confirmed_at": _when(user.email_confirmed_at),
            "password_changed_at": _when(user.password_changed_at),
            "language": getattr(user, "language", None),
        },
        "two_step": {
            "enabled": user.two_step_enabled,
            "methods": [_method(row) for row in user.authenticators],
        },
        "sessions": [_session(row, current_session) for row in db.session.scalars(
            sa.select(UserSession).where(UserSession.user_id == user.id)
            .order_by(UserSession.created_at))],
        "trusted_browsers": [_trusted(row) for row in db.session.scalars(
            sa.select(TrustedBrowser).where(TrustedBrowser.user_id == user.id)
            .order_by(TrustedBrowser.created_at))],
        "security_events": [_event(row) for row in db.session.scalars(
            sa.select(SecurityEvent).where(SecurityEvent.user_id == user.id)
            .order_by(SecurityEvent.created_at, SecurityEvent.id))],
    }


def _method(row) -> dict:
    entry = {"kind": row.kind, "name": row.name or None, "created_at": _when(row.created_at),
             "enabled_at": _when(row.enabled_at), "last_used_at": _when(row.last_used_at)}
    if row.kind == "sms" and row.lookup:
        entry["phone_masked"] = mask_phone(row.lookup)
        entry["phone"] = row.lookup
    return entry


def _session(row: UserSession, current: str | None) -> dict:
    return {"state": row.state, "created_at": _when(row.created_at),
            "last_seen_at": _when(row.last_seen_at), "ip": row.ip or None,
            "browser": row.user_agent or None, "current": row.id == current}


def _trusted(row: TrustedBrowser) -> dict:
    return {"created_at": _when(row.created_at), "expires_at": _when(row.expires_at),
            "last_used_at": _when(row.last_used_at), "ip": row.ip or None,
            "browser": row.user_agent or None}


def _event(row: SecurityEvent) -> dict:
    return {"kind": row.kind, "description": str(KINDS.get(row.kind, row.kind)),
            "at": _when(row.created_at), "ip": row.ip or None,
            "browser": row.user_agent or None}
