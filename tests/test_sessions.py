"""Revocable server-side sessions: ids, rows, lifetimes, and their cost per request."""

from __future__ import annotations

import re
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine
from conftest import Auth, csrf_token

from hubweb import sessions
from hubweb.extensions import db
from hubweb.models import UserSession

COOKIE = "hubweb_session"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
START = datetime(2031, 3, 4, 9, 0, tzinfo=UTC)


def cookie(client) -> str | None:
    found = client.get_cookie(COOKIE)
    return found.value if found else None


def rows(app, **where) -> list[UserSession]:
    with app.app_context():
        stmt = sa.select(UserSession).order_by(UserSession.created_at)
        for key, value in where.items():
            stmt = stmt.where(getattr(UserSession, key) == value)
        found = list(db.session.scalars(stmt))
        db.session.expunge_all()
        return found


def signed_in(client) -> bool:
    reply = client.get("/settings/account")
    assert reply.status_code in (200, 303)
    return reply.status_code == 200


def client_with(app, token):
    other = app.test_client()
    other.set_cookie(COOKIE, token)
    return other


@contextmanager
def sql_log(app):
    """Collect every SQL statement the app sends to the database."""
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def listen(conn, cursor, statement, params, context, executemany):
        statements.append(" ".join(statement.split()))

    sa.event.listen(engine, "before_cursor_execute", listen)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", listen)


def writes(statements) -> list[str]:
    return [s for s in statements if re.match(r"(INSERT|UPDATE|DELETE)\b", s, re.I)]


# --------------------------------------------------------------------------- ids and rows


def test_cookie_carries_only_a_random_token_stored_hashed(app, client, make_user):
    uid = make_user()
    Auth(client).sign_in()
    token = cookie(client)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)  # 256 bits, url-safe
    [row] = rows(app, user_id=uid)
    assert row.id == sessions.token_hash(token)
    assert token not in row.id
    assert token not in row.data


def test_new_session_id_at_every_sign_in(app, client, make_user):
    uid = make_user()
    client.get("/sign-in")  # the anonymous session that holds the CSRF token
    before = cookie(client)
    assert before is not None
    Auth(client).sign_in()
    after = cookie(client)
    assert after != before
    # The pre-sign-in token is gone from the server: fixation is useless.
    assert rows(app, id=sessions.token_hash(before)) == []
    assert not signed_in(client_with(app, before))
    assert signed_in(client_with(app, after))

    Auth(client).sign_out()
    Auth(client).sign_in()
    again = cookie(client)
    assert again not in (before, after)
    assert not signed_in(client_with(app, after))
    assert [r.id for r in rows(app, user_id=uid)] == [sessions.token_hash(again)]


def test_a_fixated_cookie_does_not_survive_sign_in(app, make_user):
    make_user()
    attacker = app.test_client()
    attacker.get("/sign-in")
    planted = cookie(attacker)
    victim = client_with(app, planted)
    Auth(victim).sign_in()
    assert cookie(victim) != planted
    assert signed_in(victim)
    assert not signed_in(attacker)


def test_one_session_row_per_sign_in_with_ip_and_browser(app, make_user):
    uid = make_user()
    one = app.test_client()
    two = app.test_client()
    Auth(one).sign_in(environ_base={"REMOTE_ADDR": "203.0.113.7"},
                      headers={"User-Agent": FIREFOX})
    assert len(rows(app, user_id=uid)) == 1
    Auth(two).sign_in(environ_base={"REMOTE_ADDR": "198.51.100.20"},
                      headers={"User-Agent": "curl/8.5.0"})
    found = rows(app, user_id=uid)
    assert len(found) == 2
    assert {(r.ip, r.user_agent, r.state) for r in found} == {
        ("203.0.113.7", FIREFOX, "signed_in"),
        ("198.51.100.20", "curl/8.5.0", "signed_in"),
    }
    for r in found:
        assert r.created_at == r.last_seen_at
        assert abs(r.created_at - datetime.now(UTC)) < timedelta(minutes=1)
    assert {r.id for r in found} == {sessions.token_hash(cookie(one)),
                                     sessions.token_hash(cookie(two))}


def test_failed_sign_in_creates_no_signed_in_session(app, client, make_user):
    uid = make_user()
    Auth(client).sign_in(password="not the right password")
    assert rows(app, user_id=uid) == []
    assert rows(app, state="signed_in") == []


@pytest.mark.parametrize("value", ["", "garbage", "x" * 43, "x" * 5000, "\u00e9" * 10])
def test_unknown_or_malformed_cookie_is_anonymous(app, value):
    other = client_with(app, value)
    reply = other.get("/settings/account")
    assert reply.status_code == 303
    assert reply.headers["Location"] == "/sign-in"


def test_sign_out_deletes_the_row_and_clears_the_cookie(app, client, make_user):
    uid = make_user()
    Auth(client).sign_in()
    reply = Auth(client).sign_out()
    assert rows(app, user_id=uid) == []
    assert reply.status_code == 303
    assert rows(app, state="signed_in") == []


# --------------------------------------------------------------------------- lifetimes


def test_idle_timeout_is_one_hour(app, make_user):
    uid = make_user()
    with time_machine.travel(START, tick=False) as traveller:
        client = app.test_client()
        Auth(client).sign_in()
        traveller.shift(timedelta(minutes=59))
        assert signed_in(client)  # activity refreshes "last seen"
        traveller.shift(timedelta(minutes=59))
        assert signed_in(client)
        traveller.shift(timedelta(hours=1, seconds=1))
        reply = client.get("/settings/account")
        assert reply.status_code == 303
        assert reply.headers["Location"] == "/sign-in"
    assert rows(app, user_id=uid) == []  # removed on the server


def test_expired_session_explains_itself_once(app, make_user):
    make_user()
    with time_machine.travel(START, tick=False) as traveller:
        client = app.test_client()
        Auth(client).sign_in()
        traveller.shift(timedelta(hours=2))
        assert client.get("/settings/account").headers["Location"] == "/sign-in"
        page = client.get("/sign-in").get_data(as_text=True)
        assert "Your session has expired. Please sign in again." in page
        assert "Your session has expired" not in client.get("/sign-in").get_data(as_text=True)
    # A plain sign-out is not an expiry.
    Auth(client).sign_in()
    Auth(client).sign_out()
    assert "Your session has expired" not in client.get("/sign-in").get_data(as_text=True)


def test_idle_timeout_also_for_htmx(app, make_user):
    make_user()
    with time_machine.travel(START, tick=False) as traveller:
        client = app.test_client()
        Auth(client).sign_in()
        traveller.shift(timedelta(minutes=61))
        reply = client.get("/settings/account", headers={"HX-Request": "true"})
        assert reply.status_code == 200
        assert reply.headers["HX-Redirect"] == "/sign-in"
        assert reply.get_data(as_text=True) == ""


def test_absolute_timeout_is_24_hours_even_when_active(app, make_user):
    uid = make_user()
    with time_machine.travel(START, tick=False) as traveller:
        client = app.test_client()
        Auth(client).sign_in()
        for _ in range(28):  # 28 x 50 minutes = 23 h 20 min, never idle for an hour
            traveller.shift(timedelta(minutes=50))
            assert signed_in(client)
        traveller.shift(timedelta(minutes=39))  # 23:59 after sign-in
        assert signed_in(client)
        [row] = rows(app, user_id=uid)
        assert row.created_at == START
        traveller.shift(timedelta(minutes=2))  # 24:01
        reply = client.get("/settings/account")
        assert reply.status_code == 303
        assert reply.headers["Location"] == "/sign-in"
    assert rows(app, user_id=uid) == []


@pytest.mark.settings(SESSION_IDLE_TIMEOUT=600, SESSION_ABSOLUTE_TIMEOUT=1800)
def test_lifetimes_are_configurable(app, make_user):
    make_user()
    with time_machine.travel(START, tick=False) as traveller:
        client = app.test_client()
        Auth(client).sign_in()
        traveller.shift(timedelta(minutes=11))
        assert not signed_in(client)


def test_purge_expired_removes_only_old_sessions(app, make_user):
    uid = make_user()
    with time_machine.travel(START, tick=False) as traveller:
        old = app.test_client()
        Auth(old).sign_in()
        traveller.shift(timedelta(minutes=90))
        fresh = app.test_client()
        Auth(fresh).sign_in()
        with app.app_context():
            assert sessions.purge_expired(app) == 1
        assert [r.id for r in rows(app, user_id=uid)] == [sessions.token_hash(cookie(fresh))]


# --------------------------------------------------------------------------- cost per request


def test_reading_a_page_twice_within_a_minute_writes_nothing(app, make_user):
    make_user()
    with time_machine.travel(START, tick=False) as traveller:
        client = app.test_client()
        Auth(client).sign_in()
        traveller.shift(timedelta(seconds=5))
        assert client.get("/settings/account").status_code == 200
        traveller.shift(timedelta(seconds=30))
        with sql_log(app) as statements:
            assert client.get("/settings/account").status_code == 200
        assert statements, "the listener sees the app's queries"
        assert writes(statements) == []
        lookups = [s for s in statements if re.search(r"\bsessions\.id = (?:\?|%\(\w+\)s)", s)]
        assert len(lookups) == 1
        assert lookups[0].startswith("SELECT")
        assert "JOIN users" in lookups[0]  # the user comes with the session, one query


def test_signed_in_home_page_costs_exactly_one_select(app, make_user):
    make_user()
    with time_machine.travel(START, tick=False) as traveller:
        client = app.test_client()
        Auth(client).sign_in()
        assert client.get("/").status_code == 200
        traveller.shift(timedelta(seconds=20))
        with sql_log(app) as statements:
            assert client.get("/").status_code == 200
        assert len(statements) == 1, statements
        assert statements[0].startswith("SELECT")
        assert "FROM sessions" in statements[0]


def test_last_seen_is_refreshed_at_most_once_a_minute(app, make_user):
    uid = make_user()
    with time_machine.travel(START, tick=False) as traveller:
        client = app.test_client()
        Auth(client).sign_in()
        client.get("/")  # stores the CSRF token of the signed-in session
        traveller.shift(timedelta(seconds=59))
        with sql_log(app) as statements:
            client.get("/")
        assert writes(statements) == []
        assert rows(app, user_id=uid)[0].last_seen_at == START

        traveller.shift(timedelta(seconds=2))  # 61 s after the last refresh
        with sql_log(app) as statements:
            client.get("/")
        [update] = writes(statements)
        assert update.startswith("UPDATE sessions SET last_seen_at")
        assert rows(app, user_id=uid)[0].last_seen_at == START + timedelta(seconds=61)

        traveller.shift(timedelta(seconds=30))
        with sql_log(app) as statements:
            client.get("/")
        assert writes(statements) == []


def test_anonymous_page_view_creates_no_session_row_without_data(app, client):
    """A request that stores nothing in the session writes nothing."""
    with sql_log(app) as statements:
        reply = client.get("/static/style.css")
    assert reply.status_code == 200
    assert writes(statements) == []
    assert cookie(client) is None


def test_end_user_sessions_keeps_the_given_one(app, make_user):
    uid = make_user()
    clients = [app.test_client() for _ in range(3)]
    for c in clients:
        Auth(c).sign_in()
    keep = sessions.token_hash(cookie(clients[0]))
    with app.app_context():
        assert sessions.end_user_sessions(uid, keep=keep) == 2
        db.session.commit()
    assert [r.id for r in rows(app, user_id=uid)] == [keep]
    assert signed_in(clients[0])
    assert not signed_in(clients[1])


def test_csrf_token_is_bound_to_the_session(app, make_user):
    """A token from another session does not validate in this one."""
    make_user()
    one, two = app.test_client(), app.test_client()
    Auth(one).sign_in()
    Auth(two).sign_in()
    foreign = csrf_token(two, "/settings/account")
    reply = one.post("/settings/sessions/sign-out-others", data={"csrf_token": foreign})
    assert reply.status_code == 400
    assert signed_in(two)
