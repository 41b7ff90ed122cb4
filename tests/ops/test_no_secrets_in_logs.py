"""No code, key, token, password or full phone number reaches a log line or a
stored security event (OWASP ASVS 5.0 V16.2.5; GDPR art. 5(1)(c)): one person
walks every flow, with every logger at DEBUG, and each secret they met is
looked for in every record and every event row afterwards."""

from __future__ import annotations

import logging
import re

import pyotp
import pytest
import sqlalchemy as sa

from hubweb.extensions import db
from hubweb.models import SecurityEvent
from tests.support.account_actions import pass_gate
from tests.support.accounts import PASSWORD, Auth
from tests.support.authenticator import click, get_secret_key
from tests.support.recovery import codes_shown, get_codes
from tests.support.sms import (
    EMAIL,
    PHONE,
    PHONE_INPUT,
    last_sms_code,
    post,
    start_second_step,
    token_of,
)
from tests.support.trust import trust_cookie

NEW_PASSWORD = "quartz meridian lantern harbor"
NEW_EMAIL = "alice.new@example.org"
#: The token at the end of an emailed link (confirmation, reset, email change).
_TOKEN = re.compile(r"https?://[^/\s]+/(?:[a-z-]+/)+([A-Za-z0-9_-]{20,})")


def link_tokens(outbox) -> set[str]:
    """The token of every emailed link."""
    return {m for msg in outbox.messages("email") for m in _TOKEN.findall(msg.body)}


@pytest.mark.settings(TRUST_BROWSER_DAYS=7)
def test_no_secret_reaches_a_log_line_or_an_event(app, client, outbox, clock, caplog):
    caplog.set_level(logging.DEBUG)
    secrets: set[str] = {PASSWORD, NEW_PASSWORD, PHONE, PHONE_INPUT}

    # Registration and its confirmation link, then sign-in.
    token = token_of(client.get("/register"))
    post(client, "/register", {"email": EMAIL, "password": PASSWORD}, token=token)
    confirm = outbox.last_link(EMAIL)
    page = client.get(confirm)
    post(client, confirm, {"password": PASSWORD}, token=token_of(page))
    Auth(client).sign_in()

    # SMS on, the authenticator app on, recovery codes.
    r = click(client, "/settings/account", "Set up")
    r = click(client, r, "Continue", {"password": PASSWORD})
    r = click(client, r, "Send code", {"phone": PHONE_INPUT})
    sms_code = last_sms_code(outbox)
    click(client, r, "Confirm", {"code": sms_code})
    panel = get_secret_key(client)
    app_code = pyotp.TOTP(panel.secret).at(clock.now())
    click(client, panel.response, "Confirm", {"code": app_code})
    codes = codes_shown(get_codes(client).get_data(as_text=True))
    assert len(codes) == 10
    secrets |= {sms_code, panel.secret, panel.grouped, app_code, *codes}

    # A new browser: the second step with a recovery code, and "Don't ask again".
    other = app.test_client()
    step = start_second_step(other)
    post(other, "/sign-in/verify/method", {"method": "sms"}, token=step)  # sends a code
    sign_in_sms = last_sms_code(outbox)
    reply = post(other, "/sign-in/verify", {"code": sign_in_sms, "method": "sms",
                                            "remember": "1"}, token=step)
    assert reply.headers["Location"] == "/" and trust_cookie(other)
    secrets |= {sign_in_sms, trust_cookie(other)}
    third = app.test_client()
    step = start_second_step(third)
    post(third, "/sign-in/verify/method", {"method": "recovery"}, token=step)
    reply = post(third, "/sign-in/verify", {"code": codes[0], "method": "recovery"},
                 token=step)
    assert reply.headers["Location"] == "/settings/account"

    # A change of email address (behind the password and the second step), then
    # a password reset with its link and a code.
    clock.shift(30)
    pass_gate(client, "email", code=pyotp.TOTP(panel.secret).at(clock.now()), method="app")
    post(client, "/settings/account/email/change", {"new_email": NEW_EMAIL},
         token=token_of(client.get("/settings/account")))
    clock.shift(120)
    stranger = app.test_client()
    post(stranger, "/forgot-password", {"email": EMAIL},
         token=token_of(stranger.get("/forgot-password")))
    link = outbox.last_link(EMAIL)
    page = stranger.get(link)
    reset_code = pyotp.TOTP(panel.secret).at(clock.now())
    post(stranger, link, {"code": reset_code, "method": "app"}, token=token_of(page))
    post(stranger, link, {"new_password": NEW_PASSWORD}, token=token_of(stranger.get(link)))
    fresh = app.test_client()
    Auth(fresh).sign_in(password=NEW_PASSWORD)
    assert fresh.get("/sign-in/verify").status_code == 200
    secrets |= link_tokens(outbox)
    secrets |= {c.value for c in (client.get_cookie("hubweb_session"),
                                  fresh.get_cookie("hubweb_session")) if c}
    secrets.add(reset_code)
    assert len(link_tokens(outbox)) >= 3  # confirmation, reset, email change

    logged = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in caplog.records)
    with app.app_context():
        events = "\n".join(f"{e.kind} {e.ip} {e.user_agent}" for e in
                           db.session.scalars(sa.select(SecurityEvent)))
    # The walk did log (the SMS sends, masked; the emails) and record events.
    assert "SMS to +44 \u2022\u2022\u2022\u2022" in logged and "EMAIL" in logged
    assert events.count("\n") >= 10
    found = sorted(s for s in secrets if s and (s in logged or s in events))
    assert found == []
    # Grouped or spaced, a code or key is the same secret.
    squeezed = re.sub(r"[\s-]", "", logged)
    assert [s for s in secrets if len(s) >= 6 and re.sub(r"[\s-]", "", s) in squeezed
            and not s.isdigit()] == []
