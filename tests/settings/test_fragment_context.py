"""A settings fragment reads only what it shows, and re-authentication has a window.

The whole settings page reads the signed-in sessions and the security
activity; a two-step panel (an htmx fragment of a few hundred bytes) reads
neither; a finished flow reads just the new activity row and the count of
other sessions it shows. Re-authentication is good for REAUTH_SECONDS.
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from hubweb.extensions import db
from hubweb.settings.reauth import REAUTH_SECONDS, require_recent_password
from tests.support.accounts import PASSWORD
from tests.support.authenticator import click, enable_sms
from tests.support.sms import last_sms_code

SESSIONS_LIST = "ORDER BY sessions.last_seen_at DESC"
ACTIVITY = "FROM security_events"


@contextmanager
def statements(app):
    """The SQL statements run while the block runs (every engine of the app)."""
    seen: list[str] = []

    def record(conn, cursor, statement, *args):
        seen.append(" ".join(statement.split()))

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def reads(seen: list[str], part: str) -> int:
    return sum(part in s and s.startswith("SELECT") for s in seen)


@pytest.fixture
def signed_in(app, client, make_user, auth):
    make_user()
    auth.sign_in()
    return client


def test_the_whole_page_reads_the_sessions_list_and_the_activity(app, signed_in):
    with statements(app) as seen:
        assert signed_in.get("/settings/account").status_code == 200
    assert reads(seen, SESSIONS_LIST) == 1
    assert reads(seen, ACTIVITY) == 1


def test_two_step_panels_read_neither_sessions_nor_activity(app, signed_in):
    page = signed_in.get("/settings/account")
    with statements(app) as seen:
        reauth = click(signed_in, page, "Set up")
        phone = click(signed_in, reauth, "Continue", {"password": PASSWORD})
    assert "<html" not in phone.get_data(as_text=True)
    assert 'name="phone"' in phone.get_data(as_text=True)
    assert reads(seen, SESSIONS_LIST) == 0
    assert reads(seen, ACTIVITY) == 0


def test_a_finished_flow_reads_its_new_event_but_not_the_sessions_list(app, signed_in,
                                                                        outbox):
    page = signed_in.get("/settings/account")
    reauth = click(signed_in, page, "Set up")
    phone = click(signed_in, reauth, "Continue", {"password": PASSWORD})
    code = click(signed_in, phone, "Send code", {"phone": "+44 7400 123456"})
    with statements(app) as seen:
        done = click(signed_in, code, "Confirm", {"code": last_sms_code(outbox)})
    body = done.get_data(as_text=True)
    assert "Two-step verification by SMS is on." in body
    assert 'data-kind="sms_enabled"' in body  # the new activity row, out of band
    assert "You are not signed in anywhere else." in body
    assert reads(seen, SESSIONS_LIST) == 0
    assert reads(seen, ACTIVITY) == 1


def test_turning_two_step_off_sends_the_sessions_list_along(app, signed_in, outbox):
    enable_sms(signed_in, outbox)
    reauth = click(signed_in, "/settings/account", "Disable two-step verification")
    with statements(app) as seen:
        done = click(signed_in, reauth, "Continue", {"password": PASSWORD})
    assert 'id="sessions" aria-labelledby="sessions-heading" hx-swap-oob="true"' in \
        done.get_data(as_text=True)
    assert reads(seen, SESSIONS_LIST) == 1


def test_a_re_authentication_is_good_for_ten_minutes(clock):
    given = clock.now()
    assert REAUTH_SECONDS == 600
    clock.shift(600)
    assert require_recent_password(given)
    clock.shift(1)
    assert not require_recent_password(given)
    assert not require_recent_password(None)
