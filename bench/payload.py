"""Figure 3: HTMX payload, bytes of each set-up fragment ÷ bytes of the full settings page.

In-process (Flask test client, SQLite: the bytes do not depend on the
database), with production backends (SMS over HTTP to a fake gateway on
127.0.0.1, SMTP), so pages carry no development banner. A signed-in account
without 2SV loads ``/settings/account`` (the denominator: the whole page as a
browser gets it, uncompressed, static files not counted), then sets up SMS and
the authenticator app with htmx requests (``HX-Request: true``) as the page's
buttons do; each reply is the fragment htmx swaps in. The page loaded before
the app set-up (SMS then on) is the denominator of the app's fragments.

Two account shapes: ``typical`` (the figure): an account in use, whose
"Recent security activity" is full (20 events, the most it shows) with 3
signed-in sessions; ``new``: just created, 1 session and 1 event (the
smallest page, the worst case). Raw bytes are the figure; gzip ratios are
shown too, as a proxy may compress.
"""

from __future__ import annotations

import gzip
import logging
import re
import tempfile
from pathlib import Path

import pyotp

from .common import (
    ENCRYPTION_KEYS,
    PASSWORD,
    SECRET_KEY,
    SmsGateway,
    csrf_of,
    free_port,
    make_account,
    migrate,
    sign_in,
)
from .seed import UA

GOAL = 0.15
HX = {"HX-Request": "true"}
PHONE = "+447400123456"
DATA_URL = re.compile(r'src="(data:image/[^"]+)"')


def _app(tmp: Path, gateway: SmsGateway):
    from hubweb import create_app

    url = f"sqlite:///{tmp / 'payload.sqlite3'}"
    migrate(url)  # flask db upgrade, in its own process (Alembic configures logging)
    app = create_app({
        "DATABASE_URL": url,
        "SECRET_KEY": SECRET_KEY, "ENCRYPTION_KEYS": ENCRYPTION_KEYS,
        "SMS_BACKEND": "http", "SMS_HTTP_URL": gateway.url,
        # Nothing listens there: the notification emails fail at once, which the
        # app logs and otherwise ignores (the change stands).
        "MAIL_BACKEND": "smtp", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": free_port(),
        "MAIL_TIMEOUT": 1,
        "RATELIMIT_STORAGE_URI": "memory://",
        "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024, "ARGON2_PARALLELISM": 1,
    })
    return app


def _flow(app, gateway, address: str, shape: str) -> dict[str, tuple[bytes, bytes]]:
    """Set up SMS then the app with htmx; ``{fragment: (fragment bytes, page bytes)}``."""
    make_account(app, address, shape=shape)
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = UA
    _, reply = sign_in(client, address)
    assert reply.status_code == 303, reply.status_code
    fragments: dict[str, tuple[bytes, bytes]] = {}

    def post(name, path, page, data=None):
        r = client.post(path, data={"csrf_token": token, **(data or {})}, headers=HX)
        body = r.get_data()
        assert r.status_code == 200, (name, r.status_code, body[:500])
        assert b"<html" not in body, f"{name}: not a fragment"
        fragments[name] = (body, page)
        return r

    reply = client.get("/settings/account")
    page, token = reply.get_data(), csrf_of(reply)
    assert b"dev-banner" not in page
    post("reauth panel", "/settings/two-step/sms/start", page)
    post("phone panel", "/settings/two-step/sms/password", page, {"password": PASSWORD})
    post("SMS code panel", "/settings/two-step/sms/phone", page, {"phone": PHONE})
    done = post("done section (SMS on)", "/settings/two-step/sms/code", page,
                {"code": gateway.last_code(PHONE)})
    assert b"Two-step verification by SMS is on." in done.get_data()
    page = client.get("/settings/account").get_data()
    post("reauth panel (app)", "/settings/two-step/app/start", page)
    secret = post("secret-key panel", "/settings/two-step/app/password", page,
                  {"password": PASSWORD})
    key = re.search(r'data-secret="([A-Z2-7]+)"', secret.get_data(as_text=True))[1]
    done = post("done section (app on)", "/settings/two-step/app/code", page,
                {"code": pyotp.TOTP(key).now()})
    assert b"Your authenticator app is on." in done.get_data()
    return fragments


def _rows(fragments) -> list[dict]:
    return [{
        "fragment": name, "bytes": len(body), "page_bytes": len(full),
        "ratio": round(len(body) / len(full), 4),
        "gzip_ratio": round(len(gzip.compress(body)) / len(gzip.compress(full)), 4),
    } for name, (body, full) in fragments.items()]


def run() -> dict:
    gateway = SmsGateway()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            app = _app(Path(tmp), gateway)
            # The notification mails that nothing receives: expected, not news.
            logging.getLogger("hubweb.mail").setLevel(logging.CRITICAL)
            typical = _flow(app, gateway, "typical@example.com", "typical")
            new = _flow(app, gateway, "new@example.com", "new")
            with app.app_context():
                from hubweb.extensions import db

                db.engine.dispose()
    finally:
        gateway.close()
    rows, rows_new = _rows(typical), _rows(new)
    worst = max(rows, key=lambda r: r["ratio"])
    secret_body, secret_page = typical["secret-key panel"]
    data_url = DATA_URL.search(secret_body.decode())[1]
    without_qr = len(secret_body) - len(data_url)
    over = [r for r in rows if r["ratio"] > GOAL]
    detail = (f"max {worst['ratio']:.2f} ({worst['fragment']}: {worst['bytes']:,} of "
              f"{worst['page_bytes']:,} bytes)")
    if over:
        detail += "; over the goal: " + ", ".join(
            f"{r['fragment']} {r['ratio']:.2f} ({r['ratio'] / GOAL:.1f}x the goal)"
            for r in over)
    others = [r for r in rows if r["fragment"] != "secret-key panel"]
    detail += (f"; the other fragments {min(r['ratio'] for r in others):.2f}-"
               f"{max(r['ratio'] for r in others):.2f}")
    return {
        "figure": "HTMX payload",
        "value": worst["ratio"],
        "goal": f"<= {GOAL} each",
        "pass": not over,
        "detail": detail,
        "fragments": rows,
        "fragments_new_account": rows_new,
        "secret_panel": {
            "bytes": len(secret_body),
            "qr_data_url_bytes": len(data_url),
            "bytes_without_qr": without_qr,
            "ratio_without_qr": round(without_qr / len(secret_page), 4),
        },
        "measured": ("in-process (Flask test client), SQLite, production backends; raw bytes "
                     "of the bodies; typical account: 20 events, 3 sessions"),
    }
