"""The development outbox: what the ``console`` mail and SMS backends "sent".

The page exists only while a console backend is configured; every page then
shows a banner saying so (see ``templates/base.html``).
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, render_template
from markupsafe import Markup, escape

from . import i18n
from .extensions import db
from .models import OutboxMessage

bp = Blueprint("outbox", __name__, url_prefix="/dev")

PAGE_SIZE = 50
#: An http(s) URL in a text body: up to whitespace or a character that cannot
#: end a link in running text; trailing sentence punctuation is left out (as
#: in GitHub's autolinks: "...at https://x.example/reset." links without the ".").
_URL = re.compile(r"""https?://[^\s<>"']+""")
_TRAILING = ".,;:!?)]}"


def enabled(app=None) -> bool:
    """True while the mail or the SMS backend is ``console``."""
    cfg = (app or current_app).config
    return cfg["MAIL_BACKEND"] == "console" or cfg["SMS_BACKEND"] == "console"


def record(channel: str, recipient: str, body: str, subject: str = "", html: str = "") -> None:
    """Keep a console-sent message for the outbox page, with the language it was
    written in (the one in force: the recipient's, :func:`hubweb.i18n.language_of`);
    the caller commits.

    :param channel: ``email`` or ``sms``.
    """
    db.session.add(OutboxMessage(channel=channel, recipient=recipient, subject=subject,
                                 body=body, html=html, language=i18n.current_language()))


@bp.app_template_filter("linkify")
def linkify(text: str) -> Markup:
    """Escape ``text`` and make each http(s) URL in it a link.

    Everything is escaped (a body holds what people typed, such as an email
    address); only the URLs become ``<a href>``, and their text is escaped too.

    :param text: a message's plain-text body.
    :return: safe HTML for ``<pre>``.
    """
    parts, pos = [], 0
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        parts.append(escape(text[pos:match.start()]))
        parts.append(Markup('<a href="{0}">{0}</a>').format(url))
        pos = match.start() + len(url)
    parts.append(escape(text[pos:]))
    return Markup("").join(parts)


@bp.get("/outbox")
def index():
    """List the newest messages first (development only; 404 otherwise)."""
    if not enabled():
        abort(404)
    messages = db.session.scalars(
        sa.select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(PAGE_SIZE)
    )
    return render_template("dev/outbox.html", messages=list(messages))
