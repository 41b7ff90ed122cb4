"""Account models: users, their second factors (authenticators), server-side
sessions, security events, email tokens.

The schema is built only by the Alembic migrations in ``migrations/``; a test
checks that these models and the migrations agree.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db
from .timeutil import UTCDateTime, utcnow


def _factor_view(kind: str, column: str, doc: str, *, enabled: bool = True) -> property:
    """A read-only property of :class:`User`: ``column`` of its first ``kind``
    authenticator that is on (``enabled``) or being set up, or ``None``."""
    def read(user: User):
        row = user.authenticator(kind, enabled=enabled)
        return getattr(row, column) if row else None
    return property(read, doc=doc)


class User(UserMixin, db.Model):
    """An account, identified by its normalised email address.

    ``email`` is stored as entered after normalisation (trimmed, domain lower
    case); ``email_key`` is its case-folded form, unique, so that two accounts
    can never differ only in letter case.
    """

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(sa.String(320))
    email_key: Mapped[str] = mapped_column(sa.String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    email_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Consecutive wrong passwords at sign-in (hubweb.auth.flows.check_password).
    password_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    # Consecutive failed second-factor codes of any kind (SMS or app), and when
    # the last one failed: the account-wide throttle of hubweb.twostep.throttle.
    factor_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    factor_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Raised by one on every change of the password, the email address or the
    # two-step set-up (hubweb.accounts.credentials_changed); emailed links
    # carry the value they were issued under and die when it moves on.
    credential_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # The language chosen for this account (a tag of HUBWEB_LANGUAGES), in which
    # its pages, emails and SMS come; None: the browser's (hubweb.i18n).
    language: Mapped[str | None] = mapped_column(sa.String(16))

    # The account's second factors, one row each (loaded on first use, one query).
    authenticators: Mapped[list[Authenticator]] = relationship(
        back_populates="user", order_by="Authenticator.id", cascade="all, delete-orphan",
        passive_deletes=True)

    def authenticator(self, kind: str, *, enabled: bool = True) -> Authenticator | None:
        """The account's first ``kind`` row (``"sms"``, ``"app"``) that is on
        (``enabled``) or being set up (``enabled=False``), or ``None``."""
        for row in self.authenticators:
            if row.kind == kind and (row.enabled_at is not None) == enabled:
                return row
        return None

    # Read views of the factor rows, in the words the domain uses.
    sms_phone = _factor_view("sms", "lookup",
                             "The E.164 number of two-step verification by SMS, or ``None``.")
    sms_enabled_at = _factor_view("sms", "enabled_at",
                                  "When SMS was turned on (a new number keeps the time).")
    totp_secret = _factor_view("app", "secret",
                               "The active authenticator-app key, encrypted, or ``None``.")
    totp_enabled_at = _factor_view("app", "enabled_at",
                                   "When the active authenticator-app key was confirmed.")
    totp_last_step = _factor_view("app", "last_step",
                                  "The last accepted TOTP time step (RFC 6238 section 5.2).")
    totp_pending_secret = _factor_view("app", "secret", "The key being set up, encrypted.",
                                       enabled=False)
    totp_pending_at = _factor_view("app", "created_at", "When the key being set up was made.",
                                   enabled=False)

    @property
    def sms_enabled(self) -> bool:
        """True while two-step verification by SMS is on."""
        return self.authenticator("sms") is not None

    @property
    def totp_enabled(self) -> bool:
        """True while an authenticator app is on (only ever on top of SMS)."""
        return self.authenticator("app") is not None

    @property
    def two_step_enabled(self) -> bool:
        """True when sign-in and recovery need a second factor."""
        return self.sms_enabled

    @property
    def required_factors(self) -> int:
        """How many factors a signed-in session of this account must have shown:
        2 (password and a second factor) while two-step verification is on, else 1."""
        return 2 if self.two_step_enabled else 1

    @property
    def email_confirmed(self) -> bool:
        """True once the emailed confirmation link was opened."""
        return self.email_confirmed_at is not None

    def __repr__(self) -> str:
        return f"<User {self.id}>"


class Authenticator(db.Model):
    """One second factor of an account: an instance of a factor kind.

    After django-otp's devices: a user may have several rows of a kind (the
    domain of each kind decides how many). ``kind`` is a registry key
    (:data:`hubweb.twostep.factors.FACTORS`); ``enabled_at`` is ``None``
    while the instance is being set up (an authenticator-app key before its
    first right code). ``lookup`` is a public value searched by (the E.164
    number of SMS); ``data`` is further public data as a JSON object;
    ``secret`` is encrypted with ``ENCRYPTION_KEYS`` (the TOTP key), never
    shown; ``last_step`` is the last accepted time step of a TOTP key
    (RFC 6238 section 5.2, the replay guard); ``last_used_at`` is when it
    last passed a second step.
    """

    __tablename__ = "authenticators"
    __table_args__ = (sa.Index("ix_authenticators_kind_lookup", "kind", "lookup"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    name: Mapped[str] = mapped_column(sa.String(64), default="", server_default="")
    lookup: Mapped[str | None] = mapped_column(sa.String(255))
    data: Mapped[str] = mapped_column(sa.Text, default="{}", server_default="{}")
    secret: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    enabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_step: Mapped[int | None] = mapped_column(sa.BigInteger)

    user: Mapped[User] = relationship(back_populates="authenticators")

    def __repr__(self) -> str:
        return f"<Authenticator {self.id} {self.kind}>"


class UserSession(db.Model):
    """A server-side session; the cookie carries only the random token.

    ``id`` is the SHA-256 (hex) of that token, so a copy of the database
    cannot be replayed as cookies. ``state`` is ``anonymous``, ``pending``
    (password given, second step not yet), ``signed_in`` or ``ended`` (ended
    by a change to the account's sign-in set-up; the next request with its
    cookie deletes it and says why, see :mod:`hubweb.sessions`).

    ``factors`` is how many authentication factors the session has shown:
    0 (anonymous), 1 (the password) or 2 (the password and a second factor,
    SMS or authenticator app), NIST SP 800-63B section 4 (AAL1 / AAL2).
    """

    __tablename__ = "sessions"

    id: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    state: Mapped[str] = mapped_column(sa.String(16), default="anonymous")
    factors: Mapped[int] = mapped_column(sa.SmallInteger, default=0, server_default="0")
    data: Mapped[str] = mapped_column(sa.Text, default="{}")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    user_agent: Mapped[str] = mapped_column(sa.String(512), default="")

    user: Mapped[User | None] = relationship(lazy="raise")


class TrustedBrowser(db.Model):
    """A browser that may skip the second step of sign-in for a while
    ("Don't ask again on this browser", :mod:`hubweb.trusted_browsers`).

    The browser's cookie carries a random token (256 bits); ``token_hash`` is
    its SHA-256 (hex), so a copy of the database cannot be replayed as
    cookies. The row counts only until ``expires_at`` and while
    ``credential_version`` equals the account's :attr:`User.credential_version`
    (any change of the password or the two-step set-up ends it). ``ip`` and
    ``user_agent`` are those of the sign-in that trusted it, shown in the
    settings; ``last_used_at`` is when it last skipped a second step.
    """

    __tablename__ = "trusted_browsers"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_agent: Mapped[str] = mapped_column(sa.String(512), default="")
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    credential_version: Mapped[int] = mapped_column(default=0, server_default="0")


class SecurityEvent(db.Model):
    """Something that happened to an account's security, shown to its owner.

    ``kind`` is one of :data:`hubweb.events.KINDS`.
    """

    __tablename__ = "security_events"
    __table_args__ = (sa.Index("ix_security_events_user_time", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip: Mapped[str] = mapped_column(sa.String(64), default="")
    user_agent: Mapped[str] = mapped_column(sa.String(512), default="")


class EmailToken(db.Model):
    """A single-use emailed link (confirmation, password reset, new address).

    Only the SHA-256 of the token is stored. ``purpose`` is ``confirm``,
    ``reset`` or ``email_change``; ``new_email`` is the normalised address an
    ``email_change`` link confirms (``None`` for the others); ``used_at`` is set
    when the link is used or voided by a newer one.
    ``credential_version`` is the account's :attr:`User.credential_version` when
    the link was issued (see :mod:`hubweb.tokens`).
    """

    __tablename__ = "email_tokens"
    __table_args__ = (
        sa.Index("ix_email_tokens_user_purpose", "user_id", "purpose", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(sa.String(16))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    credential_version: Mapped[int] = mapped_column(default=0, server_default="0")
    new_email: Mapped[str | None] = mapped_column(sa.String(320))

    user: Mapped[User] = relationship(lazy="joined")


class OutboxMessage(db.Model):
    """A message the ``console`` mail or SMS backend "sent" (development only)."""

    __tablename__ = "dev_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(sa.String(8))
    recipient: Mapped[str] = mapped_column(sa.String(320))
    subject: Mapped[str] = mapped_column(sa.String(255), default="")
    body: Mapped[str] = mapped_column(sa.Text)
    html: Mapped[str] = mapped_column(sa.Text, default="")
    # The language tag it was written in (HUBWEB_LANGUAGES), shown by the outbox page.
    language: Mapped[str] = mapped_column(sa.String(16), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
