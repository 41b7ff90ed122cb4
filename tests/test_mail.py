"""Mail: the smtp backend against a real SMTP server on loopback, and the console backend.

The server is aiosmtpd's :class:`~aiosmtpd.controller.Controller` on 127.0.0.1
and a free port; its handler keeps the envelopes it accepted.
"""

from __future__ import annotations

import asyncio
import email
import logging
import re
import socket
import time
from contextlib import contextmanager
from email import policy
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from conftest import PASSWORD

from hubweb import mail
from hubweb.auth import messages as auth_msg
from hubweb.extensions import db
from hubweb.models import EmailToken, OutboxMessage, SecurityEvent, User

BASE = "http://portal.example.test:8080"
SENDER = "no-reply@portal.example.test"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "email"


class Collector:
    """An aiosmtpd handler that keeps every accepted envelope (after ``delay`` seconds)."""

    def __init__(self, delay: float = 0):
        self.delay = delay
        self.envelopes = []
        self.port = 0

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def free_port() -> int:
    """A port nothing listens on (bound to port 0, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def smtp_server(handler: Collector, **smtp_kwargs):
    handler.port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=handler.port, **smtp_kwargs)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def smtp():
    with smtp_server(Collector()) as handler:
        yield handler


@pytest.fixture
def hubweb_logs(monkeypatch):
    """Enable hubweb's loggers again.

    Alembic's ``migrations/env.py`` calls ``logging.config.fileConfig()``, which
    disables every logger that existed before (the migrated_db fixture runs it).
    """
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if name.startswith("hubweb") and isinstance(logger, logging.Logger):
            monkeypatch.setattr(logger, "disabled", False)


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


def forgot(client, email_address: str):
    token = _csrf(client, "/forgot-password")
    return client.post("/forgot-password", data={"csrf_token": token, "email": email_address})


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def main_text(reply) -> str:
    """The visible text of the page's <main>, whitespace collapsed."""
    html = reply.get_data(as_text=True)
    main = re.search(r"<main\b.*?</main>", html, re.S).group(0)
    return " ".join(re.sub(r"<[^>]+>", " ", main).split())


def parse(envelope) -> email.message.EmailMessage:
    return email.message_from_bytes(envelope.original_content, policy=policy.default)


# -- smtp: the message --------------------------------------------------------------------


@pytest.mark.settings(BASE_URL=BASE, MAIL_DEFAULT_SENDER=SENDER)
def test_register_sends_text_and_html_through_smtp(app, client, smtp):
    use_smtp(app, smtp.port)
    # The request arrives under another Host: links must still use BASE_URL.
    reply = register(client, "New.Person@Example.COM", base_url="http://evil.example")
    assert reply.status_code == 200, reply.get_data(as_text=True)[:500]

    assert len(smtp.envelopes) == 1
    envelope = smtp.envelopes[0]
    assert envelope.mail_from == SENDER
    assert envelope.rcpt_tos == ["New.Person@example.com"]
    msg = parse(envelope)
    assert msg["From"] == SENDER
    assert msg["To"] == "New.Person@example.com"
    assert msg["Subject"] == "Confirm your email address"
    assert re.fullmatch(r"<[^<>@\s]+@portal\.example\.test>", msg["Message-ID"])
    assert msg.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_content() for part in msg.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}

    link = re.compile(re.escape(BASE) + r"/confirm-email/([A-Za-z0-9_-]{40,})")
    text_token = link.search(parts["text/plain"]).group(1)
    html_token = link.search(parts["text/html"]).group(1)
    assert text_token == html_token
    assert f'href="{BASE}/confirm-email/{text_token}"' in parts["text/html"]
    assert "evil.example" not in parts["text/plain"] + parts["text/html"]
    # The smtp backend keeps nothing in the development outbox.
    assert count(app, OutboxMessage) == 0
    # The link in the email is the real one.
    assert client.get(f"/confirm-email/{text_token}").status_code == 200


@pytest.mark.settings(MAIL_DEFAULT_SENDER=f"Business Hub <{SENDER}>")
def test_sender_with_a_display_name(app, client, smtp):
    with app.test_request_context():
        built = mail.build_message("x@example.com", "Subject", "password_changed",
                                   user=SimpleNamespace(email="x@example.com", id=1))
    assert re.fullmatch(r"<[^<>@\s]+@portal\.example\.test>", built["Message-ID"])
    use_smtp(app, smtp.port)
    assert register(client, "bob@example.com").status_code == 200
    envelope = smtp.envelopes[0]
    msg = parse(envelope)
    assert envelope.mail_from == SENDER
    assert msg["From"].addresses[0].display_name == "Business Hub"
    assert re.fullmatch(r"<[^<>@\s]+@portal\.example\.test>", msg["Message-ID"])


def test_smtp_auth_uses_the_configured_credentials(app, client):
    seen = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        seen.append((auth_data.login, auth_data.password))
        return AuthResult(success=(auth_data.login, auth_data.password) == (b"hub", b"s3cret"))

    with smtp_server(Collector(), authenticator=authenticator, auth_require_tls=False) as server:
        use_smtp(app, server.port, MAIL_USERNAME="hub", MAIL_PASSWORD="s3cret")
        assert register(client, "carol@example.com").status_code == 200
        assert seen == [(b"hub", b"s3cret")]
        assert len(server.envelopes) == 1

        app.config["MAIL_PASSWORD"] = "wrong"
        reply = register(app.test_client(), "dave@example.com")
        assert reply.status_code == 503
        assert auth_msg.MAIL_FAILED in reply.get_data(as_text=True)
        assert len(server.envelopes) == 1
    assert count(app, User, User.email == "dave@example.com") == 0


# -- smtp: failures -------------------------------------------------------------------------


def _assert_nothing_written(app) -> None:
    assert count(app, User) == 0
    assert count(app, EmailToken) == 0
    assert count(app, SecurityEvent) == 0
    assert count(app, OutboxMessage) == 0


def test_register_with_smtp_down_answers_clearly_and_writes_nothing(app, client, caplog):
    use_smtp(app, free_port())  # nothing listens there: connection refused
    reply = register(client, "erin@example.com")
    assert reply.status_code == 503
    assert auth_msg.MAIL_FAILED in reply.get_data(as_text=True)
    _assert_nothing_written(app)
    # The same address can register once mail works again.
    with smtp_server(Collector()) as server:
        use_smtp(app, server.port)
        assert register(app.test_client(), "erin@example.com").status_code == 200
        assert len(server.envelopes) == 1
    assert count(app, User) == 1


def test_register_with_smtp_down_htmx(app, client):
    use_smtp(app, free_port())
    reply = register(client, "erin@example.com", headers={"HX-Request": "true"})
    assert reply.status_code == 503
    assert auth_msg.MAIL_FAILED in reply.get_data(as_text=True)
    _assert_nothing_written(app)


def test_forgot_password_with_smtp_down_looks_like_an_unknown_email(
        app, make_user, caplog, hubweb_logs):
    user_id = make_user("alice@example.com")
    use_smtp(app, free_port())
    with caplog.at_level(logging.ERROR):
        known = forgot(app.test_client(), "alice@example.com")
    unknown = forgot(app.test_client(), "nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    assert (main_text(known).replace("alice@example.com", "EMAIL")
            == main_text(unknown).replace("nobody@example.com", "EMAIL"))
    # No usable link was left behind, and no "reset requested" event either.
    assert count(app, EmailToken, EmailToken.user_id == user_id) == 0
    assert count(app, SecurityEvent, SecurityEvent.kind == "reset_requested") == 0
    # The operator learns about it from the log.
    assert any("SMTP" in r.getMessage() or "mail" in r.getMessage().lower()
               for r in caplog.records if r.levelno >= logging.ERROR)


def test_slow_smtp_server_fails_clearly_within_the_timeout(app, client):
    with smtp_server(Collector(delay=4)) as server:
        use_smtp(app, server.port, MAIL_TIMEOUT=1)
        start = time.monotonic()
        reply = register(client, "frank@example.com")
        elapsed = time.monotonic() - start
    assert reply.status_code == 503
    assert auth_msg.MAIL_FAILED in reply.get_data(as_text=True)
    assert elapsed < 10, f"took {elapsed:.1f}s with MAIL_TIMEOUT=1"
    assert count(app, User) == 0


def test_send_raises_mail_error_not_oserror(app):
    use_smtp(app, free_port())
    with app.test_request_context(), pytest.raises(mail.MailError, match="SMTP 127.0.0.1"):
        mail.send("x@example.com", "Subject", "password_changed",
                  user=SimpleNamespace(email="x@example.com", id=1))


def test_notify_is_best_effort(app, make_user):
    """A notice after a committed change: a mail failure is logged, not raised."""
    user_id = make_user()
    use_smtp(app, free_port())
    with app.test_request_context():
        user = db.session.get(User, user_id)
        assert mail.notify(user, "Your password was changed", "password_changed") is False


# -- every template has both parts ----------------------------------------------------------

TEMPLATE_NAMES = sorted(
    p.stem for p in TEMPLATES.glob("*.txt") if not p.name.startswith("_")
)


def test_every_email_template_has_a_text_and_an_html_part():
    html = {p.stem for p in TEMPLATES.glob("*.html") if not p.name.startswith("_")}
    assert TEMPLATE_NAMES, "no email templates found"
    assert set(TEMPLATE_NAMES) == html, "each email needs both a .txt and an .html template"


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_email_template_renders_as_multipart_alternative(app, name):
    user = SimpleNamespace(email="o'brien+<x>@example.com", id=7)
    with app.test_request_context():
        msg = mail.build_message(user.email, "Subject", name, user=user,
                                 link="http://127.0.0.1:5000/some/link", phone="+44 ••• 123")
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert text.strip() and html.strip()
    assert "<html" in html.lower() and "<html" not in text.lower()
    assert "<x>" not in html  # autoescaped


# -- console backend and the development outbox ---------------------------------------------


def test_console_backend_logs_and_keeps_the_message(app, client, outbox, caplog, hubweb_logs):
    with caplog.at_level(logging.INFO, logger="hubweb.mail"):
        assert register(client, "grace@example.com").status_code == 200
    assert any("grace@example.com" in r.getMessage() and "console" in r.getMessage()
               for r in caplog.records)
    (message,) = outbox.messages("email", to="grace@example.com")
    assert message.subject == "Confirm your email address"
    assert "/confirm-email/" in message.body
    assert "<html" in message.html.lower() and "/confirm-email/" in message.html


def test_outbox_page_lists_newest_first_with_a_banner(app, client):
    for name in ("first", "second", "third"):
        assert register(app.test_client(), f"{name}@example.com").status_code == 200
    page = client.get("/dev/outbox")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    positions = [html.index(f"{name}@example.com") for name in ("third", "second", "first")]
    assert positions == sorted(positions), "the outbox must list the newest message first"
    assert "dev-banner" in html
    assert "dev-banner" in client.get("/sign-in").get_data(as_text=True)


@pytest.mark.settings(MAIL_BACKEND="smtp", SMS_BACKEND="http",
                      SMS_HTTP_URL="http://127.0.0.1:9/")
def test_no_outbox_and_no_banner_without_console_backends(app, client):
    reply = client.get("/dev/outbox")
    assert reply.status_code == 404
    assert "There is no page at this address." in reply.get_data(as_text=True)
    for path in ("/sign-in", "/register"):
        html = client.get(path).get_data(as_text=True)
        assert "dev-banner" not in html
        assert "development outbox" not in html.lower()


@pytest.mark.settings(MAIL_BACKEND="smtp")
def test_outbox_stays_while_sms_is_console(client):
    """The banner and page exist while either backend is console (SMS here)."""
    assert client.get("/dev/outbox").status_code == 200
    assert "dev-banner" in client.get("/sign-in").get_data(as_text=True)
