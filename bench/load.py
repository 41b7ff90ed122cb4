"""``make load``: 200 people for 60 s against two gunicorn servers on PostgreSQL and Redis.

Two servers (``gunicorn -c gunicorn.conf.py wsgi:app``, the default 2 workers
per core x 4 threads each) share one throwaway PostgreSQL database and one
Redis, as behind a load balancer; locust (:mod:`bench.locustfile`) runs the
people. Settings of the run, all said in the report:

- argon2: ``LOAD_ARGON2=default`` (the default: argon2-cffi's t=3, m=64 MiB,
  p=4, as in production) or ``cheap`` (t=1, m=1 MiB, p=1).
- Per-IP limits: every person has its own loopback address (127.0.x.y), so
  the fixed per-IP limits (the 2SV password check, code entry, resend) count
  per person as in production; ``RATELIMIT_SIGN_IN``, ``_REGISTER`` and
  ``_FORGOT`` are raised to 600 per minute all the same, so a slow stretch
  cannot make a person trip them. The limiter still counts every limited
  request in Redis.
- SMS and mail: the console backends; codes and links are read from the
  ``dev_outbox`` table. Per-account SMS limits: each account serves one
  journey, so it gets one SMS in the run.

Afterwards: every 5xx (from the clients and from the servers' access logs)
is printed; the security events (by account and kind), the sessions (by
account and state), the numbers set up and the passwords reset are counted
in the database and compared with what the clients were told succeeded
(a "lost write" is a success the database does not show); p50/p99 latencies
per request kind. Results also go to ``bench/load_results.json``. Exit
status 1 on any 5xx, lost write or abandoned journey.
"""

from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from argon2 import PasswordHasher

from .common import (
    LOG_DIR,
    PASSWORD,
    REDIS_URL,
    ROOT,
    BenchServer,
    clean_environment,
    create_pg_database,
    delete_redis_keys,
    drop_pg_database,
    machine,
    migrate,
    need_services,
    percentile,
    server_env,
    unique,
)
from .seed import seed

RESULTS = ROOT / "bench" / "load_results.json"
ACCESS = re.compile(r'"(\w+) (\S+) HTTP/1\.[01]" (\d{3}) ')
POOL = 3000  # accounts per journey kind; each serves one journey


def _pools() -> dict:
    return {
        "signin": {"prefix": "load-signin-", "first": 1, "count": POOL, "phone": 41},
        "setup": {"prefix": "load-setup-", "first": 1, "count": POOL, "phone": 42},
        "recovery": {"prefix": "load-recovery-", "first": 1, "count": POOL, "phone": 43},
    }


def _seed(url: str, stored: str, pools: dict) -> None:
    engine = sa.create_engine(url)
    first_id = 1
    for kind, pool in pools.items():
        seed(engine, count=pool["count"], password_hash=stored, prefix=pool["prefix"],
             first_id=first_id, sms_every=0 if kind == "setup" else 1,
             phone_series=pool["phone"], sessions_per_user=0, events_per_user=5, quiet=True)
        first_id += pool["count"]
    engine.dispose()


def _access_log(path: Path) -> tuple[collections.Counter, list[str], int]:
    """Status counts, the 5xx lines, and the tracebacks of a server's log.

    A 503 to a POST is the password step at capacity (hubweb.admission) when the
    clients counted as many 503s with ``Retry-After`` (checked in :func:`report`):
    those lines are counted as ``"503 busy"``, not listed."""
    text = path.read_text(errors="replace") if path.exists() else ""
    statuses = collections.Counter()
    bad = []
    for line in text.splitlines():
        found = ACCESS.search(line)
        if found:
            statuses[found[3]] += 1
            if found[3] == "503" and found[1] == "POST":
                statuses["503 busy"] += 1
            elif found[3].startswith("5"):
                bad.append(line)
    return statuses, bad, text.count("Traceback")


def _database_counts(url: str, since: datetime, stored: str) -> dict:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            events = conn.execute(sa.text(
                "SELECT u.email, e.kind, count(*) FROM security_events e "
                "JOIN users u ON u.id = e.user_id WHERE e.created_at >= :since "
                "GROUP BY u.email, e.kind"), {"since": since}).all()
            sessions = conn.execute(sa.text(
                "SELECT coalesce(u.email, ''), s.state, count(*) FROM sessions s "
                "LEFT JOIN users u ON u.id = s.user_id GROUP BY 1, 2")).all()
            phones = dict(conn.execute(sa.text(
                "SELECT u.email, a.lookup FROM users u JOIN authenticators a "
                "ON a.user_id = u.id AND a.kind = 'sms' AND a.enabled_at IS NOT NULL "
                "WHERE u.email LIKE 'load-setup-%'")).all())
            changed = {r[0] for r in conn.execute(sa.text(
                "SELECT email FROM users WHERE password_hash <> :stored"),
                {"stored": stored})}
            outbox = dict(conn.execute(sa.text(
                "SELECT channel, count(*) FROM dev_outbox GROUP BY channel")).all())
    finally:
        engine.dispose()
    return {"events": events, "sessions": sessions, "phones": phones, "changed": changed,
            "outbox": outbox}


def _compare(tallies: dict, db: dict) -> dict:
    """What the clients were told succeeded against what the database holds."""
    client_events = collections.Counter()
    for address, t in tallies.items():
        for kind, n in t["events"].items():
            client_events[(address, kind)] += n
    db_events = collections.Counter({(a, k): n for a, k, n in db["events"]})
    lost = {f"{a} {k}": (n, db_events[(a, k)])
            for (a, k), n in client_events.items() if db_events[(a, k)] < n}
    extra = {f"{a} {k}": (client_events[(a, k)], n)
             for (a, k), n in db_events.items() if n > client_events[(a, k)]}
    db_sessions = collections.Counter({(a, s): n for a, s, n in db["sessions"]})
    session_diff = {}
    for address, t in tallies.items():
        for state, key in (("signed_in", "signed_in"), ("pending", "pending")):
            if db_sessions[(address, state)] != t[key]:
                session_diff[f"{address} {state}"] = (t[key], db_sessions[(address, state)])
    want_phones = {a: t["sms_phone"] for a, t in tallies.items() if t.get("sms_phone")}
    phone_diff = {a: (want_phones.get(a), db["phones"].get(a))
                  for a in set(want_phones) | set(db["phones"])
                  if want_phones.get(a) != db["phones"].get(a)}
    want_changed = {a for a, t in tallies.items() if t.get("password_changed")}
    by_kind = collections.Counter()
    for (_a, k), n in client_events.items():
        by_kind[k] += n
    db_by_kind = collections.Counter()
    for (_a, k), n in db_events.items():
        db_by_kind[k] += n
    states = collections.Counter()
    for (_a, s), n in db_sessions.items():
        states[s] += n
    return {
        "events_client": dict(by_kind), "events_db": dict(db_by_kind),
        "sessions_client": {"signed_in": sum(t["signed_in"] for t in tallies.values()),
                            "pending": sum(t["pending"] for t in tallies.values())},
        "sessions_db": dict(states),
        "sms_setups": {"client": len(want_phones), "db": len(db["phones"])},
        "password_resets": {"client": len(want_changed), "db": len(db["changed"])},
        "lost_events": lost, "extra_events": extra, "session_mismatches": session_diff,
        "phone_mismatches": phone_diff,
        "password_mismatches": sorted(want_changed ^ db["changed"]),
    }


def main() -> int:
    clean_environment()
    need_services()
    users = int(os.environ.get("LOAD_USERS", "200"))
    seconds = int(os.environ.get("LOAD_SECONDS", "60"))
    # Further HUBWEB_* settings of both servers, as JSON without the prefix, e.g.
    # LOAD_SETTINGS='{"PASSWORD_WAIT": 5}'.
    extra = json.loads(os.environ.get("LOAD_SETTINGS") or "{}")
    argon2 = os.environ.get("LOAD_ARGON2", "default")
    think = os.environ.get("LOAD_THINK", "3,8")
    if argon2 not in ("default", "cheap"):
        sys.exit("LOAD_ARGON2 must be default or cheap")
    ph = PasswordHasher() if argon2 == "default" else PasswordHasher(1, 1024, 1)
    stored = ph.hash(PASSWORD)
    pools = _pools()
    url = create_pg_database()
    prefix = unique("hubweb-load-")
    servers: list[BenchServer] = []
    tmp = tempfile.TemporaryDirectory()
    tally_path = Path(tmp.name) / "tally.json"
    try:
        migrate(url)
        _seed(url, stored, pools)
        names = ("a", "b")
        servers = [BenchServer({}, LOG_DIR / f"load-{n}.log") for n in names]
        for server in servers:
            server.env = {**server_env(
                url, argon2=argon2, BASE_URL=servers[0].url, RATELIMIT_KEY_PREFIX=prefix,
                RATELIMIT_SIGN_IN="600 per minute", RATELIMIT_REGISTER="600 per minute",
                RATELIMIT_FORGOT="600 per minute", **extra),
                "HUBWEB_BIND": f"127.0.0.1:{server.port}"}
            server.start()
            server.warm()
        since = datetime.now(UTC)
        env = {**os.environ,
               "LOAD_SERVERS": ",".join(s.url for s in servers),
               "LOAD_DB": url.replace("postgresql+psycopg://", "postgresql://"),
               "LOAD_POOLS": json.dumps(pools), "LOAD_PASSWORD": PASSWORD,
               "LOAD_TALLY": str(tally_path), "LOAD_THINK": think}
        spawn = max(1, users // 20)  # a 20-second ramp, then `seconds` with every user
        ramp = -(-users // spawn)
        print(f"locust: {users} users (ramp {ramp} s at {spawn}/s) then {seconds} s, against "
              f"{', '.join(s.url for s in servers)}; argon2 {argon2}; think {think} s; "
              f"settings {extra or 'defaults'}",
              flush=True)
        started = time.monotonic()
        locust = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(ROOT / "bench" / "locustfile.py"),
             "--headless", "--users", str(users), "--spawn-rate", str(spawn),
             "--run-time", f"{ramp + seconds}s", "--stop-timeout", "120", "--only-summary",
             "--loglevel", "WARNING", "--exit-code-on-error", "0"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=seconds + 300)
        wall = time.monotonic() - started
        if locust.returncode != 0 or not tally_path.exists():
            print(locust.stdout[-5000:], locust.stderr[-5000:])
            raise RuntimeError(f"locust exited with {locust.returncode}")
        for server in servers:
            server.stop()
        tally = json.loads(tally_path.read_text())
        db = _database_counts(url, since, stored)
    finally:
        for server in servers:
            server.stop()
        drop_pg_database(url)
        delete_redis_keys(prefix, REDIS_URL)
        tmp.cleanup()
    return report(tally, db, servers, users, seconds, wall, argon2, think, locust.stderr)


def report(tally, db, servers, users, seconds, wall, argon2, think, locust_log) -> int:
    check = _compare(tally["tallies"], db)
    logs = {s.log_path.name: _access_log(s.log_path) for s in servers}
    server_5xx = [line for _, bad, _ in logs.values() for line in bad]
    tracebacks = sum(t for _, _, t in logs.values())
    gave_up = [e for e in tally["errors"] if e.get("busy")]  # 6 refusals in a row
    client_5xx = [e for e in tally["errors"] if e["status"] >= 500 and not e.get("busy")]
    busy = tally.get("busy") or {}
    busy_server = sum(counts["503 busy"] for counts, _, _ in logs.values())
    if busy_server != sum(busy.values()) + len(gave_up):  # a 503 the clients saw without
        # Retry-After
        server_5xx.append(f"{busy_server} POSTs answered 503 in the logs, "
                          f"{sum(busy.values())} with Retry-After at the clients")
    other_errors = [e for e in tally["errors"] if e["status"] < 500]
    spawned = tally["all_spawned_at"] or 0
    stop = spawned + seconds

    def window(name: str, values: list[float]) -> dict:
        return {"request": name, "count": len(values), "p50_ms": percentile(values, 0.5),
                "p99_ms": percentile(values, 0.99), "max_ms": max(values) if values else 0}

    # The figures: requests started while all the users were running (after the
    # ramp, before the stop); the ramp and the last journeys finishing apart.
    latencies = {name: [ms for start, ms in pairs if spawned <= start < stop]
                 for name, pairs in tally["latencies_ms"].items()}
    pairs = [p for ps in tally["latencies_ms"].values() for p in ps]
    rows = [window(name, values) for name, values in
            sorted(latencies.items(), key=lambda kv: -len(kv[1])) if values]
    total = window("all", [v for values in latencies.values() for v in values])
    ramp = window("all, during the ramp", [ms for start, ms in pairs if start < spawned])
    drain = window("all, journeys finishing after the stop",
                   [ms for start, ms in pairs if start >= stop])
    statuses = collections.Counter()
    for counts, _, _ in logs.values():
        statuses.update(counts)
    lost = (len(check["lost_events"]) + sum(1 for c, d in check["session_mismatches"].values()
                                            if d < c)
            + sum(1 for w, d in check["phone_mismatches"].values() if w and d != w)
            + len(set(check["password_mismatches"])))
    abandoned = {k: v for k, v in tally["journeys"].items() if "abandoned" in k}
    print()
    print(f"load: {users} users for {seconds} s after a ramp ({wall:.0f} s wall in all, the "
          f"last journeys finishing), two gunicorn servers (default workers x 4 threads), "
          f"PostgreSQL + Redis, argon2 {argon2}, think time {think} s between steps")
    print(f"journeys: {json.dumps(tally['journeys'], sort_keys=True)}")
    print(f"requests: {len(pairs)}; server statuses "
          f"{dict(sorted(statuses.items()))}; keep-alive retries {tally['retries'] or 0}")
    print()
    print(f"latency once all {users} users were running ({total['count']} requests, "
          f"{total['count'] / max(1e-9, seconds):.0f}/s):")
    print(f"{'request':<42} {'count':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for row in [*rows, total, ramp, drain]:
        print(f"{row['request']:<42} {row['count']:>6} {row['p50_ms']:>8.0f} "
              f"{row['p99_ms']:>8.0f} {row['max_ms']:>8.0f}")
    print()
    tries = {n: len(v) for n, v in tally["latencies_ms"].items()}
    print("password step at capacity (503 + Retry-After, sent again after the wait): "
          + (", ".join(f"{n} {c} of {tries.get(n, 0)} ({c / max(1, tries.get(n, 0)):.1%})"
                       for n, c in sorted(busy.items())) or "none"))
    print(f"journeys given up after 6 such refusals in a row: {len(gave_up)}")
    print(f"5xx: {len(client_5xx)} seen by clients, {len(server_5xx)} in the servers' access "
          f"logs, {tracebacks} tracebacks")
    for line in server_5xx[:50]:
        print("  server:", line)
    for error in client_5xx[:50]:
        print("  client:", error)
    if other_errors:
        print(f"other unexpected replies: {len(other_errors)}")
        for error in other_errors[:20]:
            print("  ", error)
    print(f"security events since the start, what clients were told / the database: "
          f"{check['events_client']} / {check['events_db']}")
    print(f"sessions, clients / database: {check['sessions_client']} / {check['sessions_db']}")
    print(f"SMS set-ups {check['sms_setups']}, password resets {check['password_resets']}, "
          f"dev outbox {db['outbox']}")
    print(f"lost writes: {lost}"
          + (f" {check['lost_events']} {check['session_mismatches']} "
             f"{check['phone_mismatches']} {check['password_mismatches']}" if lost else ""))
    if check["extra_events"]:
        print(f"events the clients did not ask for: {check['extra_events']}")
    result = {
        "machine": machine(), "users": users, "seconds": seconds, "wall_seconds": round(wall, 1),
        "argon2": argon2, "think_seconds": think, "journeys": tally["journeys"],
        "requests": len(pairs), "server_statuses": dict(statuses),
        "latency_ms": [*rows, total], "latency_ramp_ms": ramp, "latency_drain_ms": drain,
        "keepalive_retries": tally["retries"], "busy_503": busy,
        "gave_up_after_503": len(gave_up), "client_5xx": client_5xx,
        "server_5xx": server_5xx,
        "tracebacks": tracebacks, "other_errors": other_errors, "check": {
            k: v for k, v in check.items()
            if k not in ("lost_events", "extra_events", "session_mismatches")},
        "lost_writes": lost, "lost_events": check["lost_events"],
        "session_mismatches": check["session_mismatches"],
        "extra_events": check["extra_events"],
    }
    if RESULTS.exists():  # bench/burst.py's part stays
        previous = json.loads(RESULTS.read_text())
        if "burst" in previous:
            result["burst"] = previous["burst"]
    RESULTS.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"written to {RESULTS.relative_to(ROOT)}; server and locust logs in "
          f"{LOG_DIR.relative_to(ROOT)}/")
    (LOG_DIR / "locust.log").write_text(locust_log)
    return 1 if client_5xx or server_5xx or lost or abandoned else 0


if __name__ == "__main__":
    sys.exit(main())
