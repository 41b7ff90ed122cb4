"""Trusted browsers through the real forms: "Don't ask again on this browser" at
the second step, the trust cookie, and the rows behind it."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa

from hubweb.extensions import db
from hubweb.models import TrustedBrowser, UserSession
from tests.support.accounts import PASSWORD
from tests.support.sms import (
    EMAIL,
    last_sms_code,
    post,
    sign_in_password,
    start_second_step,
    text,
    token_of,
)

#: The trust cookie over http (BASE_URL is http in tests).
TRUST_COOKIE = "hubweb_trust"
DAY = 24 * 3600


def checkbox_label(days: int) -> str:
    return f"Don't ask again on this browser for {days} day{'' if days == 1 else 's'}"


def trust_cookie(client, name: str = TRUST_COOKIE) -> str | None:
    """The value of the browser's trust cookie, or ``None``."""
    cookie = client.get_cookie(name)
    return cookie.value if cookie else None


def sign_in_remembered(client, outbox, email=EMAIL, *, remember=True, htmx=False):
    """Right password and the SMS code, with "Don't ask again" ticked (or not).

    :return: the reply to the code (303 home, or ``HX-Redirect`` for htmx).
    """
    token = start_second_step(client, email)
    data = {"code": last_sms_code(outbox), **({"remember": "1"} if remember else {})}
    reply = post(client, "/sign-in/verify", data, token=token, htmx=htmx)
    where = reply.headers.get("HX-Redirect") if htmx else reply.headers.get("Location")
    assert where == "/", text(reply)
    return reply


def sign_out(client, *, forget=False):
    """ "Sign out" (or, with ``forget``, "Forget this browser") from the home page."""
    token = token_of(client.get("/"))
    return post(client, "/sign-out", {"forget_browser": "1"} if forget else {}, token=token)


def where_sign_in_goes(client, email=EMAIL, password=PASSWORD) -> str:
    """The right password: ``/`` when the second step is skipped, else ``/sign-in/verify``."""
    reply = sign_in_password(client, email, password)
    assert reply.status_code == 303, text(reply)
    return reply.headers["Location"]


def trusted_rows(app, user_id=None) -> list[TrustedBrowser]:
    """The ``trusted_browsers`` rows (of one account, when given), oldest first."""
    with app.app_context():
        stmt = sa.select(TrustedBrowser).order_by(TrustedBrowser.id)
        if user_id is not None:
            stmt = stmt.where(TrustedBrowser.user_id == user_id)
        rows = list(db.session.scalars(stmt))
        db.session.expunge_all()
        return rows


def session_factors(app, user_id) -> list[tuple[str, int]]:
    """``(state, factors)`` of the account's sessions."""
    with app.app_context():
        return [tuple(r) for r in db.session.execute(
            sa.select(UserSession.state, UserSession.factors)
            .where(UserSession.user_id == user_id))]


def sha256(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def browser_with(app, token: str | None, name: str = TRUST_COOKIE):
    """A new browser (test client) holding only the trust cookie ``token``."""
    client = app.test_client()
    if token is not None:
        client.set_cookie(name, token)
    return client
