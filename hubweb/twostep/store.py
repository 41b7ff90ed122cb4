"""The rows of ``authenticators`` that every factor keeps the same way
(:class:`hubweb.models.Authenticator`): removing a kind, marking a use."""

from __future__ import annotations

import sqlalchemy as sa

from ..extensions import db
from ..models import Authenticator, User
from ..timeutil import utcnow


def remove_all(user: User, kind: str, *, enabled_only: bool = False) -> int:
    """Delete ``user``'s authenticators of ``kind`` (with ``enabled_only``, only
    those that are on) by one conditional ``DELETE``, so that of two parallel
    requests exactly one sees rows go. The caller commits.

    :return: how many rows this request deleted.
    """
    stmt = sa.delete(Authenticator).where(Authenticator.user_id == user.id,
                                          Authenticator.kind == kind)
    if enabled_only:
        stmt = stmt.where(Authenticator.enabled_at.is_not(None))
    gone = db.session.execute(stmt, execution_options={"synchronize_session": False}).rowcount
    db.session.expire(user, ["authenticators"])
    return gone


def mark_used(row: Authenticator | None) -> None:
    """Record that ``row`` has just passed a second step (its ``last_used_at``)."""
    if row is not None:
        db.session.execute(sa.update(Authenticator).where(Authenticator.id == row.id)
                           .values(last_used_at=utcnow()),
                           execution_options={"synchronize_session": False})
