"""Email behind one small interface, with ``console`` and ``smtp`` backends.

Every email has a text and an HTML part, rendered from
``templates/email/<name>.txt`` and ``templates/email/<name>.html``.

The smtp backend uses the standard library's :mod:`smtplib` rather than
Flask-Mail, because Flask-Mail 0.10 sets no socket timeout: a hung SMTP
server would hold a worker forever. Here every connection has
``MAIL_TIMEOUT`` seconds (default 10).
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid

from flask import current_app, render_template

from . import outbox
from .extensions import db

log = logging.getLogger(__name__)


class MailError(Exception):
    """The message could not be handed to the mail server (for the operator log)."""


def build_message(to: str, subject: str, template: str, **context) -> EmailMessage:
    """Render ``template`` as a text+HTML message (``multipart/alternative``)."""
    cfg = current_app.config
    context.setdefault("portal", cfg["PORTAL_NAME"])
    context.setdefault("base_url", cfg["BASE_URL"].rstrip("/"))
    msg = EmailMessage()
    msg["From"] = cfg["MAIL_DEFAULT_SENDER"]
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain=cfg["MAIL_DEFAULT_SENDER"].rpartition("@")[2] or None)
    msg.set_content(render_template(f"email/{template}.txt", **context))
    msg.add_alternative(render_template(f"email/{template}.html", **context), subtype="html")
    return msg


def send(to: str, subject: str, template: str, **context) -> None:
    """Build and send one email with the configured backend.

    :raises MailError: the smtp backend failed (refused, timed out, no server).
        The console backend adds an outbox row, which the caller commits.
    """
    msg = build_message(to, subject, template, **context)
    if current_app.config["MAIL_BACKEND"] == "smtp":
        _send_smtp(msg)
    else:
        _send_console(msg)


def notify(user, subject: str, template: str, **context) -> bool:
    """Send a notice to ``user`` after a change was committed; best effort.

    A failure is logged for the operator and does not undo the change (the
    security event is already recorded). Commits the console outbox row.

    :return: True when the message was handed over.
    """
    try:
        send(user.email, subject, template, user=user, **context)
    except MailError as exc:
        log.error("mail to user %s failed: %s", user.id, exc)
        db.session.rollback()
        return False
    db.session.commit()
    return True


def _send_console(msg: EmailMessage) -> None:
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    log.info("EMAIL (console backend) to %s: %s\n%s", msg["To"], msg["Subject"], text)
    outbox.record("email", msg["To"], text, subject=msg["Subject"], html=html)


def _send_smtp(msg: EmailMessage) -> None:
    cfg = current_app.config
    host, port, timeout = cfg["MAIL_SERVER"], int(cfg["MAIL_PORT"]), cfg["MAIL_TIMEOUT"]
    try:
        if cfg["MAIL_USE_SSL"]:
            conn = smtplib.SMTP_SSL(host, port, timeout=timeout,
                                    context=ssl.create_default_context())
        else:
            conn = smtplib.SMTP(host, port, timeout=timeout)
        with conn:
            if cfg["MAIL_USE_TLS"]:
                conn.starttls(context=ssl.create_default_context())
            if cfg["MAIL_USERNAME"]:
                conn.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"] or "")
            conn.send_message(msg)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"SMTP {host}:{port}: {type(exc).__name__}: {exc}") from exc
