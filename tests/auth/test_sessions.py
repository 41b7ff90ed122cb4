"""Revocable server-side sessions: ids, rows, lifetimes, and their cost per request."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import zlib
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine
from flask import session
from flask_wtf.csrf import generate_csrf
from itsdangerous import URLSafeTimedSerializer

from hubweb import sessions
from hubweb.extensions import db
from hubweb.models import UserSession
from tests.support.accounts import COOKIE, Auth, csrf_token, opens_settings
from tests.support.sms import set_sms, start_second_step

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
    client.get("/sign-in")  # the anonymous session (a signed cookie) with the CSRF token
    before = cookie(client)
    assert before is not None
    Auth(client).sign_in()
    after = cookie(client)
    assert after != before
    # The pre-sign-in cookie signs nobody in: fixation is useless.
    assert rows(app, id=sessions.token_hash(before)) == []
    assert not opens_settings(client_with(app, before))
    assert opens_settings(client_with(app, after))

    Auth(client).sign_out()
    Auth(client).sign_in()
    again = cookie(client)
    assert again not in (before, after)
    assert not opens_settings(client_with(app, after))
    assert [r.id for r in rows(app, user_id=uid)] == [sessions.token_hash(again)]


def test_a_fixated_cookie_does_not_survive_sign_in(app, make_user):
    make_user()
    attacker = app.test_client()
    attacker.get("/sign-in")
    planted = cookie(attacker)
    victim = client_with(app, planted)
    Auth(victim).sign_in()
    assert cookie(victim) != planted
    assert opens_settings(victim)
    assert not opens_settings(attacker)


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


@pytest.mark.parametrize("name", ["remember_token", "hubweb_remember", "session"])
def test_a_planted_cookie_does_not_sign_anyone_out(app, client, make_user, name):
    """Flask-Login reads its "remember me" cookie ahead of the session when one is
    present. Under its default name (remember_token) any cookie a sibling
    subdomain sets would do that; its name here is __Host- prefixed, which no
    other host can set."""
    make_user()
    Auth(client).sign_in()
    client.set_cookie(name, "x")
    assert client.get("/settings/account").status_code == 200
    assert app.config["REMEMBER_COOKIE_NAME"].startswith("__Host-")


def test_idle_timeout_is_one_hour(app, make_user):
    uid = make_user()
    with time_machine.travel(START, tick=False) as traveller:
        client = app.test_client()
        Auth(client).sign_in()
        traveller.shift(timedelta(minutes=59))
        assert opens_settings(client)  # activity refreshes "last seen"
        traveller.shift(timedelta(minutes=59))
        assert opens_settings(client)
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


def test_unfinished_sign_in_explains_itself_and_clears_the_cookie(app, make_user):
    """A half-signed-in session past its 10 minutes: the row is gone, the next
    page says why, and the dead token leaves the browser."""
    uid = make_user()
    set_sms(app, uid)
    with time_machine.travel(START, tick=False) as traveller:
        client = app.test_client()
        start_second_step(client)
        [row] = rows(app, user_id=uid)
        assert row.state == "pending"
        token = cookie(client)
        traveller.shift(timedelta(seconds=app.config["PENDING_SIGN_IN_TIMEOUT"] + 1))
        reply = client.get("/sign-in/verify")
        assert reply.status_code in (302, 303) and reply.headers["Location"] == "/sign-in"
        assert rows(app, user_id=uid) == []
        assert cookie(client) != token and "." in cookie(client)  # the flash, signed
        page = client.get("/sign-in").get_data(as_text=True)
        assert "Your sign-in was not finished in time. Please sign in again." in page


@pytest.mark.parametrize("value", ["x" * 43, "y" * 200])
def test_a_cookie_that_leads_nowhere_is_deleted(app, value):
    """An unknown (or over-long) token is answered as no session, and the reply
    deletes it, so later requests do not look it up again."""
    other = client_with(app, value)
    with sql_log(app) as statements:
        reply = other.get("/")
    assert len([s for s in statements if "FROM sessions" in s]) == (1 if len(value) <= 128 else 0)
    assert cookie(other) is None
    assert COOKIE in reply.headers["Set-Cookie"] and "Max-Age=0" in reply.headers["Set-Cookie"]
    with sql_log(app) as statements:
        other.get("/")
    assert statements == []


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
            assert opens_settings(client)
        traveller.shift(timedelta(minutes=39))  # 23:59 after sign-in
        assert opens_settings(client)
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
        assert not opens_settings(client)


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


@pytest.mark.postgres
def test_on_postgresql_the_session_lookup_opens_no_transaction(app, make_user):
    """A signed-in page that only reads costs PostgreSQL one round trip: the
    lookup runs in autocommit (no BEGIN, and so no ROLLBACK at the end).
    Marked ``postgres``: it runs in the PostgreSQL pass, where ``app`` is on it."""
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    from psycopg.pq import TransactionStatus

    seen = []

    @app.after_request
    def _status(response):
        raw = db.session.connection().connection.dbapi_connection
        seen.append((raw.info.transaction_status, raw.autocommit))
        return response

    make_user()
    with time_machine.travel(START, tick=False) as traveller:
        client = app.test_client()
        Auth(client).sign_in()
        assert client.get("/").status_code == 200
        traveller.shift(timedelta(seconds=20))
        seen.clear()
        assert client.get("/").status_code == 200
    assert seen == [(TransactionStatus.IDLE, False)]


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


# --------------------------------------------------------------------------- anonymous cookie


ANON_SALT = "hubweb.anonymous-session"


def anon_serializer(app, salt: str = ANON_SALT, key: str | None = None):
    """The signer of anonymous session cookies, made here with itsdangerous
    directly (HMAC-SHA256), or one with another salt or key."""
    return URLSafeTimedSerializer(key or app.secret_key, salt=salt,
                                  signer_kwargs={"digest_method": hashlib.sha256})


def signed_cookie(app, data: dict, salt: str = ANON_SALT, key: str | None = None) -> str:
    """A cookie value signed the way the app signs anonymous sessions (or not)."""
    return anon_serializer(app, salt, key).dumps(data)


def test_sign_in_form_writes_nothing_and_signs_its_cookie(app, client):
    """The anonymous CSRF token travels in a signed cookie, not a row."""
    with sql_log(app) as statements:
        page = client.get("/sign-in")
    assert page.status_code == 200
    assert writes(statements) == []
    assert rows(app) == []
    value = cookie(client)
    data = anon_serializer(app).loads(value)
    assert list(data) == ["csrf_token"]
    assert re.fullmatch(r"[0-9a-f]{40}", data["csrf_token"])
    assert "HttpOnly" in page.headers["Set-Cookie"]
    assert "SameSite=Lax" in page.headers["Set-Cookie"]


def test_sign_in_from_the_cookie_needs_no_session_query(app, client, make_user):
    """The password step reads the account and writes the new session and the
    event; there is no anonymous row to find or delete."""
    make_user()
    token = csrf_token(client)
    with sql_log(app) as statements:
        reply = client.post("/sign-in", data={"email": "alice@example.com",
                                              "password": "correct horse battery staple",
                                              "csrf_token": token})
    assert reply.status_code == 303, reply.status_code
    assert not any("FROM sessions" in s for s in statements if s.startswith("SELECT"))
    assert [w.split(" (")[0] for w in writes(statements)] == [
        "INSERT INTO security_events", "INSERT INTO sessions"]
    assert "." not in cookie(client)  # a token now, no longer signed data


@pytest.mark.parametrize("change", ["tampered", "other salt", "other key"])
def test_forged_anonymous_cookie_is_an_empty_session(app, change):
    """A cookie whose signature does not verify carries no CSRF token: the form
    post is refused with the clear 400 page, not a 500."""
    good = signed_cookie(app, {"csrf_token": "0" * 40})
    value = {"tampered": good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
             "other salt": signed_cookie(app, {"csrf_token": "0" * 40}, salt="other"),
             "other key": signed_cookie(app, {"csrf_token": "0" * 40},
                                        key="another secret")}[change]
    other = client_with(app, value)
    with app.test_request_context():
        session["csrf_token"] = "0" * 40
        forged_token = generate_csrf()
    reply = other.post("/sign-in", data={"email": "a@example.com", "password": "x" * 12,
                                          "csrf_token": forged_token})
    assert reply.status_code == 400
    # The same token with the genuine cookie passes the CSRF check (422: the
    # form itself is then judged), so it was the signature that failed.
    genuine = client_with(app, good).post("/sign-in", data={
        "email": "", "password": "", "csrf_token": forged_token})
    assert genuine.status_code == 422


def test_anonymous_cookie_with_other_keys_is_refused(app, make_user):
    """Even correctly signed, a cookie may hold only the anonymous keys: state
    such as a password reset in progress lives in rows only."""
    uid = make_user()
    value = signed_cookie(app, {"csrf_token": "0" * 40, "reset": {"token_id": 1, "done": []},
                                "_user_id": str(uid)})
    reply = client_with(app, value).get("/settings/account")
    assert reply.status_code == 303
    assert reply.headers["Location"] == "/sign-in"


def _b64(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


@pytest.mark.parametrize("body", [
    _b64(b"{not json"),  # not JSON
    b"." + _b64(b"\x78\x9c broken zlib"),  # "." marks a zlib body that does not inflate
    b"." + _b64(zlib.compress(b"[1,")),  # inflates, but not to JSON
], ids=["not json", "broken zlib", "compressed non-json"])
def test_correctly_signed_cookie_that_does_not_decode_is_ignored(app, body):
    """Signed with the right key but not a payload the app writes: treated as
    no session (a form gets a fresh token), never a 500."""
    signer = anon_serializer(app).make_signer(ANON_SALT)
    value = signer.sign(body).decode()
    client = client_with(app, value)
    reply = client.get("/sign-in")
    assert reply.status_code == 200
    assert "." in cookie(client) and cookie(client) != value  # replaced by a good one


@pytest.mark.parametrize("data", [
    {"csrf_token": 5}, {"next": ["/"]}, {"_flashes": "x"}, {"_flashes": [["error"]]},
    {"_flashes": [[1, 2]]}, ["csrf_token"], "csrf_token",
])
def test_correctly_signed_cookie_of_the_wrong_shape_is_ignored(app, data):
    client = client_with(app, signed_cookie(app, data))
    reply = client.get("/sign-in")
    assert reply.status_code == 200
    assert rows(app) == []


def test_anonymous_cookie_expires_after_the_idle_timeout(app, clock):
    client = app.test_client()
    token = csrf_token(client)
    clock.shift(app.config["SESSION_IDLE_TIMEOUT"] - 5)
    ok = client.post("/sign-in", data={"email": "", "password": "", "csrf_token": token})
    assert ok.status_code == 422  # the CSRF check passed; the empty form did not
    stale = app.test_client()
    token = csrf_token(stale)
    clock.shift(app.config["SESSION_IDLE_TIMEOUT"] + 5)
    late = stale.post("/sign-in", data={"email": "", "password": "", "csrf_token": token})
    assert late.status_code == 400


def test_an_active_anonymous_visitor_keeps_the_cookie_past_the_idle_timeout(app, clock):
    """Like "last seen" for rows: a visit over a minute after the signing signs the
    cookie again (same data, new time), so only an idle hour ends it."""
    client = app.test_client()
    token = csrf_token(client)
    first = cookie(client)
    clock.shift(30)
    assert "Set-Cookie" not in client.get("/sign-in").headers  # within the minute
    step = app.config["SESSION_IDLE_TIMEOUT"] * 2 // 3
    for _ in range(2):  # two visits 40 minutes apart: 80 minutes in all
        clock.shift(step)
        assert "Set-Cookie" in client.get("/sign-in").headers
    assert cookie(client) != first
    ok = client.post("/sign-in", data={"email": "", "password": "", "csrf_token": token})
    assert ok.status_code == 422  # the CSRF check passed; the empty form did not


def test_sha1_signed_anonymous_cookie_is_refused(app):
    """Only HMAC-SHA256 signatures count (itsdangerous's default is SHA-1)."""
    sha1 = URLSafeTimedSerializer(app.secret_key, salt=ANON_SALT)
    value = sha1.dumps({"csrf_token": "0" * 40})
    with app.test_request_context():
        session["csrf_token"] = "0" * 40
        token = generate_csrf()
    reply = client_with(app, value).post("/sign-in", data={
        "email": "", "password": "", "csrf_token": token})
    assert reply.status_code == 400


def test_a_next_address_too_long_for_a_cookie_goes_into_a_row(app, make_user):
    """A signed cookie stays under 3,072 bytes; a longer anonymous session (a
    very long address to return to) is kept in a row, and sign-in still works."""
    make_user()
    client = app.test_client()
    noise = secrets.token_urlsafe(3000)  # 4,000 characters that do not compress
    path = "/settings/account?x=" + noise
    assert client.get(path).status_code in (302, 303)
    assert "." not in cookie(client)  # a token, not signed data
    [row] = rows(app)
    assert row.state == "anonymous" and noise in row.data
    assert Auth(client).sign_in().headers["Location"] == path
    short = app.test_client()
    short.get("/settings/account?x=1")
    assert "." in cookie(short) and len(cookie(short)) <= 3072


def test_password_reset_state_moves_the_session_into_a_row(app, client, make_user, outbox):
    make_user()
    token = csrf_token(client, "/forgot-password")
    client.post("/forgot-password", data={"email": "alice@example.com", "csrf_token": token})
    assert rows(app) == []  # still only a CSRF token and a flash: a cookie
    link = outbox.last_link(to="alice@example.com")
    assert client.get(link).status_code == 200
    [row] = rows(app)
    assert row.state == "anonymous" and row.user_id is None
    assert "reset" in row.data
    assert row.id == sessions.token_hash(cookie(client))


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
    assert opens_settings(clients[0])
    assert not opens_settings(clients[1])


def test_csrf_token_is_bound_to_the_session(app, make_user):
    """A token from another session does not validate in this one."""
    make_user()
    one, two = app.test_client(), app.test_client()
    Auth(one).sign_in()
    Auth(two).sign_in()
    foreign = csrf_token(two, "/settings/account")
    reply = one.post("/settings/sessions/sign-out-others", data={"csrf_token": foreign})
    assert reply.status_code == 400
    assert opens_settings(two)
