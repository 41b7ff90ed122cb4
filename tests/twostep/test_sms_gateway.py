"""The ``http`` SMS backend against a real HTTP server on loopback.

A gateway error or a gateway that hangs past ``SMS_HTTP_TIMEOUT`` gives the
person a clear "could not send" message, never a 500, and leaves the account
as it was; "Resend code" works once the gateway answers again.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hubweb import create_app
from hubweb.extensions import db, limiter
from tests.support.accounts import PASSWORD, csrf_token
from tests.support.database import fresh_database
from tests.support.sms import (
    MASKED,
    PHONE,
    PHONE_INPUT,
    SHOWN,
    code_of,
    code_rows,
    enter_sign_in_code,
    event_kinds,
    post,
    resend_sign_in_code,
    same_step,
    set_sms,
    settle,
    sign_in_password,
    text,
    token_of,
    user_row,
)

COULD_NOT_SEND = ("We could not send the text message. Nothing was changed. "
                  "Try again in a few minutes.")
TOKEN = "gateway-bearer-token"


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        gw = self.server.gateway
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        gw.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if gw.mode == "hang":
            gw.release.wait(5)
        status = {"ok": 202, "error": 500, "hang": 200}[gw.mode]
        try:
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")
        except OSError:
            pass  # the client gave up waiting

    def log_message(self, format, *args):  # noqa: A002
        pass


class Gateway:
    """An SMS gateway on 127.0.0.1 (port chosen by the OS) answering as ``mode`` says."""

    def __init__(self):
        self.requests: list[dict] = []
        self.mode = "ok"
        self.release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.gateway = self
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def sent(self) -> list[dict]:
        return [json.loads(r["body"]) for r in self.requests]

    def last_code(self) -> str:
        return code_of(self.sent()[-1]["body"])

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def gateway(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy",
                 "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    gw = Gateway()
    yield gw
    gw.close()


@pytest.fixture
def app(tmp_path, migrated_db, gateway):
    """The app with ``SMS_BACKEND=http`` pointing at the loopback gateway."""
    app = create_app({**fresh_database(tmp_path, migrated_db), "SMS_BACKEND": "http",
                      "SMS_HTTP_URL": gateway.url, "SMS_HTTP_TOKEN": TOKEN,
                      "SMS_HTTP_TIMEOUT": 0.5})
    with app.app_context():
        limiter.reset()
    yield app
    with app.app_context():
        db.engine.dispose()


def setup_until_send(client, htmx=True):
    token = csrf_token(client, "/settings/account")
    for step, data in [("start", {}), ("password", {"password": PASSWORD}),
                       ("phone", {"phone": PHONE_INPUT})]:
        r = settle(client, post(client, f"/settings/two-step/sms/{step}", data, token=token,
                                htmx=htmx))
    return token, r


def test_http_backend_posts_json_with_the_bearer_token(app, client, make_user, auth, gateway):
    user_id = make_user()
    auth.sign_in()
    token, r = setup_until_send(client)
    assert r.status_code == 200 and SHOWN in text(r)  # in full on the code step
    [request] = gateway.requests
    assert request["path"] == "/sms"
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert request["headers"]["Content-Type"] == "application/json"
    [message] = gateway.sent()
    assert message["to"] == PHONE and set(message) == {"to", "body"}
    r = post(client, "/settings/two-step/sms/code", {"code": gateway.last_code()},
             token=token, htmx=True)
    assert r.status_code == 200 and user_row(app, user_id)["sms_phone"] == PHONE


@pytest.mark.parametrize("mode", ["error", "hang"])
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_failed_send_in_set_up_changes_nothing(app, client, make_user, auth, gateway, caplog,
                                               monkeypatch, mode, htmx):
    # An in-process Alembic run (the migrations) may have disabled the loggers that
    # existed before it, unless env.py says disable_existing_loggers=False.
    monkeypatch.setattr(logging.getLogger("hubweb.twostep.smscodes"), "disabled", False)
    user_id = make_user()
    auth.sign_in()
    before, events = user_row(app, user_id), event_kinds(app, user_id)
    gateway.mode = mode
    began = time.monotonic()
    token, r = setup_until_send(client, htmx)
    assert time.monotonic() - began < 4  # the 0.5 s timeout, not the gateway, decides
    assert r.status_code == 503
    body = text(r)
    assert COULD_NOT_SEND in body and 'name="phone"' in body
    assert ("<html" in body) is not htmx
    assert len(gateway.requests) == 1
    assert code_rows(app) == []
    assert user_row(app, user_id) == before and event_kinds(app, user_id) == events
    # Logged for the operator, without the code.
    failure = "HTTP 500" if mode == "error" else "timed out after 0.5 s"
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR and failure in
                r.getMessage()]
    assert PHONE not in record.getMessage()
    assert gateway.last_code() not in caplog.text

    # Once the gateway answers, "Send code" works at once: the failure used no quota.
    gateway.mode = "ok"
    r = settle(client, post(client, "/settings/two-step/sms/phone", {"phone": PHONE_INPUT},
                            token=token, htmx=htmx))
    assert r.status_code == 200 and SHOWN in text(r)
    r = settle(client, post(client, "/settings/two-step/sms/code",
                            {"code": gateway.last_code()}, token=token, htmx=htmx))
    assert "Two-step verification by SMS is on." in text(r)
    assert user_row(app, user_id)["sms_phone"] == PHONE


@pytest.mark.parametrize("mode", ["error", "hang"])
def test_sign_in_step_says_could_not_send_and_resend_works_later(app, client, make_user,
                                                                 gateway, mode):
    user_id = make_user()
    set_sms(app, user_id)
    gateway.mode = mode
    assert sign_in_password(client).headers["Location"] == "/sign-in/verify"
    page = client.get("/sign-in/verify")
    assert page.status_code == 200
    assert COULD_NOT_SEND in text(page) and MASKED in text(page)
    assert ">Send code</button>" in text(page)
    assert code_rows(app) == []
    token = token_of(page)
    r = resend_sign_in_code(client, token)
    assert r.status_code in (429, 503) and COULD_NOT_SEND in text(r)
    assert code_rows(app) == []

    gateway.mode = "ok"
    r = post(client, "/sign-in/verify/resend", token=token, htmx=True)
    assert r.status_code == 200 and f"We sent a new code to {MASKED}." in text(r)
    assert len(code_rows(app)) == 1
    r = enter_sign_in_code(client, token, gateway.last_code())
    assert r.status_code == 303 and r.headers["Location"] == "/"


def test_recovery_step_says_could_not_send(app, client, make_user, outbox, gateway):
    user_id = make_user()
    set_sms(app, user_id)
    gateway.mode = "error"
    post(client, "/forgot-password", {"email": "alice@example.com"},
         token=csrf_token(client, "/forgot-password"))
    link = outbox.last_link()
    page = client.get(link)
    assert page.status_code == 200 and COULD_NOT_SEND in text(page)
    gateway.mode = "ok"
    r = same_step(client, post(client, link + "/resend", token=token_of(page)), link)
    assert r.status_code == 200 and re.search(r"We sent a new code to", text(r))
    r = post(client, link, {"code": gateway.last_code()}, token=token_of(page), htmx=True)
    assert r.headers["HX-Redirect"] == link


def test_a_hanging_gateway_does_not_hold_up_other_people(tmp_path, migrated_db, gateway):
    """While one person's SMS waits for the gateway, others can still sign in."""
    from hubweb import accounts

    config = {**fresh_database(tmp_path, migrated_db), "SMS_BACKEND": "http",
              "SMS_HTTP_URL": gateway.url, "SMS_HTTP_TIMEOUT": 1.0}
    if config["DATABASE_URL"].startswith("sqlite"):
        # How long SQLite waits for the write lock before "database is locked": 5 s by
        # default, less than the 10 s gateway timeout; shorter here for a short test.
        config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 0.2}}
    app = create_app(config)
    with app.app_context():
        limiter.reset()
        for email in ("alice@example.com", "bob@example.com"):
            accounts.create_user(email, PASSWORD, confirmed=True)
        db.session.commit()
    alice, bob = app.test_client(), app.test_client()
    post(alice, "/sign-in", {"email": "alice@example.com", "password": PASSWORD},
         token=csrf_token(alice, "/sign-in"))
    bob_token = csrf_token(bob, "/sign-in")
    gateway.mode = "hang"
    replies = []
    sending = threading.Thread(target=lambda: replies.append(setup_until_send(alice)[1]))
    sending.start()
    deadline = time.monotonic() + 5
    while not gateway.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert gateway.requests, "the SMS never reached the gateway"
    began = time.monotonic()
    r = post(bob, "/sign-in", {"email": "bob@example.com", "password": PASSWORD},
             token=bob_token)
    took = time.monotonic() - began
    sending.join(10)
    assert r.status_code == 303 and r.headers["Location"] == "/", text(r)
    assert took < 0.9, f"bob waited {took:.2f} s for alice's SMS"
    assert replies[0].status_code == 503 and COULD_NOT_SEND in text(replies[0])
    with app.app_context():
        db.engine.dispose()
