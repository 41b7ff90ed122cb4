"""Helpers of the tests of recovery codes: making a set through the settings
page or straight in the domain, and reading what the pages show of it."""

from __future__ import annotations

import re

from hubweb.extensions import db
from hubweb.models import Authenticator, User
from hubweb.twostep import recoverycodes
from tests.support.accounts import PASSWORD, csrf_token
from tests.support.pages import HX

CODE_SHAPE = re.compile(r"^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$")


def issue(app, user_id: int) -> list[str]:
    """A new set for the account, made by the domain (event and email too).

    :return: the codes as shown (``xxxxx-xxxxx``).
    """
    with app.test_request_context():
        codes, _ = recoverycodes.issue(db.session.get(User, user_id))
        return [recoverycodes.display(code) for code in codes]


def codes_shown(body: str) -> list[str]:
    """The codes in ``#recovery-codes-list``, one per ``<li>``."""
    found = re.search(r'<ol id="recovery-codes-list"[^>]*>(.*?)</ol>', body, re.S)
    return re.findall(r"<li><code>([^<]+)</code></li>", found[1]) if found else []


def left_shown(body: str) -> int | None:
    """The number in ``#recovery-codes-left``, or ``None`` when absent."""
    found = re.search(r'id="recovery-codes-left">(\d+)', body)
    return int(found[1]) if found else None


def get_codes(client, *, htmx=True, password=PASSWORD):
    """"Get (new) recovery codes" and the current password on the settings
    page of the signed-in ``client``.

    :return: the reply that shows the codes panel (for htmx the fragment;
        without JavaScript the settings page after the 303).
    """
    token = csrf_token(client, "/settings/account")
    headers = HX if htmx else {}
    start = client.post("/settings/two-step/recovery/start", data={"csrf_token": token},
                        headers=headers)
    assert start.status_code in (200, 303), start.status_code
    reply = client.post("/settings/two-step/recovery/password",
                        data={"csrf_token": token, "password": password}, headers=headers)
    if not htmx and reply.status_code == 303:
        return client.get(reply.headers["Location"])
    return reply


def rows(app, user_id: int) -> list[dict]:
    """The account's ``recovery`` rows as stored."""
    with app.app_context():
        return [{"lookup": r.lookup, "secret": r.secret, "data": r.data,
                 "used": r.last_used_at is not None, "created_at": r.created_at}
                for r in db.session.scalars(
                    db.select(Authenticator).where(Authenticator.user_id == user_id,
                                                   Authenticator.kind == "recovery")
                    .order_by(Authenticator.id))]
