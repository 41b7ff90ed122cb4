"""Single-use emailed links: email confirmation and password reset.

A token is 256 random bits (``secrets.token_urlsafe(32)``), shown once in
the emailed URL and stored only as its SHA-256. Issuing a new token of a
purpose voids the older unused ones. Using one is an atomic compare-and-set
(``UPDATE ... WHERE used_at IS NULL``), so two clicks cannot both succeed.

A link outlives no credential change. Every change of the
password (settings or reset), the email address or the two-step set-up raises
the account's ``credential_version`` (:func:`hubweb.accounts.credentials_changed`);
a token carries the version it was issued under and is refused
(:attr:`TokenProblem.SUPERSEDED`) once they differ. Why a stamp rather than
voiding the rows in the changing transaction:

- One check, at the one place a token is read (:func:`find`, and again in
  :func:`consume`), covers every change, including ones written later (email
  change) and the operator CLI: a change only has to raise the version,
  which it must do anyway for other uses (trusted browsers).
- It has no race: a link issued while a change is in flight carries the
  version it read, so it is refused once the change commits. An
  ``UPDATE ... SET used_at`` in the changing transaction cannot see a token
  that a concurrent request inserts and commits after it (READ COMMITTED).
- A voided row would claim the link was *used*; the stamp lets the page say
  the account's security settings changed since.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa

from .extensions import db
from .models import EmailToken, User
from .timeutil import utcnow

#: purpose -> lifetime in seconds.
LIFETIMES = {"confirm": 24 * 3600, "reset": 3600, "email_change": 24 * 3600}


class TokenProblem(enum.Enum):
    """Why a link cannot be used."""

    INVALID = "invalid"
    EXPIRED = "expired"
    USED = "used"
    SUPERSEDED = "superseded"  # the password, email or two-step set-up changed since


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def issue(user: User, purpose: str, new_email: str | None = None) -> str:
    """Create a token for ``user``; void older unused ones of the same purpose.

    :param purpose: ``confirm`` (valid 24 hours), ``reset`` (1 hour) or
        ``email_change`` (24 hours).
    :param new_email: for ``email_change``, the normalised address it confirms.
    :return: the raw token for the URL. The caller commits.
    """
    now = utcnow()
    db.session.execute(
        sa.update(EmailToken)
        .where(EmailToken.user_id == user.id, EmailToken.purpose == purpose)
        .where(EmailToken.used_at.is_(None))
        .values(used_at=now)
    )
    raw = secrets.token_urlsafe(32)
    db.session.add(
        EmailToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=_hash(raw),
            credential_version=user.credential_version,
            new_email=new_email,
            created_at=now,
            expires_at=now + timedelta(seconds=LIFETIMES[purpose]),
        )
    )
    return raw


def find(raw: str, purpose: str) -> tuple[EmailToken | None, TokenProblem | None]:
    """Look a raw token up.

    :return: ``(token, None)`` when usable, else ``(token or None, problem)``.
    """
    if not raw or len(raw) > 100:
        return None, TokenProblem.INVALID
    token = db.session.scalar(
        sa.select(EmailToken).where(
            EmailToken.token_hash == _hash(raw), EmailToken.purpose == purpose
        )
    )
    if token is None:
        return None, TokenProblem.INVALID
    if token.used_at is not None:
        return token, TokenProblem.USED
    if token.credential_version != token.user.credential_version:
        return token, TokenProblem.SUPERSEDED
    if token.expires_at <= utcnow():
        return token, TokenProblem.EXPIRED
    return token, None


def consume(token: EmailToken) -> bool:
    """Mark ``token`` used, atomically; True only for the one caller that did.

    The caller commits; a False means another request used it first, or the
    account's credentials changed since :func:`find` (the version is checked
    again in the same statement).
    """
    version = (sa.select(User.credential_version).where(User.id == EmailToken.user_id)
               .scalar_subquery())
    result = db.session.execute(
        sa.update(EmailToken)
        .where(EmailToken.id == token.id, EmailToken.used_at.is_(None))
        .where(EmailToken.expires_at > utcnow())
        .where(EmailToken.credential_version == version)
        .values(used_at=utcnow())
    )
    return result.rowcount == 1


def count_recent(user: User, purpose: str, seconds: int) -> int:
    """How many tokens of ``purpose`` were issued to ``user`` in the last ``seconds``."""
    since = utcnow() - timedelta(seconds=seconds)
    return db.session.scalar(
        sa.select(sa.func.count())
        .select_from(EmailToken)
        .where(EmailToken.user_id == user.id, EmailToken.purpose == purpose)
        .where(EmailToken.created_at >= since)
    )
