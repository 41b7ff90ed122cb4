"""Figure 1: sign-in overhead, the password step ÷ one argon2 verify.

In-process (Flask test client), production path: PostgreSQL, Flask-Limiter in
Redis, argon2-cffi's default parameters (t=3, m=64 MiB, p=4). Timed: the POST
/sign-in with the right password of a confirmed account without 2SV (it finds
the account, verifies the password, starts a new session, records the
"sign_in" event, commits, stores the session row); the GET that fetches the
CSRF token is not timed. Its median is divided by the median of
``argon2.PasswordHasher().verify`` of the same hash, the two timed in turns
(ABBA order) so that a slower stretch of the machine hits both alike.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from argon2 import PasswordHasher

from .common import (
    PASSWORD,
    QUICK,
    REDIS_URL,
    create_pg_database,
    delete_redis_keys,
    drop_pg_database,
    make_app,
    median,
    migrate,
    percentile,
    sign_in,
    unique,
)
from .seed import email, seed

GOAL = 1.04


def run() -> dict:
    rounds = 12 if QUICK else 100
    url = create_pg_database()
    prefix = unique("hubweb-bench-")
    try:
        migrate(url)
        stored = PasswordHasher().hash(PASSWORD)
        engine = sa.create_engine(url)
        seed(engine, count=1000, password_hash=stored, prefix="signin", quiet=True)
        engine.dispose()
        app = make_app(url, prefix)
        ph = PasswordHasher()
        steps, verifies = [], []

        def step(i: int) -> float:
            seconds, reply = sign_in(app.test_client(), email("signin", 1 + i % 1000))
            assert reply.status_code == 303 and reply.location == "/", reply.status_code
            return seconds

        def verify() -> float:
            start = time.perf_counter()
            ph.verify(stored, PASSWORD)
            return time.perf_counter() - start

        for i in range(3):  # warm up: pools, the app's dummy hash, caches
            step(i)
            verify()
        for i in range(rounds):
            if i % 2:
                verifies.append(verify())
                steps.append(step(i + 3))
            else:
                steps.append(step(i + 3))
                verifies.append(verify())
        with app.app_context():
            from hubweb.extensions import db

            db.engine.dispose()
    finally:
        drop_pg_database(url)
        delete_redis_keys(prefix, REDIS_URL)
    step_ms, verify_ms = median(steps) * 1000, median(verifies) * 1000
    ratio = step_ms / verify_ms
    return {
        "figure": "Sign-in overhead",
        "value": round(ratio, 4),
        "goal": f"<= {GOAL}",
        "pass": ratio <= GOAL,
        "detail": (f"POST /sign-in median {step_ms:.1f} ms / argon2 verify median "
                   f"{verify_ms:.1f} ms (+{step_ms - verify_ms:.1f} ms), {rounds} interleaved "
                   "pairs"),
        "password_step_ms": {"median": median(steps) * 1000,
                             "p10": percentile(steps, 0.1) * 1000,
                             "p90": percentile(steps, 0.9) * 1000},
        "argon2_verify_ms": {"median": median(verifies) * 1000,
                             "p10": percentile(verifies, 0.1) * 1000,
                             "p90": percentile(verifies, 0.9) * 1000},
        "rounds": rounds,
        "measured": "in-process (Flask test client), PostgreSQL + Redis, default argon2",
    }
