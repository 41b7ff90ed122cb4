"""Admission control of password checks (hubweb.admission): a bounded number of
argon2 checks at once per process, a short queue, then a 503 with Retry-After
that hashed and changed nothing (issue 17, part 3)."""

from __future__ import annotations

import contextlib
import re
import threading
import time

import pytest
import sqlalchemy as sa

from hubweb import admission, passwords
from hubweb.admission import Busy, Gate
from hubweb.config import ConfigError
from hubweb.extensions import db
from hubweb.models import EmailToken, OutboxMessage, SecurityEvent, User, UserSession
from tests.support.account_actions import page_of, pass_password
from tests.support.accounts import PASSWORD, Auth, csrf_token
from tests.support.pages import HX, text
from tests.support.sms import post, token_of

BUSY = "Many people are signing in right now. Try again in a few seconds."
SATURATED = pytest.mark.settings(PASSWORD_CHECKS=1, PASSWORD_QUEUE=0)


# --- the gate, with threads and a fake slow hash -------------------------------------

class Slow:
    """A fake hash that blocks until released, counting how many run at once."""

    def __init__(self):
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.now = self.peak = self.calls = 0

    def __call__(self, value="h"):
        with self.lock:
            self.now += 1
            self.calls += 1
            self.peak = max(self.peak, self.now)
        try:
            self.release.wait(10)
            return value
        finally:
            with self.lock:
                self.now -= 1


def start(gate: Gate, fn, count: int) -> tuple[list[threading.Thread], list]:
    results: list = []

    def call():
        try:
            results.append(gate.run(fn))
        except Busy as exc:
            results.append(exc)

    threads = [threading.Thread(target=call) for _ in range(count)]
    for t in threads:
        t.start()
    return threads, results


def wait_until(predicate, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


@pytest.mark.parametrize("niceness", [0, 10])
def test_at_most_n_run_and_q_wait_the_rest_are_refused_at_once(niceness):
    gate, slow = Gate(checks=2, queue=3, wait=5, niceness=niceness), Slow()
    threads, results = start(gate, slow, 5)
    wait_until(lambda: gate.running == 2 and gate.waiting == 3)
    began = time.monotonic()
    refused, refusals = start(gate, slow, 4)
    for t in refused:
        t.join(5)
    assert time.monotonic() - began < 1  # refused without waiting
    assert [type(r) for r in refusals] == [Busy] * 4
    # The two admitted calls reach the fake hash in the pool's threads (niceness
    # 10) in their own time; the refused ones never do.
    wait_until(lambda: slow.calls == 2)
    assert slow.calls == 2 and results == []
    slow.release.set()
    for t in threads:
        t.join(5)
    assert results == ["h"] * 5
    assert slow.peak == 2 and slow.calls == 5
    assert (gate.running, gate.waiting) == (0, 0)


def test_a_waiter_past_the_wait_is_refused_and_leaves_the_queue():
    gate, slow = Gate(checks=1, queue=1, wait=0.2, niceness=0), Slow()
    holder, _ = start(gate, slow, 1)
    wait_until(lambda: gate.running == 1)
    began = time.monotonic()
    with pytest.raises(Busy) as caught:
        gate.run(slow)
    assert 0.19 <= time.monotonic() - began < 2
    assert caught.value.retry_after == admission.RETRY_AFTER == 5
    assert (gate.running, gate.waiting) == (1, 0)
    slow.release.set()
    holder[0].join(5)
    assert gate.run(lambda: 7) == 7


def test_a_waiter_gets_the_freed_place_within_the_wait():
    gate, slow = Gate(checks=1, queue=1, wait=5, niceness=10), Slow()
    holder, _ = start(gate, slow, 1)
    wait_until(lambda: gate.running == 1)
    threading.Timer(0.1, slow.release.set).start()
    assert gate.run(lambda: "second") == "second"
    holder[0].join(5)
    assert (gate.running, gate.waiting) == (0, 0)


@pytest.mark.parametrize("niceness", [0, 10])
def test_an_exception_in_the_hash_reaches_the_caller_and_frees_its_place(niceness):
    gate = Gate(checks=1, queue=0, wait=1, niceness=niceness)

    def broken():
        raise ValueError("boom")

    for _ in range(3):
        with pytest.raises(ValueError, match="boom"):
            gate.run(broken)
    assert (gate.running, gate.waiting) == (0, 0)
    assert gate.run(lambda: "ok") == "ok"


def test_the_hashing_threads_run_at_the_raised_niceness():
    import os

    gate = Gate(checks=2, queue=0, wait=1, niceness=10)
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    theirs = gate.run(lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
    assert theirs == max(mine, 10)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine
    assert gate.run(threading.get_native_id) != threading.get_native_id()
    assert Gate(1, 0, 1, niceness=0).run(threading.get_native_id) == threading.get_native_id()


def test_many_threads_never_exceed_the_limit_and_nothing_leaks():
    gate = Gate(checks=3, queue=4, wait=0.05, niceness=10)
    lock, state = threading.Lock(), {"now": 0, "peak": 0}

    def work():
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.01)
        with lock:
            state["now"] -= 1
        if threading.get_native_id() % 3 == 0:
            raise KeyError("sometimes")
        return 1

    outcomes = []

    def loop():
        for _ in range(20):
            try:
                outcomes.append(gate.run(work))
            except (Busy, KeyError) as exc:
                outcomes.append(type(exc))

    threads = [threading.Thread(target=loop) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(outcomes) == 240 and state["peak"] <= 3 and Busy in outcomes
    assert (gate.running, gate.waiting) == (0, 0)


# --- the defaults and the settings ---------------------------------------------------

def test_the_default_n_is_bounded_by_threads_cores_and_memory():
    dc = admission.default_checks
    # 2 cores, 4 workers of 4 threads, plenty of memory: 2 x 2 / 4 = 1.
    assert dc(cores=2, workers=4, threads=4, available_mib=22000) == 1
    # 8 cores, 4 workers: ceil(16 / 4) = 4, but at most threads - 1 = 3.
    assert dc(cores=8, workers=4, threads=4, available_mib=64000) == 3
    # 8 cores, 2 workers, 8 threads, 1 GiB: 1024 / 2 / 64 / 2 = 4.
    assert dc(cores=8, workers=2, threads=8, available_mib=1024) == 4
    # Very little memory still allows one.
    assert dc(cores=8, workers=2, threads=8, available_mib=100) == 1
    assert dc(cores=8, workers=1, threads=16, available_mib=None) == 15
    assert admission.default_queue(1, threads=4) == 2
    assert admission.default_queue(3, threads=4) == 0


@pytest.mark.parametrize(("settings", "n", "q"), [
    ({"PASSWORD_CHECKS": 3, "PASSWORD_QUEUE": 5}, 3, 5),
    ({"PASSWORD_CHECKS": 2}, 2, 1),
])
def test_the_settings_reach_the_gate(app_factory, settings, n, q):
    app = app_factory(**settings, PASSWORD_WAIT=1.5, PASSWORD_NICENESS=0)
    gate = app.extensions["hubweb.password_gate"]
    assert (gate.checks, gate.queue, gate.wait, gate.niceness) == (n, q, 1.5, 0)


def test_unset_settings_are_computed_at_start_up(app):
    gate = app.extensions["hubweb.password_gate"]
    assert gate.checks == app.config["PASSWORD_CHECKS"] >= 1
    assert gate.queue == app.config["PASSWORD_QUEUE"] == admission.default_queue(gate.checks)
    assert gate.wait == 2.0 and gate.niceness == 10


@pytest.mark.parametrize(("name", "value"), [
    ("PASSWORD_CHECKS", 0), ("PASSWORD_CHECKS", "two"), ("PASSWORD_CHECKS", 1.5),
    ("PASSWORD_QUEUE", -1), ("PASSWORD_WAIT", 0), ("PASSWORD_WAIT", 31),
    ("PASSWORD_NICENESS", 20), ("PASSWORD_NICENESS", -1), ("PASSWORD_NICENESS", True),
])
def test_bad_settings_stop_the_start(app_factory, name, value):
    with pytest.raises(ConfigError, match=f"HUBWEB_{name}"):
        app_factory(**{name: value})


@pytest.fixture
def app_factory(tmp_path, migrated_db):
    from hubweb import create_app
    from tests.support.database import fresh_database

    def make(**settings):
        return create_app({**fresh_database(tmp_path, migrated_db), **settings})

    return make


# --- over HTTP: a saturated gate answers 503 and writes nothing ----------------------

@contextlib.contextmanager
def saturated(app):
    """Hold every place of the app's gate (N=1, Q=0) with a check that waits."""
    gate = app.extensions["hubweb.password_gate"]
    assert (gate.checks, gate.queue) == (1, 0)
    release = threading.Event()
    holder = threading.Thread(target=gate.run, args=(release.wait,))
    holder.start()
    wait_until(lambda: gate.running == 1)
    try:
        yield gate
    finally:
        release.set()
        holder.join(5)


def written(app) -> dict:
    """Everything a request could have written."""
    with app.app_context():
        def rows(model, *cols):
            return sorted(tuple(str(v) for v in r) for r in db.session.execute(sa.select(*cols)))

        return {
            "events": rows(SecurityEvent, SecurityEvent.id, SecurityEvent.kind),
            "sessions": rows(UserSession, UserSession.id, UserSession.state,
                             UserSession.data, UserSession.last_seen_at),
            "users": rows(User, User.id, User.email, User.password_hash,
                          User.password_failures, User.email_confirmed_at),
            "tokens": rows(EmailToken, EmailToken.id, EmailToken.used_at),
            "outbox": db.session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)),
        }


def assert_busy(reply):
    assert reply.status_code == 503
    assert reply.headers["Retry-After"] == "5"
    assert BUSY in text(reply)
    assert "Set-Cookie" not in reply.headers and "Location" not in reply.headers


@SATURATED
def test_sign_in_answers_503_keeps_the_email_and_writes_nothing(app, client, make_user,
                                                                monkeypatch):
    make_user()
    hashed = []
    monkeypatch.setattr(passwords, "_verify", lambda *a: hashed.append(a) or True)
    token = csrf_token(client)
    before = written(app)
    with saturated(app):
        reply = client.post("/sign-in", data={"email": "alice@example.com",
                                              "password": PASSWORD, "csrf_token": token})
    assert_busy(reply)
    assert 'value="alice@example.com"' in reply.get_data(as_text=True)
    assert PASSWORD not in reply.get_data(as_text=True)
    assert hashed == [] and written(app) == before
    assert client.get("/").status_code != 200  # not signed in
    # Once a place is free, the same form signs in.
    assert Auth(client).sign_in().status_code == 303 and len(hashed) == 1


def _without_csrf_token(reply) -> str:
    """The reply's body with its CSRF token (wherever it appears) replaced by ``TOKEN``."""
    body = reply.get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"|"X-CSRFToken": "([^"]+)"', body)
    assert found, body[:300]
    return body.replace(found[1] or found[2], "TOKEN")


@SATURATED
@pytest.mark.parametrize("htmx", [False, True])
def test_known_and_unknown_emails_get_the_same_busy_reply(app, client, make_user, htmx):
    make_user()
    replies = []
    with saturated(app):
        for email in ("alice@example.com", "carol@example.com"):
            token = csrf_token(client)
            replies.append(client.post(
                "/sign-in", data={"email": email, "password": "wrong password here",
                                  "csrf_token": token}, headers=HX if htmx else {}))
    known, unknown = replies
    for reply in replies:
        assert_busy(reply)
    # The same page but for the address and the signed CSRF token, whose
    # timestamp (whole seconds) may tick between the two requests.
    assert (_without_csrf_token(known).replace("alice", "carol")
            == _without_csrf_token(unknown))
    assert dict(known.headers) == dict(unknown.headers)
    with app.app_context():  # a wrong password was not counted either
        assert db.session.scalar(sa.select(User.password_failures)) == 0


@SATURATED
def test_register_answers_503_and_creates_nothing(app, client):
    token = csrf_token(client, "/register")
    before = written(app)
    with saturated(app):
        reply = client.post("/register", data={"email": "new@example.com",
                                               "password": PASSWORD, "csrf_token": token})
    assert_busy(reply)
    assert 'value="new@example.com"' in reply.get_data(as_text=True)
    assert written(app) == before


@SATURATED
@pytest.mark.parametrize("htmx", [False, True])
def test_changing_the_password_answers_503_and_changes_nothing(app, client, signed_in, htmx):
    page = client.get("/settings/account")
    before = written(app)
    with saturated(app):
        reply = post(client, "/settings/password",
                     {"password": PASSWORD, "new_password": "granite lantern orbit meadow"},
                     token=token_of(page), htmx=htmx)
    assert_busy(reply)
    if htmx:
        assert reply.headers["HX-Retarget"] == "#alerts"
    assert written(app) == before


@SATURATED
def test_the_re_authentication_gate_answers_503_and_changes_nothing(app, client, signed_in):
    page = client.get(page_of("email"))
    before = written(app)
    with saturated(app):
        reply = post(client, f"{page_of('email')}/password", {"password": PASSWORD},
                     token=token_of(page), htmx=True)
    assert_busy(reply)
    assert written(app) == before
    # The gate was not passed: the page still asks for the password.
    assert "Enter your current password" in text(client.get(page_of("email")))
    assert pass_password(client, "email").status_code == 303


@SATURATED
def test_a_password_reset_answers_503_and_keeps_the_link(app, client, make_user, outbox):
    from tests.support.mail import forgot

    make_user()
    forgot(client, "alice@example.com")
    link = outbox.last_link(to="alice@example.com")
    page = client.get(link)
    before = written(app)
    with saturated(app):
        reply = post(client, link, {"new_password": "granite lantern orbit meadow"},
                     token=token_of(page))
    assert_busy(reply)
    assert written(app) == before  # the link is not used up, no password changed
    done = post(client, link, {"new_password": "granite lantern orbit meadow"},
                token=token_of(client.get(link)))
    assert done.status_code == 303 and done.headers["Location"] == "/sign-in"


@SATURATED
def test_confirming_an_email_change_answers_503_and_changes_nothing(app, client, signed_in,
                                                                    outbox):
    from tests.support.account_actions import pass_gate

    pass_gate(client, "email")
    post(client, "/settings/account/email/change", {"new_email": "new.alice@example.org"},
         token=token_of(client.get("/settings/account")))
    link = outbox.last_link("new.alice@example.org")
    page = client.get(link)
    before = written(app)
    with saturated(app):
        reply = post(client, link, {"password": PASSWORD}, token=token_of(page))
    assert_busy(reply)
    assert written(app) == before


@SATURATED
def test_confirming_the_email_address_answers_503_and_confirms_nothing(app, client, outbox):
    token = csrf_token(client, "/register")
    client.post("/register", data={"email": "new@example.com", "password": PASSWORD,
                                   "csrf_token": token})
    link = outbox.last_link(to="new@example.com")
    page = client.get(link)
    before = written(app)
    with saturated(app):
        reply = post(client, link, {"password": PASSWORD}, token=token_of(page))
    assert_busy(reply)
    assert written(app) == before


@SATURATED
def test_a_rehash_that_finds_no_place_waits_for_a_later_sign_in(app, client, make_user,
                                                                monkeypatch):
    make_user()
    with app.app_context():
        old = db.session.scalar(sa.select(User.password_hash))
        passwords._dummy_hash()  # made once per app, before the calls counted below
    monkeypatch.setattr(passwords, "needs_rehash", lambda stored: True)
    gate = app.extensions["hubweb.password_gate"]
    real_run, calls = gate.run, []

    def run(fn, *args):  # the verify gets its place, the rehash finds none
        calls.append(fn)
        if len(calls) > 1:
            raise Busy()
        return real_run(fn, *args)

    monkeypatch.setattr(gate, "run", run)
    assert Auth(client).sign_in().status_code == 303
    assert len(calls) == 2  # the verify, then the refused rehash
    with app.app_context():
        assert db.session.scalar(sa.select(User.password_hash)) == old
        assert list(db.session.scalars(sa.select(SecurityEvent.kind)))[-1] == "sign_in"


@SATURATED
def test_the_dummy_hash_is_made_through_the_gate(app):
    with app.app_context():
        app.extensions.pop("hubweb.dummy_hash", None)
        with saturated(app), pytest.raises(Busy):
            passwords.verify_password(None, PASSWORD)
        assert "hubweb.dummy_hash" not in app.extensions
        assert passwords.verify_password(None, PASSWORD) is False
        assert app.extensions["hubweb.dummy_hash"].startswith("$argon2id$")
