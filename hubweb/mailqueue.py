"""The mail queue: a transactional outbox for the smtp backend.

An email is a row of ``mail_queue`` written in the same database transaction
as the change it reports (an account, a reset link, a security event): both
are committed or neither is, and no request waits for the SMTP server. A
sender (:mod:`hubweb.mailsender`) delivers the rows with retries.

Links in emails are secrets, so the message (its rendered parts) is
encrypted at rest with ``HUBWEB_ENCRYPTION_KEYS`` (Fernet, the key box of the
TOTP keys) and set to NULL once sent or given up. The row keeps what an
operator needs: recipient, kind (the template's name), attempts, last error
and times; a later retention purge deletes old rows.

Claiming a row: the due row is picked with ``SELECT ... FOR UPDATE SKIP
LOCKED`` (PostgreSQL; SQLite ignores the clause) and taken with a conditional
``UPDATE`` that moves ``next_attempt_at`` a lease ahead and increments
``attempts``, which is also the fencing token of that claim. A sender killed
after the SMTP server took the message but before the row was marked leaves
the row to be claimed again when the lease ends: that email is sent twice,
never lost. Several senders (threads, processes, servers) never claim the
same row at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db
from .timeutil import UTCDateTime, utcnow
from .twostep.keyring import keybox
from .twostep.keys import KeyBox, KeyBoxError

#: Seconds before the first retry; doubled after each failure up to BACKOFF_MAX.
BACKOFF_FIRST = 15
BACKOFF_MAX = 15 * 60
#: A message not delivered within this many seconds is given up (a mail server's
#: usual queue lifetime is days, RFC 5321 section 4.5.4.1 suggests 4-5 days).
GIVE_UP_AFTER = 3 * 24 * 3600
MAX_ERROR = 500


class QueuedMail(db.Model):
    """One email of the smtp backend, from queued to sent (or given up)."""

    __tablename__ = "mail_queue"
    __table_args__ = (sa.Index("ix_mail_queue_due", "sent_at", "failed_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(sa.String(320))
    kind: Mapped[str] = mapped_column(sa.String(40))
    # The rendered email (JSON, hubweb.mail.Rendered), Fernet-encrypted; NULL once
    # sent or given up.
    body: Mapped[str | None] = mapped_column(sa.Text)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(sa.String(MAX_ERROR))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


@dataclass(frozen=True)
class Claim:
    """A row this sender holds: ``attempts`` is the fencing token of the claim."""

    id: int
    recipient: str
    payload: str
    attempts: int
    created_at: datetime


def _box() -> KeyBox:
    return keybox()


def seal(payload: str) -> str:
    """``payload`` encrypted with the newest of ``ENCRYPTION_KEYS``."""
    return _box().encrypt(payload)


def add(recipient: str, kind: str, payload: str) -> None:
    """Queue ``payload`` (the rendered email) for ``recipient``; the caller commits.

    The sender is woken when that transaction commits (:mod:`hubweb.mailsender`).
    """
    db.session.add(QueuedMail(recipient=recipient, kind=kind, body=seal(payload)))
    db.session.info["hubweb.mail_queued"] = True


def rehearse_write(statements: int = 3) -> None:
    """Add rows one statement at a time, then delete them, in the current transaction.

    The caller's commit then costs what a real write costs (see
    :func:`hubweb.auth.recovery._rehearse_reset`); nothing remains.
    """
    rows = [QueuedMail(recipient="", kind="rehearsal") for _ in range(statements)]
    for row in rows:
        db.session.add(row)
        db.session.flush()
    for row in rows:
        db.session.delete(row)
    db.session.flush()


def _pending():
    return sa.and_(QueuedMail.sent_at.is_(None), QueuedMail.failed_at.is_(None))


def lease_seconds() -> int:
    """How long a claim holds a row: longer than the slowest SMTP conversation."""
    return int(max(60, 8 * current_app.config["MAIL_TIMEOUT"]))


def claim_next(now: datetime | None = None) -> Claim | None:
    """Claim the next due row and commit the claim; None when nothing is due."""
    now = now or utcnow()
    row = db.session.execute(
        sa.select(QueuedMail.id, QueuedMail.attempts)
        .where(_pending(), QueuedMail.next_attempt_at <= now)
        .order_by(QueuedMail.next_attempt_at, QueuedMail.id)
        .limit(1).with_for_update(skip_locked=True)
    ).first()
    if row is None:
        db.session.rollback()
        return None
    taken = db.session.execute(
        sa.update(QueuedMail)
        .where(QueuedMail.id == row.id, QueuedMail.attempts == row.attempts, _pending(),
               QueuedMail.next_attempt_at <= now)
        .values(attempts=row.attempts + 1,
                next_attempt_at=now + timedelta(seconds=lease_seconds()))
    ).rowcount
    if taken != 1:  # another sender was quicker (SQLite has no SKIP LOCKED)
        db.session.rollback()
        return claim_next(now)
    mail = db.session.get(QueuedMail, row.id, populate_existing=True)
    try:
        payload = _box().decrypt(mail.body or "")
    except KeyBoxError:  # its key was dropped from ENCRYPTION_KEYS: it can never be sent
        mail.failed_at, mail.body = now, None
        mail.last_error = "no key of HUBWEB_ENCRYPTION_KEYS opens this email"
        db.session.commit()
        return claim_next(now)
    db.session.commit()
    return Claim(mail.id, mail.recipient, payload, mail.attempts, mail.created_at)


def mark_sent(claim: Claim, now: datetime | None = None) -> None:
    """The server took the message: drop the body, keep the record. Commits."""
    db.session.execute(
        sa.update(QueuedMail).where(QueuedMail.id == claim.id, QueuedMail.sent_at.is_(None))
        .values(sent_at=now or utcnow(), body=None, last_error=None)
    )
    db.session.commit()


def mark_failed(claim: Claim, error: str, permanent: bool, now: datetime | None = None) -> str:
    """Record a failed attempt: retry after back-off, or give up. Commits.

    :param permanent: the server refused the message for good (a 5xx reply to
        the recipient, no SMTPUTF8 for an internationalised address).
    :return: ``retry`` or ``given up``.
    """
    now = now or utcnow()
    too_old = (now - claim.created_at).total_seconds() >= GIVE_UP_AFTER
    values = {"last_error": error[:MAX_ERROR]}
    if permanent or too_old:
        values |= {"failed_at": now, "body": None}
    else:
        delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (claim.attempts - 1))
        values["next_attempt_at"] = now + timedelta(seconds=delay)
    db.session.execute(
        sa.update(QueuedMail)
        .where(QueuedMail.id == claim.id, QueuedMail.attempts == claim.attempts, _pending())
        .values(**values)
    )
    db.session.commit()
    return "given up" if "failed_at" in values else "retry"


@dataclass(frozen=True)
class Status:
    """What ``flask mail status`` shows; ages in seconds."""

    pending: int
    failing: int
    given_up: int
    sent: int
    oldest_age: float | None


def status(now: datetime | None = None) -> Status:
    """Count the queue: pending (not yet sent), failing (pending with an error), etc."""
    now = now or utcnow()

    def count(*where) -> int:
        return db.session.scalar(sa.select(sa.func.count()).select_from(QueuedMail)
                                 .where(*where))

    oldest = db.session.scalar(sa.select(QueuedMail.created_at).where(_pending())
                               .order_by(QueuedMail.created_at).limit(1))
    return Status(
        pending=count(_pending()),
        failing=count(_pending(), QueuedMail.last_error.is_not(None)),
        given_up=count(QueuedMail.failed_at.is_not(None)),
        sent=count(QueuedMail.sent_at.is_not(None)),
        oldest_age=None if oldest is None else (now - oldest).total_seconds(),
    )


def rotate_all() -> int:
    """Re-encrypt queued bodies with the newest key (``flask keys rotate``). Commits."""
    box, count = _box(), 0
    for mail in db.session.scalars(sa.select(QueuedMail).where(QueuedMail.body.is_not(None))):
        if box.needs_rotation(mail.body):
            mail.body = box.rotate(mail.body)
            count += 1
    db.session.commit()
    return count
