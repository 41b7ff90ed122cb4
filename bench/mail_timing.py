"""Figure 6: the reply time of /register and /forgot-password, known vs unknown address.

Issue 10 item 5: with the email queued in the request's transaction
(hubweb.mailqueue) no reply waits for the SMTP server, so a known address
must not answer measurably later than an unknown one. In-process (Flask test
client), production path: PostgreSQL, Flask-Limiter in Redis, argon2-cffi's
default parameters, the smtp backend with its in-process sender running.
Each scenario (SMTP up, SMTP down: nothing listens) times 50 requests of each
kind, alternating known / unknown (ABBA...), the CSRF GET not timed, and
between requests waits (untimed) for the sender to attempt what was queued; each
known address is a different account, so the per-account email limits never
change the work done. The figure is the largest ``|median known / median
unknown - 1|`` of the four comparisons; the goal is within 5 %.

``python -m bench.mail_timing`` runs this figure alone.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager

import sqlalchemy as sa
from argon2 import PasswordHasher

from .common import (
    PASSWORD,
    QUICK,
    REDIS_URL,
    create_pg_database,
    csrf_of,
    delete_redis_keys,
    drop_pg_database,
    make_app,
    median,
    migrate,
    unique,
)
from .seed import email, seed

GOAL = 0.05


@contextmanager
def smtp_sink(up: bool):
    """A real SMTP server (aiosmtpd) that accepts everything, or a port nobody serves."""
    import socket

    from aiosmtpd.controller import Controller

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            return "250 OK"

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    if not up:
        yield port
        return
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def _post(client, path: str, data: dict) -> float:
    data = {"csrf_token": csrf_of(client.get(path)), **data}
    start = time.perf_counter()
    reply = client.post(path, data=data)
    elapsed = time.perf_counter() - start
    assert reply.status_code == 200, (path, reply.status_code)
    return elapsed


def _settle(app) -> None:
    """Wait (untimed) until the in-process sender has attempted every queued email.

    Otherwise its work (composing the MIME message, the SMTP conversation, under
    the same GIL) lands on whichever request comes next, which the alternation
    makes more often an unknown address's, and the figure would time the sender,
    not the reply.
    """
    from hubweb.extensions import db
    from hubweb.mailqueue import QueuedMail

    waiting = (sa.select(sa.func.count()).select_from(QueuedMail)
               .where(QueuedMail.sent_at.is_(None), QueuedMail.failed_at.is_(None),
                      QueuedMail.last_error.is_(None)))
    deadline = time.monotonic() + 10
    with app.app_context():
        while db.session.scalar(waiting) and time.monotonic() < deadline:
            db.session.rollback()
            time.sleep(0.005)
        db.session.remove()


def _compare(app, rounds: int, path: str, known, unknown) -> dict:
    times = {"known": [], "unknown": []}
    for i in range(3):  # warm up
        _post(app.test_client(), path, unknown(1000 + i))
    for i in range(rounds):
        for kind, make in (("known", known), ("unknown", unknown))[:: 1 if i % 2 else -1]:
            times[kind].append(_post(app.test_client(), path, make(i)))
            _settle(app)
    known_ms, unknown_ms = median(times["known"]) * 1000, median(times["unknown"]) * 1000
    return {"known_ms": round(known_ms, 2), "unknown_ms": round(unknown_ms, 2),
            "difference": round(known_ms / unknown_ms - 1, 4)}


def run() -> dict:
    rounds = 10 if QUICK else 50
    url = create_pg_database()
    prefix = unique("hubweb-bench-mail-")
    results = {}
    try:
        migrate(url)
        engine = sa.create_engine(url)
        seed(engine, count=4 * rounds, password_hash=PasswordHasher().hash(PASSWORD),
             prefix="mailtime", quiet=True)
        engine.dispose()
        for n, up in enumerate((True, False)):
            with smtp_sink(up) as port:
                app = make_app(url, prefix, MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1",
                               MAIL_PORT=port, MAIL_TIMEOUT=2, MAIL_SENDER="inprocess")
                base = 2 * rounds * n
                state = "up" if up else "down"
                results[f"forgot, SMTP {state}"] = _compare(
                    app, rounds, "/forgot-password",
                    lambda i, b=base: {"email": email("mailtime", 1 + b + i)},
                    lambda i: {"email": f"nobody-{unique('')}@example.com"})
                results[f"register, SMTP {state}"] = _compare(
                    app, rounds, "/register",
                    lambda i, b=base: {"email": email("mailtime", 1 + b + rounds + i),
                                       "password": PASSWORD},
                    lambda i: {"email": f"new-{unique('')}@example.com", "password": PASSWORD})
                app.extensions["hubweb.mail_sender"].shut_down()
                with app.app_context():
                    from hubweb.extensions import db

                    db.engine.dispose()
    finally:
        drop_pg_database(url)
        delete_redis_keys(prefix, REDIS_URL)
    worst = max(abs(r["difference"]) for r in results.values())
    detail = "; ".join(f"{name}: {r['known_ms']:.1f} vs {r['unknown_ms']:.1f} ms "
                       f"({r['difference']:+.1%})" for name, r in results.items())
    return {
        "figure": "Mail timing",
        "value": round(worst, 4),
        "goal": f"|known/unknown - 1| <= {GOAL}",
        "pass": worst <= GOAL,
        "detail": f"medians of {rounds} alternating requests, known vs unknown, the sender "
                  f"settled between requests: {detail}",
        "comparisons": results,
        "rounds": rounds,
        "measured": "in-process (Flask test client), PostgreSQL + Redis, default argon2, "
                    "smtp backend with the in-process sender",
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
