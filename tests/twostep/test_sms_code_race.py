"""Two parallel submissions of the same right code; exactly one succeeds.

On SQLite and on PostgreSQL, each with a database of its own built by the
migrations, whatever ``HUBWEB_TEST_BACKEND`` says. Every race is run many
times: once proves little.
"""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from hubweb import create_app
from hubweb.extensions import db, limiter
from hubweb.models import User, UserSession
from hubweb.twostep import smscodes
from hubweb.twostep.models import SmsCode
from tests.support.accounts import Outbox
from tests.support.database import base_config
from tests.support.sms import (
    COOKIE,
    PHONE,
    enter_sign_in_code,
    last_sms_code,
    post,
    set_sms,
    start_second_step,
    token_of,
    user_row,
)

RUNS = 20
HTTP_RUNS = 10


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def race_app(request, tmp_path):
    """An app on a fresh SQLite file or a throwaway PostgreSQL database."""
    config = {**base_config(tmp_path, tmp_path / "race.sqlite3"),
              "RATELIMIT_STORAGE_URI": "memory://"}
    if request.param == "postgres":
        config["DATABASE_URL"] = request.getfixturevalue("pg_database")
    app = create_app(config)
    with app.app_context():
        upgrade()
        limiter.reset()
        assert db.engine.dialect.name == {"sqlite": "sqlite", "postgres": "postgresql"}[
            request.param]
    yield app
    with app.app_context():
        db.engine.dispose()


def make_account(app) -> int:
    from hubweb import accounts

    with app.app_context():
        user = accounts.create_user("alice@example.com", "correct horse battery staple",
                                    confirmed=True)
        db.session.commit()
        user_id = user.id
    set_sms(app, user_id)
    return user_id


def in_parallel(*jobs):
    """Run the jobs in threads released together by a barrier; return their results."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def run(i, job):
        try:
            results[i] = job(barrier)
        except BaseException as exc:  # reported, not lost in the thread
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, job)) for i, job in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not any(t.is_alive() for t in threads), "a submission hung"
    return results


def test_same_code_checked_twice_in_parallel_succeeds_once(race_app, clock):
    app = race_app
    user_id = make_account(app)
    outbox = Outbox(app)

    def check(code):
        def job(barrier):
            with app.app_context():  # its own session and database connection
                user = db.session.get(User, user_id)
                barrier.wait(10)
                result = smscodes.check_code(user, PHONE, "sign_in", code)
                if result.ok:
                    db.session.commit()
                return result.problem
        return job

    for run in range(RUNS):
        clock.shift(3601)  # past the send limits
        with app.app_context():
            assert smscodes.send_code(db.session.get(User, user_id), PHONE, "sign_in").ok
        code = last_sms_code(outbox)
        results = in_parallel(check(code), check(code))
        assert sorted(results, key=str) == [None, smscodes.Problem.EXPIRED], (run, results)
        with app.app_context():
            row = db.session.scalars(sa.select(SmsCode).order_by(SmsCode.id.desc())).first()
            assert row.used_at is not None and row.attempts == 0
        assert user_row(app, user_id)["factor_failures"] == 0


def test_same_code_posted_twice_in_parallel_signs_in_once(race_app, clock):
    """Two browsers sharing the half-signed-in cookie post the right code at once."""
    app = race_app
    user_id = make_account(app)
    outbox = Outbox(app)

    def submit(client, token, code):
        def job(barrier):
            barrier.wait(10)
            return enter_sign_in_code(client, token, code)
        return job

    for run in range(HTTP_RUNS):
        clock.shift(3601)
        first = app.test_client()
        token = start_second_step(first)
        second = app.test_client()
        second.set_cookie(COOKIE, first.get_cookie(COOKIE).value)
        code = last_sms_code(outbox)
        replies = in_parallel(submit(first, token, code), submit(second, token, code))
        statuses = [(r.status_code, r.headers.get("Location")) for r in replies]
        assert all(r.status_code < 500 for r in replies), (run, statuses)
        winners = [c for c, r in zip((first, second), replies, strict=True)
                   if r.status_code == 303 and r.headers["Location"] == "/"]
        assert len(winners) == 1, (run, statuses)
        with app.app_context():
            states = db.session.scalars(
                sa.select(UserSession.state).where(UserSession.user_id == user_id)).all()
        assert states == ["signed_in"], (run, statuses)
        assert winners[0].get("/settings/account").status_code == 200
        token = token_of(winners[0].get("/settings/account"))
        assert winners[0].post("/sign-out", data={"csrf_token": token}).status_code == 303


def _sign_out_everywhere_after_the_view(app) -> threading.Event:
    """When the returned event is set: what another device's "Sign out of all other
    sessions" does if it lands between this request's view (which committed) and the
    saving of its session."""
    armed = threading.Event()

    @app.after_request
    def _meanwhile(response):
        if armed.is_set():
            with db.engine.begin() as conn:  # another connection: another request
                conn.execute(sa.delete(UserSession))
        return response

    return armed


def test_a_session_ended_elsewhere_during_a_wrong_code_entry_is_no_500(app, make_user, outbox,
                                                                       clock):
    meanwhile = _sign_out_everywhere_after_the_view(app)
    user_id = make_user()
    set_sms(app, user_id)
    client = app.test_client()
    token = start_second_step(client)
    meanwhile.set()
    code = last_sms_code(outbox)
    r = post(client, "/sign-in/verify", {"code": f"{(int(code) + 1) % 10**6:06d}"},
             token=token)  # commits
    # The refusal is answered (303 to the step's page: post/redirect/get), not a 500.
    assert r.status_code == 303 and r.headers["Location"] == "/sign-in/verify"
    assert client.get("/sign-in/verify").headers["Location"] == "/sign-in"
