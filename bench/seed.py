"""Bulk-load accounts, sessions and security events into a migrated PostgreSQL database.

Everything is made by ``INSERT ... SELECT generate_series`` in the server, with
one precomputed argon2 hash for every account, so a million accounts load in
about a minute instead of the hours that a million argon2 hashes would take.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/126.0.0.0 Safari/537.36")
EVENT_KINDS = ("sign_in", "sign_out", "sign_in_failed", "password_changed", "sign_in")


def email(prefix: str, i: int) -> str:
    """The address of account number ``i`` (1-based) of a batch."""
    return f"{prefix}{i}@example.com"


def phone(series: int, i: int) -> str:
    """A UK mobile number (E.164) of a batch: ``+447 SS NNNNNNN``; one per account."""
    return f"+447{series:02d}{i:07d}"


def seed(engine, *, count: int, password_hash: str, prefix: str = "user",
         first_id: int = 1, sms_every: int = 0, phone_series: int = 40,
         sessions_per_user: float = 1.0, events_per_user: int = 5,
         quiet: bool = False) -> dict:
    """Add ``count`` confirmed accounts ``{prefix}{i}@example.com``, ids from ``first_id``.

    :param password_hash: the argon2 PHC string stored for every account.
    :param sms_every: every n-th account has SMS 2SV on (0: none), with its own
        number :func:`phone` (``phone_series``, i).
    :param sessions_per_user: signed-in sessions per account (fractions: every
        1/x-th account has one).
    :param events_per_user: security events per account.
    :return: row counts and seconds taken per table.
    """
    timings = {}
    n_sessions = int(count * sessions_per_user)
    n_events = count * events_per_user
    last = first_id + count - 1
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '256MB'")
        start = time.perf_counter()
        conn.execute(sa.text(
            "INSERT INTO users (id, email, email_key, password_hash, created_at, "
            "email_confirmed_at, password_changed_at, factor_failures) "
            f"SELECT {first_id} - 1 + g, :prefix || g || '@example.com', "
            ":prefix || g || '@example.com', :hash, now() - interval '30 days', "
            "now() - interval '30 days', now() - interval '30 days', 0 "
            "FROM generate_series(1, :n) AS g"
        ), {"prefix": prefix, "hash": password_hash, "n": count})
        if sms_every:
            conn.execute(sa.text(
                "INSERT INTO authenticators (user_id, kind, name, lookup, data, created_at, "
                "enabled_at) "
                f"SELECT {first_id} - 1 + g, 'sms', '', "
                f"'+447{phone_series:02d}' || lpad(g::text, 7, '0'), '{{}}', now(), now() "
                f"FROM generate_series(1, :n) AS g WHERE g % {sms_every} = 0"
            ), {"n": count})
        conn.exec_driver_sql(
            "SELECT setval(pg_get_serial_sequence('users', 'id'), "
            "(SELECT max(id) FROM users))")
        timings["users"] = time.perf_counter() - start
        start = time.perf_counter()
        if n_sessions:
            # Spread over the accounts; ids are SHA-256 hex like the app's.
            conn.execute(sa.text(
                "INSERT INTO sessions (id, user_id, state, data, created_at, last_seen_at, "
                "ip, user_agent) "
                "SELECT encode(sha256(convert_to(:prefix || 'session' || g, 'UTF8')), 'hex'), "
                f"{first_id} + ((g - 1)::bigint * :count / :n_sessions)::int, "
                "'signed_in', '{}', "
                "now() - (g % 3600) * interval '1 second', "
                "now() - (g % 1800) * interval '1 second', "
                "'192.0.2.' || (g % 250 + 1), :ua "
                "FROM generate_series(1, :n_sessions) AS g"
            ), {"prefix": prefix, "count": count, "n_sessions": n_sessions, "ua": UA})
        timings["sessions"] = time.perf_counter() - start
        start = time.perf_counter()
        if n_events:
            kinds = "ARRAY[" + ", ".join(f"'{k}'" for k in EVENT_KINDS) + "]"
            conn.execute(sa.text(
                "INSERT INTO security_events (user_id, kind, created_at, ip, user_agent) "
                f"SELECT {first_id} + (g - 1) / :per, ({kinds})[1 + g % {len(EVENT_KINDS)}], "
                "now() - interval '1 day' + (g % :per) * interval '1 minute', "
                "'192.0.2.' || (g % 250 + 1), :ua "
                "FROM generate_series(1, :n_events) AS g"
            ), {"per": events_per_user, "n_events": n_events, "ua": UA})
        timings["security_events"] = time.perf_counter() - start
    start = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE users")
        conn.exec_driver_sql("VACUUM ANALYZE authenticators")
        conn.exec_driver_sql("VACUUM ANALYZE sessions")
        conn.exec_driver_sql("VACUUM ANALYZE security_events")
    timings["analyze"] = time.perf_counter() - start
    assert last >= first_id
    result = {"users": count, "sessions": n_sessions, "security_events": n_events,
              "seconds": {k: round(v, 1) for k, v in timings.items()}}
    if not quiet:
        print(f"  seeded {count:,} accounts, {n_sessions:,} sessions, {n_events:,} events "
              f"in {sum(timings.values()):.0f} s {result['seconds']}", flush=True)
    return result
