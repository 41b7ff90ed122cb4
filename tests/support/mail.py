"""Helpers for the mail tests: a real SMTP server (aiosmtpd) on loopback, the forms that
send mail, and the mail queue read as an operator would.

The server is aiosmtpd's :class:`~aiosmtpd.controller.Controller` on 127.0.0.1
and a free port; its handler keeps the envelopes it accepted (``MAIL FROM``,
every ``RCPT TO`` and the message as received).
"""

from __future__ import annotations

import asyncio
import email
import re
import socket
import threading
from contextlib import contextmanager
from email import policy

import sqlalchemy as sa
from aiosmtpd.controller import Controller

from hubweb import mailsender
from hubweb.extensions import db
from hubweb.mailqueue import QueuedMail
from tests.support.accounts import PASSWORD


class Collector:
    """An aiosmtpd handler that keeps every accepted envelope (after ``delay`` seconds).

    :ivar received: set as soon as a message's DATA has arrived, before the reply.
    """

    def __init__(self, delay: float = 0):
        self.delay = delay
        self.envelopes = []
        self.port = 0
        self.received = threading.Event()

    async def handle_DATA(self, server, session, envelope):
        self.received.set()
        if self.delay:
            await asyncio.sleep(self.delay)
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def rcpt_tos(self) -> list[str]:
        return [rcpt for envelope in self.envelopes for rcpt in envelope.rcpt_tos]


class DataRecorder(Collector):
    """Keeps the envelope when DATA arrives, then answers only after ``delay`` seconds:
    a sender killed meanwhile has had its message taken but never heard so."""

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        self.received.set()
        await asyncio.sleep(self.delay)
        return "250 Message accepted for delivery"


def free_port() -> int:
    """A port nothing listens on (bound to port 0, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def smtp_server(handler: Collector, port: int | None = None, **smtp_kwargs):
    """Run ``handler`` behind a real SMTP server on 127.0.0.1 (``port`` or a free one)."""
    handler.port = port or free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port, **smtp_kwargs)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


def use_smtp(app, port: int, **extra) -> None:
    app.config.update({"MAIL_BACKEND": "smtp", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port,
                       "MAIL_TIMEOUT": 5, **extra})


def _csrf(client, path: str, **kw) -> str:
    html = client.get(path, **kw).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def register(client, email_address: str, **kw):
    token = _csrf(client, "/register", base_url=kw.get("base_url", "http://localhost"))
    return client.post("/register", data={
        "csrf_token": token, "email": email_address, "password": PASSWORD}, **kw)


def forgot(client, email_address: str, **kw):
    token = _csrf(client, "/forgot-password")
    return client.post("/forgot-password", data={"csrf_token": token, "email": email_address},
                       **kw)


def parse(envelope) -> email.message.EmailMessage:
    """The message as received; UTF-8 headers (SMTPUTF8, RFC 6532) read as text."""
    return email.message_from_string(envelope.original_content.decode("utf-8"),
                                     policy=policy.SMTPUTF8)


def deliver(app) -> int:
    """Run the sender once, as ``flask mail work --once`` does; rows attempted."""
    with app.app_context():
        return mailsender.deliver_due()


def queued(app) -> list[QueuedMail]:
    """Every row of the mail queue, oldest first (detached)."""
    with app.app_context():
        rows = list(db.session.scalars(sa.select(QueuedMail).order_by(QueuedMail.id)))
        db.session.expunge_all()
        return rows


def make_due(app) -> None:
    """Let every pending row's back-off (or lease) end now."""
    with app.app_context():
        db.session.execute(sa.update(QueuedMail).where(QueuedMail.sent_at.is_(None))
                           .values(next_attempt_at=QueuedMail.created_at))
        db.session.commit()
