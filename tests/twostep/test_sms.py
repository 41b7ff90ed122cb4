import base64
import json
import logging
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

from hubweb.twostep.sms import (
    ConsoleSms,
    HttpSms,
    SmsError,
    TwilioSms,
    build_sender,
    code_message,
)

TO = "+447400123456"
BODY = "Business Hub: your verification code is 123456."
SID = "AC" + "0" * 32


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server naming)
        gateway = self.server.gateway
        length = int(self.headers.get("Content-Length") or 0)
        gateway.requests.append(
            {"path": self.path, "headers": dict(self.headers), "body": self.rfile.read(length)}
        )
        if gateway.hang:
            gateway.release.wait(10)
        status, headers, body = gateway.reply
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:
            pass  # the client gave up (timeout test)

    def log_message(self, format, *args):  # noqa: A002
        pass


class FakeGateway:
    """A real HTTP server on loopback that records requests and answers ``reply``."""

    def __init__(self):
        self.requests = []
        self.reply = (202, {}, b"")
        self.hang = False
        self.release = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.gateway = self
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def gateway(monkeypatch):
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("TWILIO_EDGE", "TWILIO_REGION"):
        monkeypatch.delenv(name, raising=False)
    gw = FakeGateway()
    gw.thread.start()
    yield gw
    gw.close()


@pytest.fixture
def closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- HttpSms ---------------------------------------------------------------


def test_http_posts_json_with_bearer_token(gateway):
    HttpSms(gateway.base + "/send", "s3cret").send(TO, BODY)
    [req] = gateway.requests
    assert req["path"] == "/send"
    assert json.loads(req["body"]) == {"to": TO, "body": BODY}
    assert req["headers"]["Content-Type"] == "application/json"
    assert req["headers"]["Authorization"] == "Bearer s3cret"


def test_http_without_token_sends_no_authorization(gateway):
    gateway.reply = (200, {}, b"ok")
    HttpSms(gateway.base, None).send(TO, BODY)
    [req] = gateway.requests
    assert "Authorization" not in req["headers"]
    assert json.loads(req["body"]) == {"to": TO, "body": BODY}


def test_http_500_is_an_error_naming_the_status_not_the_body(gateway):
    gateway.reply = (500, {}, b"boom")
    with pytest.raises(SmsError) as info:
        HttpSms(gateway.base, "t").send(TO, BODY)
    assert "500" in str(info.value)
    assert "123456" not in str(info.value) and BODY not in str(info.value)


def test_http_redirect_is_not_followed(gateway):
    gateway.reply = (302, {"Location": gateway.base + "/elsewhere"}, b"")
    with pytest.raises(SmsError, match="302"):
        HttpSms(gateway.base + "/send", "t").send(TO, BODY)
    assert [r["path"] for r in gateway.requests] == ["/send"]


def test_http_hanging_gateway_times_out(gateway):
    gateway.hang = True
    started = time.monotonic()
    with pytest.raises(SmsError, match="timed out"):
        HttpSms(gateway.base, None, timeout=0.5).send(TO, BODY)
    assert time.monotonic() - started < 3


def test_http_closed_port_is_an_error(closed_port):
    with pytest.raises(SmsError, match="unreachable"):
        HttpSms(f"http://127.0.0.1:{closed_port}/", None, timeout=2).send(TO, BODY)


@pytest.mark.parametrize("url", ["", "file:///etc/passwd", "ftp://example.com/", "http://"])
def test_http_refuses_non_http_urls(url):
    with pytest.raises(ValueError):
        HttpSms(url, None)


# --- ConsoleSms --------------------------------------------------------------


def test_console_records_and_logs_neither_code_nor_number(caplog):
    outbox = []
    caplog.set_level(logging.INFO, logger="hubweb.sms.console")
    ConsoleSms(lambda to, body: outbox.append((to, body))).send(TO, BODY)
    assert outbox == [(TO, BODY)]
    [record] = [r for r in caplog.records if r.name == "hubweb.sms.console"]
    assert record.levelno == logging.INFO
    assert record.getMessage() == "SMS to +44 •••• ••••56: kept in the development outbox"


# --- TwilioSms against the loopback server (client.api.base_url) -----------


def _twilio(gateway, **kw):
    return TwilioSms(SID, "tok", "+15005550006", base_url=gateway.base, **kw)


def test_twilio_created_message(gateway):
    reply = {"sid": "SM" + "1" * 32, "status": "queued", "to": TO, "body": BODY}
    gateway.reply = (201, {"Content-Type": "application/json"}, json.dumps(reply).encode())
    _twilio(gateway).send(TO, BODY)
    [req] = gateway.requests
    assert req["path"] == f"/2010-04-01/Accounts/{SID}/Messages.json"
    form = parse_qs(req["body"].decode())
    assert form == {"To": [TO], "From": ["+15005550006"], "Body": [BODY]}
    expected = base64.b64encode(f"{SID}:tok".encode()).decode()
    assert req["headers"]["Authorization"] == f"Basic {expected}"


def test_twilio_refusal_is_sms_error(gateway):
    error = {"code": 21211, "message": f"The 'To' number {TO} is not valid.", "status": 400}
    gateway.reply = (400, {"Content-Type": "application/json"}, json.dumps(error).encode())
    with pytest.raises(SmsError) as info:
        _twilio(gateway).send(TO, BODY)
    assert "400" in str(info.value) and "21211" in str(info.value)
    assert "123456" not in str(info.value)


def test_twilio_timeout_is_sms_error(gateway):
    gateway.hang = True
    started = time.monotonic()
    with pytest.raises(SmsError):
        _twilio(gateway, timeout=0.5).send(TO, BODY)
    assert time.monotonic() - started < 3


def test_twilio_unreachable_is_sms_error(closed_port):
    sender = TwilioSms(
        SID, "tok", "+15005550006", timeout=2, base_url=f"http://127.0.0.1:{closed_port}"
    )
    with pytest.raises(SmsError, match="Twilio request failed"):
        sender.send(TO, BODY)


# --- build_sender ------------------------------------------------------------


def test_build_sender_console_is_default():
    assert isinstance(build_sender({"SMS_BACKEND": "console"}, print), ConsoleSms)
    assert isinstance(build_sender({}, print), ConsoleSms)


def test_build_sender_http():
    cfg = {
        "SMS_BACKEND": "http",
        "SMS_HTTP_URL": "https://sms.example/send",
        "SMS_HTTP_TOKEN": "t",
        "SMS_HTTP_TIMEOUT": 3,
    }
    sender = build_sender(cfg, print)
    assert isinstance(sender, HttpSms)
    assert (sender.url, sender.token, sender.timeout) == ("https://sms.example/send", "t", 3.0)
    assert build_sender({"SMS_BACKEND": "http", "SMS_HTTP_URL": "http://x"}, print).timeout == 10


def test_build_sender_twilio():
    cfg = {
        "SMS_BACKEND": "twilio",
        "TWILIO_ACCOUNT_SID": SID,
        "TWILIO_AUTH_TOKEN": "tok",
        "TWILIO_FROM": "+15005550006",
    }
    sender = build_sender(cfg, print)
    assert isinstance(sender, TwilioSms)
    assert (sender.account_sid, sender.from_number, sender.timeout) == (SID, "+15005550006", 10)


@pytest.mark.parametrize(
    "cfg",
    [
        {"SMS_BACKEND": "carrier-pigeon"},
        {"SMS_BACKEND": "http"},  # no URL
        {"SMS_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": SID},  # no token, no sender
    ],
)
def test_build_sender_refuses_bad_config(cfg):
    with pytest.raises(ValueError):
        build_sender(cfg, print)


# --- code_message --------------------------------------------------------------


def test_code_message():
    text = code_message(
        portal="Business Hub", code="123456", minutes=5, base_url="https://portal.example.com"
    )
    assert text == (
        "Business Hub: your verification code is 123456. It expires in 5 minutes. "
        "Do not share it with anyone; we will never ask for it.\n\n@portal.example.com #123456"
    )
    assert text.splitlines()[-1] == "@portal.example.com #123456"
    assert len(text) <= 160


def test_code_message_host_drops_port_and_path():
    text = code_message(portal="Hub", code="000042", minutes=1, base_url="http://127.0.0.1:5000")
    assert text.splitlines()[-1] == "@127.0.0.1 #000042"
    assert "1 minute." in text
    text = code_message(portal="Hub", code="9", minutes=10, base_url="https://Hub.Example/app/")
    assert text.splitlines()[-1] == "@hub.example #9"


def test_code_message_needs_a_host():
    with pytest.raises(ValueError):
        code_message(portal="Hub", code="1", minutes=5, base_url="not a url")
