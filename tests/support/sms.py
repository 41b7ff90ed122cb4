"""Helpers shared by the tests of two-step verification by SMS.

They drive the real forms (CSRF token, HTMX header or not) and read what a
person would read: the development outbox and the pages. Time is frozen with
time-machine (:class:`Clock`) so that cooldowns, lifetimes and throttles are
exact; the start instant is given as a POSIX timestamp so that time-machine
leaves ``TZ`` alone.
"""

from __future__ import annotations

import re

import sqlalchemy as sa

from hubweb.extensions import db
from hubweb.models import Authenticator, SecurityEvent, User, UserSession
from hubweb.timeutil import utcnow
from hubweb.twostep.models import SmsCode
from tests.support.accounts import COOKIE, PASSWORD, csrf_token  # noqa: F401 - shared
from tests.support.pages import HX, text  # noqa: F401 - shared

PHONE = "+447400123456"
PHONE_INPUT = "+44 7400 123456"
MASKED = "+44 \u2022\u2022\u2022\u2022 \u2022\u2022\u2022\u202256"
SHOWN = "+44 7400 123456"  # in full on the code step: what the person typed
OTHER_PHONE = "+447400654321"
OTHER_MASKED = "+44 \u2022\u2022\u2022\u2022 \u2022\u2022\u2022\u202221"
OTHER_SHOWN = "+44 7400 654321"
EMAIL = "alice@example.com"

#: 2025-04-05 13:57:30 UTC: Pacific/Chatham leaves daylight saving time at
#: 14:00 UTC, inside the five minutes of a code sent at this instant.

#: The SMS status line of the section (not the notice "... is on.", said once).
SMS_ON = "Status: <strong>on</strong>. Codes are sent to"
SMS_OFF = "Status: <strong>off</strong>. With two-step verification on"




def token_of(response) -> str:
    """The CSRF token of the first form in a page or fragment."""
    return re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))[1]


def post(client, path, data=None, *, token, htmx=False):
    """POST a form with its CSRF token, as htmx or as a plain browser would."""
    return client.post(path, data={"csrf_token": token, **(data or {})},
                       headers=HX if htmx else {})


def settle(client, response, expect="/settings/account"):
    """The page a browser ends on after a form: a plain POST answers
    post/redirect/get (303 to ``expect``, perhaps with a ``#fragment``; the
    step, its errors or the flashed message shown there)."""
    if response.status_code == 303:
        location = response.headers["Location"]
        assert location.split("#")[0] == expect, location
        return client.get(location.split("#")[0])
    return response


def sms_list(outbox, to=None):
    """The SMS in the development outbox, newest first."""
    return outbox.messages("sms", to)


def code_of(body: str) -> str:
    """The code from an SMS body: the origin-bound last line ``@host #123456``."""
    return re.search(r"^@\S+ #(\d{6})\Z", body, re.M)[1]


def last_sms_code(outbox, to=None) -> str:
    """The code in the newest SMS (to ``to``, when given)."""
    return code_of(sms_list(outbox, to)[0].body)


def sign_in_password(client, email=EMAIL, password=PASSWORD, *, htmx=False):
    """Post the sign-in form; returns the response."""
    token = csrf_token(client, "/sign-in")
    return post(client, "/sign-in", {"email": email, "password": password},
                token=token, htmx=htmx)


def start_second_step(client, email=EMAIL):
    """Right password of an account with SMS 2SV, then open the second step.

    :return: the CSRF token of the half-signed-in session.
    """
    r = sign_in_password(client, email)
    assert r.status_code == 303 and r.headers["Location"] == "/sign-in/verify", r.data
    page = client.get("/sign-in/verify")
    assert page.status_code == 200, page.data
    return token_of(page)


def same_step(client, response, path):
    """The page a browser shows after a refused step: without JavaScript the
    POST answers 303 to the step's own page, which shows the refusal once
    (post/redirect/get). Other replies (htmx, or 303 elsewhere) are kept."""
    if response.status_code == 303 and response.headers["Location"] == path:
        return client.get(path)
    return response


def enter_sign_in_code(client, token, code, *, htmx=False):
    return same_step(client, post(client, "/sign-in/verify", {"code": code}, token=token,
                                  htmx=htmx), "/sign-in/verify")


def resend_sign_in_code(client, token, *, htmx=False):
    """ "Resend code" on the second step: the page a browser then shows."""
    return same_step(client, post(client, "/sign-in/verify/resend", token=token, htmx=htmx),
                     "/sign-in/verify")


def sign_in_with_sms(client, outbox, email=EMAIL, phone=PHONE):
    """A full sign-in through both steps (the send cooldown must have passed)."""
    token = start_second_step(client, email)
    r = enter_sign_in_code(client, token, last_sms_code(outbox, phone))
    assert r.status_code == 303 and r.headers["Location"] == "/", text(r)


def enable_sms(client, app, outbox, phone=PHONE_INPUT, *, htmx=True) -> str:
    """Turn SMS 2SV on through the settings flow for the signed-in ``client``.

    :return: the stored E.164 number.
    """
    token = csrf_token(client, "/settings/account")
    steps = [("start", {}), ("password", {"password": PASSWORD}), ("phone", {"phone": phone})]
    for step, data in steps:
        r = settle(client, post(client, f"/settings/two-step/sms/{step}", data, token=token,
                                htmx=htmx))
        assert r.status_code == 200, (step, text(r))
    e164 = sms_list(outbox)[0].recipient
    r = settle(client, post(client, "/settings/two-step/sms/code",
                            {"code": last_sms_code(outbox, e164)}, token=token, htmx=htmx))
    assert r.status_code == 200 and "Two-step verification by SMS is on." in text(r), text(r)
    return e164


def add_sms(user_id: int, phone: str = PHONE) -> None:
    """Add an SMS authenticator that is on (in an app context; the caller commits)."""
    now = utcnow()
    db.session.add(Authenticator(user_id=user_id, kind="sms", lookup=phone,
                                 created_at=now, enabled_at=now))


def set_sms(app, user_id, phone=PHONE, *, behind_sessions_back=False) -> None:
    """Turn SMS 2SV on directly in the database (a precondition, not the thing tested).

    The account's signed-in sessions count as two-factor, as the session that
    sets 2SV up does, so they stay signed in; ``behind_sessions_back=True``
    leaves them as they were (password only), for the session-factor guard.
    """
    with app.app_context():
        add_sms(user_id, phone)
        if not behind_sessions_back:
            db.session.execute(sa.update(UserSession).where(UserSession.user_id == user_id)
                               .where(UserSession.state == "signed_in").values(factors=2))
        db.session.commit()


#: The account's factor state as the ``users`` columns said it before the
#: ``authenticators`` table: read properties of :class:`~hubweb.models.User`.
FACTOR_VIEWS = ("sms_phone", "sms_enabled_at", "totp_secret", "totp_enabled_at",
                "totp_last_step", "totp_pending_secret", "totp_pending_at")


def user_row(app, user_id) -> dict:
    """Every column of the ``users`` row, and the factor state
    (:data:`FACTOR_VIEWS`), to compare before and after."""
    with app.app_context():
        row = db.session.execute(sa.select(User.__table__).where(User.id == user_id)).one()
        user = db.session.get(User, user_id)
        return {**row._mapping, **{name: getattr(user, name) for name in FACTOR_VIEWS}}


def event_kinds(app, user_id) -> list[str]:
    """The account's security events, oldest first."""
    with app.app_context():
        return list(db.session.scalars(
            sa.select(SecurityEvent.kind).where(SecurityEvent.user_id == user_id)
            .order_by(SecurityEvent.id)
        ))


def code_rows(app, user_id=None) -> list[dict]:
    """The ``sms_codes`` rows (of one account, when given), oldest first."""
    with app.app_context():
        stmt = sa.select(SmsCode.__table__).order_by(SmsCode.id)
        if user_id is not None:
            stmt = stmt.where(SmsCode.user_id == user_id)
        return [dict(r._mapping) for r in db.session.execute(stmt)]


def emails(outbox, subject=None, to=EMAIL) -> list:
    """Emails to ``to`` (with ``subject``, when given), newest first."""
    return [m for m in outbox.messages("email", to) if subject is None or m.subject == subject]
