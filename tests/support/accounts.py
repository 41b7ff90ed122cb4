"""Accounts through the real forms: the test password, CSRF tokens, signing in and
out, whether a browser is signed in, the account row, the development outbox."""

from __future__ import annotations

import re

import sqlalchemy as sa

from hubweb.extensions import db
from hubweb.models import OutboxMessage, User

PASSWORD = "correct horse battery staple"
COOKIE = "hubweb_session"  # the session cookie over http (BASE_URL is http)


def csrf_token(client, path="/sign-in") -> str:
    """Fetch a page and return the CSRF token from its first form."""
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


class Auth:
    """Sign in and out through the real forms."""

    def __init__(self, client):
        self.client = client

    def sign_in(self, email="alice@example.com", password=PASSWORD, **kw):
        token = csrf_token(self.client)
        return self.client.post(
            "/sign-in", data={"email": email, "password": password, "csrf_token": token}, **kw
        )

    def sign_out(self):
        token = csrf_token(self.client, "/")
        return self.client.post("/sign-out", data={"csrf_token": token})


def is_signed_in(client) -> bool:
    """True when the client's cookie opens the home page (no "next" is stored)."""
    return client.get("/").status_code == 200


def opens_settings(client) -> bool:
    """True when the client's cookie opens the settings page; False when it is sent
    to sign in (303). Any other status fails the test."""
    reply = client.get("/settings/account")
    assert reply.status_code in (200, 303), reply.status_code
    return reply.status_code == 200


def get_user(app, user_id) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


class Outbox:
    """Reads the development outbox, as a person would read their inbox."""

    def __init__(self, app):
        self.app = app

    def messages(self, channel=None, to=None) -> list[OutboxMessage]:
        with self.app.app_context():
            stmt = sa.select(OutboxMessage).order_by(OutboxMessage.id.desc())
            if channel:
                stmt = stmt.where(OutboxMessage.channel == channel)
            if to:
                stmt = stmt.where(OutboxMessage.recipient == to)
            rows = list(db.session.scalars(stmt))
            db.session.expunge_all()
            return rows

    def last_link(self, to=None) -> str:
        """The path of the newest link in the newest email (without the base URL)."""
        for message in self.messages("email", to):
            match = re.search(r"http://127\.0\.0\.1:5000(/\S+)", message.body)
            if match:
                return match.group(1)
        raise AssertionError("no link in the outbox")
