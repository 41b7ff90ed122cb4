"""Storage of the second factors (the account columns live on ``User``)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..timeutil import UTCDateTime, utcnow


class SmsCode(db.Model):
    """One one-time code sent by SMS, stored only as a keyed hash.

    Bound to the user, the phone number (E.164) and the purpose (``setup``,
    ``sign_in``, ``recovery``, ``change_phone``) through the HMAC context.
    ``attempts`` counts wrong entries (5 void it); ``used_at`` is set only when
    it was entered right; a newer code voids it by setting ``expires_at`` to
    the moment it was sent. Rows also serve as the send log that the send
    limits count (:mod:`hubweb.twostep.sendlimits`).
    """

    __tablename__ = "sms_codes"
    __table_args__ = (
        sa.Index("ix_sms_codes_user_created", "user_id", "created_at"),
        sa.Index("ix_sms_codes_phone_created", "phone", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(sa.String(16))
    purpose: Mapped[str] = mapped_column(sa.String(16))
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
