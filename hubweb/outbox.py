"""The development outbox: what the ``console`` mail and SMS backends "sent".

The page exists only while a console backend is configured; every page then
shows a banner saying so (see ``templates/base.html``).
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, render_template

from .extensions import db
from .models import OutboxMessage

bp = Blueprint("outbox", __name__, url_prefix="/dev")

PAGE_SIZE = 50


def enabled(app=None) -> bool:
    """True while the mail or the SMS backend is ``console``."""
    cfg = (app or current_app).config
    return cfg["MAIL_BACKEND"] == "console" or cfg["SMS_BACKEND"] == "console"


def record(channel: str, recipient: str, body: str, subject: str = "", html: str = "") -> None:
    """Keep a console-sent message for the outbox page; the caller commits.

    :param channel: ``email`` or ``sms``.
    """
    db.session.add(
        OutboxMessage(channel=channel, recipient=recipient, subject=subject, body=body, html=html)
    )


@bp.get("/outbox")
def index():
    """List the newest messages first (development only; 404 otherwise)."""
    if not enabled():
        abort(404)
    messages = db.session.scalars(
        sa.select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(PAGE_SIZE)
    )
    return render_template("dev/outbox.html", messages=list(messages))
