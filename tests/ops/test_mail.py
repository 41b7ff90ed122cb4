"""Mail: the smtp backend against a real SMTP server on loopback, and the console backend.

The server is aiosmtpd's :class:`~aiosmtpd.controller.Controller` on 127.0.0.1
and a free port; its handler keeps the envelopes it accepted.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from aiosmtpd.smtp import AuthResult

from hubweb import mail
from hubweb.auth import messages as auth_msg
from hubweb.extensions import db
from hubweb.models import EmailToken, OutboxMessage, SecurityEvent, User
from tests.support.mail import (
    Collector,
    deliver,
    forgot,
    free_port,
    make_due,
    parse,
    queued,
    register,
    smtp_server,
    use_smtp,
)

BASE = "http://portal.example.test:8080"
SENDER = "no-reply@portal.example.test"
TEMPLATES = Path(__file__).resolve().parents[2] / "templates" / "email"


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


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def main_text(reply) -> str:
    """The visible text of the page's <main>, whitespace collapsed."""
    html = reply.get_data(as_text=True)
    main = re.search(r"<main\b.*?</main>", html, re.S).group(0)
    return " ".join(re.sub(r"<[^>]+>", " ", main).split())


# -- smtp: the message --------------------------------------------------------------------


@pytest.mark.settings(BASE_URL=BASE, MAIL_DEFAULT_SENDER=SENDER)
def test_register_sends_text_and_html_through_smtp(app, client, smtp):
    use_smtp(app, smtp.port)
    # The request arrives under another Host: links must still use BASE_URL.
    reply = register(client, "New.Person@Example.COM", base_url="http://evil.example")
    assert reply.status_code == 200, reply.get_data(as_text=True)[:500]
    assert smtp.envelopes == []  # queued with the account; the sender delivers
    assert deliver(app) == 1

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
    deliver(app)
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
        use_smtp(app, server.port, MAIL_USERNAME="hub", MAIL_PASSWORD="s3cret", MAIL_TIMEOUT=2)
        assert register(client, "carol@example.com").status_code == 200
        deliver(app)
        assert seen == [(b"hub", b"s3cret")]
        assert len(server.envelopes) == 1

        app.config["MAIL_PASSWORD"] = "wrong"
        reply = register(app.test_client(), "dave@example.com")
        assert reply.status_code == 200  # the account and its email are queued together
        deliver(app)
        assert len(server.envelopes) == 1
        dave = queued(app)[-1]
        assert dave.recipient == "dave@example.com" and dave.sent_at is None
        assert dave.attempts == 1 and dave.last_error.startswith("SMTP 127.0.0.1:")
        # The operator fixes the password: the email goes at the next attempt.
        app.config["MAIL_PASSWORD"] = "s3cret"
        make_due(app)
        deliver(app)
        assert server.rcpt_tos() == ["carol@example.com", "dave@example.com"]
    assert count(app, User, User.email == "dave@example.com") == 1


# -- smtp: failures -------------------------------------------------------------------------


def test_register_with_smtp_down_answers_as_usual_and_delivers_later(app, client):
    use_smtp(app, free_port())  # nothing listens there: connection refused
    reply = register(client, "erin@example.com")
    assert reply.status_code == 200
    assert auth_msg.CHECK_EMAIL_CONFIRM.format(email="erin@example.com") in main_text(reply)
    assert count(app, User) == 1 and count(app, EmailToken) == 1
    assert deliver(app) == 1  # refused: kept for a retry
    [row] = queued(app)
    assert row.sent_at is None and row.failed_at is None and row.attempts == 1
    assert "ConnectionRefusedError" in row.last_error
    with smtp_server(Collector(), port=app.config["MAIL_PORT"]) as server:
        make_due(app)
        assert deliver(app) == 1
        assert server.rcpt_tos() == ["erin@example.com"]
    [row] = queued(app)
    assert row.sent_at is not None and row.body is None and row.attempts == 2


def test_register_with_smtp_down_htmx(app, client):
    use_smtp(app, free_port())
    reply = register(client, "erin@example.com", headers={"HX-Request": "true"})
    assert reply.status_code == 200
    assert auth_msg.CHECK_EMAIL_CONFIRM.format(email="erin@example.com") in main_text(reply)
    assert [r.recipient for r in queued(app)] == ["erin@example.com"]


def test_forgot_password_with_smtp_down_looks_like_an_unknown_email(app, make_user):
    user_id = make_user("alice@example.com")
    use_smtp(app, free_port())
    known = forgot(app.test_client(), "alice@example.com")
    unknown = forgot(app.test_client(), "nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    assert (main_text(known).replace("alice@example.com", "EMAIL")
            == main_text(unknown).replace("nobody@example.com", "EMAIL"))
    # The link and its email were written together; the email waits for the server.
    assert count(app, EmailToken, EmailToken.user_id == user_id) == 1
    assert count(app, SecurityEvent, SecurityEvent.kind == "reset_requested") == 1
    assert [(r.recipient, r.kind) for r in queued(app)] == [
        ("alice@example.com", "reset_password")]


def test_slow_smtp_server_fails_the_attempt_within_the_timeout(app, client, caplog,
                                                               hubweb_logs):
    with smtp_server(Collector(delay=4)) as server:
        use_smtp(app, server.port, MAIL_TIMEOUT=1)
        assert register(client, "frank@example.com").status_code == 200
        with caplog.at_level(logging.ERROR):
            deliver(app)
    [row] = queued(app)
    assert row.sent_at is None and "timed out" in row.last_error
    assert count(app, User) == 1
    # The operator learns about it from the log, without the message or its link.
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "timed out" in record.getMessage() and "/confirm-email/" not in record.getMessage()


def test_deliver_raises_mail_error_not_oserror(app):
    use_smtp(app, free_port())
    with app.app_context(), pytest.raises(mail.MailError, match="SMTP 127.0.0.1") as err:
        mail.deliver("x@example.com", b"Subject: x\r\n\r\nbody\r\n")
    assert err.value.permanent is False


def test_notify_queues_and_commits_on_its_own(app, make_user):
    """For a change committed already: the notice is committed by itself."""
    user_id = make_user()
    use_smtp(app, free_port())
    with app.test_request_context():
        user = db.session.get(User, user_id)
        assert mail.notify(user, "Your password was changed", "password_changed") is True
        db.session.rollback()  # nothing left to roll back
    assert [(r.recipient, r.kind) for r in queued(app)] == [
        ("alice@example.com", "password_changed")]


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
        # The To address is a valid one; the user's text tests the autoescaping.
        msg = mail.build_message("o'brien+x@example.com", "Subject", name, user=user,
                                 link="http://127.0.0.1:5000/some/link", phone="+44 ••• 123",
                                 left=2)
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
