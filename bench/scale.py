"""Figure 4: scale, sign-in and settings medians with 1,000,000 accounts ÷ with 1,000.

Two PostgreSQL databases built by the migrations and bulk-loaded the same way
(:mod:`bench.seed`): every account has 1 signed-in session and 5 security
events, every other one SMS 2SV on; ANALYZE after loading. Two in-process apps
(Flask test client) serve them side by side, and the requests alternate
between them (ABBA), each time for an account drawn at random from the whole
table (no 2SV, so the password step completes the sign-in): the password step
(POST /sign-in, the CSRF GET not timed), then ``/settings/account``.

argon2 runs with cheap parameters here (t=1, m=1 MiB, p=1; the stored hash has
the same ones, so nothing is rehashed): at the default ones the 140 ms hash
would hide the database's part of the sign-in and any ratio would pass.

The SQL that the sign-in and the settings page send is captured from the big
database's engine and each SELECT, UPDATE and DELETE is run again under
``EXPLAIN (ANALYZE, BUFFERS)`` (in a transaction rolled back); a sequential scan
of users, sessions or security_events fails the figure.
"""

from __future__ import annotations

import random
import re
import time

import sqlalchemy as sa
from argon2 import PasswordHasher

from .common import (
    CHEAP_ARGON2,
    PASSWORD,
    QUICK,
    REDIS_URL,
    create_pg_database,
    delete_redis_keys,
    drop_pg_database,
    make_app,
    median,
    migrate,
    unique,
)
from .seed import email, seed

GOAL = 1.1
BIG_TABLES = ("users", "sessions", "security_events")
LABELS = (
    (re.compile(r"FROM sessions LEFT OUTER JOIN users", re.S), "session by id, with its user"),
    (re.compile(r"FROM users\s+WHERE users\.email_key", re.S), "user by email_key"),
    (re.compile(r"FROM security_events\s+WHERE security_events\.user_id", re.S),
     "recent security events of a user"),
    (re.compile(r"FROM sessions\s+WHERE sessions\.user_id", re.S), "signed-in sessions of a user"),
    (re.compile(r"^DELETE FROM sessions", re.S), "delete a session by id"),
    (re.compile(r"^UPDATE sessions", re.S), "update a session (data, last seen)"),
    (re.compile(r"FROM users\s+WHERE users\.id", re.S), "user by id"),
)


def _label(statement: str) -> str:
    for pattern, label in LABELS:
        if pattern.search(statement):
            return label
    return "other"


def _capture(app, fn) -> list[tuple[str, dict]]:
    """The statements ``fn()`` sends through ``app``'s engine (SELECT, UPDATE, DELETE)."""
    from hubweb.extensions import db

    with app.app_context():
        engine = db.engine
    seen: list[tuple[str, dict]] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        text = statement.strip()
        if text.split(None, 1)[0].upper() in ("SELECT", "UPDATE", "DELETE") and \
                text.upper() != "SELECT 1" and not executemany:
            seen.append((text, dict(parameters or {})))

    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        fn()
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    return seen


def _explain(url: str, captured) -> list[dict]:
    engine = sa.create_engine(url)
    plans = []
    # The last parameters of each statement: the session lookup of the settings
    # page (a signed-in session) rather than the sign-in's (an anonymous one).
    latest = dict(captured)
    try:
        for statement, params in latest.items():
            with engine.connect() as conn:
                trans = conn.begin()
                rows = conn.exec_driver_sql(
                    "EXPLAIN (ANALYZE, BUFFERS) " + statement, params).scalars().all()
                trans.rollback()
            plan = "\n".join(rows)
            seq = [t for t in BIG_TABLES if re.search(rf"Seq Scan on {t}\b", plan)]
            plans.append({"query": _label(statement), "sql": statement, "plan": plan,
                          "seq_scans": seq,
                          "index_used": "Index" in plan})
    finally:
        engine.dispose()
    return plans


def run(verbose: bool = True) -> dict:
    big_n = 20_000 if QUICK else 1_000_000
    small_n = 1_000
    rounds = 60 if QUICK else 300
    urls = {"small": create_pg_database(), "big": create_pg_database()}
    prefix = unique("hubweb-bench-")
    stored = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
    apps = {}
    build = {}
    try:
        for name, n in (("small", small_n), ("big", big_n)):
            migrate(urls[name])
            engine = sa.create_engine(urls[name])
            if verbose:
                print(f"  building the {n:,}-account database ...", flush=True)
            build[name] = seed(engine, count=n, password_hash=stored, prefix="scale",
                               sms_every=2, sessions_per_user=1, events_per_user=5,
                               quiet=not verbose)
            engine.dispose()
            apps[name] = make_app(urls[name], prefix, **CHEAP_ARGON2)
        sizes = {"small": small_n, "big": big_n}
        rng = random.Random(6)
        clients = {}

        def sign_in_random(name):
            # Odd numbers: no 2SV (sms_every=2 puts it on the even ones).
            i = rng.randrange(1, sizes[name] + 1, 2) if sizes[name] > 1 else 1
            client = apps[name].test_client()
            token = _csrf(client.get("/sign-in"))
            start = time.perf_counter()
            reply = client.post("/sign-in", data={"csrf_token": token,
                                                  "email": email("scale", i),
                                                  "password": PASSWORD})
            seconds = time.perf_counter() - start
            assert reply.status_code == 303 and reply.location == "/", reply.status_code
            clients[name] = client
            return seconds

        def settings(name):
            start = time.perf_counter()
            reply = clients[name].get("/settings/account")
            seconds = time.perf_counter() - start
            assert reply.status_code == 200, reply.status_code
            return seconds

        for _ in range(10):  # warm up both
            for name in apps:
                sign_in_random(name)
                settings(name)
        captured = _capture(apps["big"], lambda: (sign_in_random("big"), settings("big")))
        times = {(name, what): [] for name in apps for what in ("sign_in", "settings")}
        for r in range(rounds):
            order = ("small", "big") if r % 2 == 0 else ("big", "small")
            for name in order:
                times[(name, "sign_in")].append(sign_in_random(name))
                times[(name, "settings")].append(settings(name))
        for app in apps.values():
            with app.app_context():
                from hubweb.extensions import db

                db.engine.dispose()
        plans = _explain(urls["big"], captured)
    finally:
        for url in urls.values():
            drop_pg_database(url)
        delete_redis_keys(prefix, REDIS_URL)
    med = {f"{name}_{what}_ms": round(median(v) * 1000, 3) for (name, what), v in times.items()}
    ratios = {what: median(times[("big", what)]) / median(times[("small", what)])
              for what in ("sign_in", "settings")}
    seq = sorted({t for p in plans for t in p["seq_scans"]})
    value = max(ratios.values())
    detail = (f"sign-in {ratios['sign_in']:.3f} ({med['big_sign_in_ms']:.1f} / "
              f"{med['small_sign_in_ms']:.1f} ms), settings {ratios['settings']:.3f} "
              f"({med['big_settings_ms']:.1f} / {med['small_settings_ms']:.1f} ms); "
              f"{big_n:,} vs {small_n:,} accounts, {rounds} interleaved rounds; "
              f"{len(plans)} hot queries, "
              + (f"SEQUENTIAL SCANS on {', '.join(seq)}" if seq else "all on indexes"))
    return {
        "figure": "Scale",
        "value": round(value, 4),
        "goal": f"<= {GOAL}",
        "pass": value <= GOAL and not seq,
        "detail": detail,
        "ratios": {k: round(v, 4) for k, v in ratios.items()},
        "medians": med,
        "accounts": {"big": big_n, "small": small_n},
        "build": build,
        "plans": plans,
        "measured": ("in-process (Flask test client), PostgreSQL + Redis, cheap argon2 "
                     "(t=1, m=1 MiB, p=1) so the database's part is what is compared"),
    }


def _csrf(response) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True))[1]


def print_plans(result: dict) -> None:
    print(f"\nEXPLAIN (ANALYZE, BUFFERS) of the hot queries, {result['accounts']['big']:,} "
          "accounts:")
    for plan in result["plans"]:
        print(f"\n-- {plan['query']}" + (f"  [SEQ SCAN on {plan['seq_scans']}]"
                                         if plan["seq_scans"] else ""))
        print("   " + " ".join(plan["sql"].split())[:300])
        for line in plan["plan"].splitlines():
            print("   | " + line)
