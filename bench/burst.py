"""``make load``, second part: a burst of sign-ins mixed with page views (issue 17, part 3).

One gunicorn server (``gunicorn -c gunicorn.conf.py``: 2 workers per core x 4
threads) on PostgreSQL + Redis, argon2-cffi's default parameters (t=3,
m=64 MiB, p=4). Per configuration of the admission control (hubweb.admission):

1. idle, ``BURST_IDLE`` s (default 8): ``BURST_PAGES`` (4) page clients, each
   signed in with its own session, load ``/`` and ``/sign-in`` in turn, 50 ms
   apart: the pages' p50/p99 idle;
2. burst, ``BURST_SECONDS`` s (default 15): the same page clients, plus
   ``BURST_USERS`` (40) people signing in at once, each in a fresh browser
   (GET the form, POST the right password), again and again, with 0-0.5 s
   between tries. Before it, each worker's peak-RSS mark is reset
   (``echo 5 > /proc/PID/clear_refs``); after it, its ``VmHWM`` is read. A
   refused person (503) waits about the ``Retry-After`` it was given.

Configurations (``BURST_CONFIGS``, default ``on,off``), run in the order
A B B A (``BURST_ROUNDS=2``, the default; 1: A B):

- ``on``: the defaults (N, Q, W computed at start-up, hashing threads at niceness 10);
- ``nice0``: the defaults, but hashing in the request thread (niceness 0);
- ``nice5``, ``nice19``: the defaults, hashing threads at niceness 5 or 19;
- ``q0``: the defaults without a queue (``PASSWORD_QUEUE=0``);
- ``off``: ``PASSWORD_CHECKS=1000``, ``PASSWORD_QUEUE=0``, niceness 0: no limit,
  as before admission control.

Reported per configuration (medians over its rounds, and each round): the
password step's p50/p99 (every POST /sign-in, 303 or 503), its 503 share, the
pages' p99 idle and during the burst, each worker's peak memory. Goals, for
``on``: pages' p99 during the burst at most 2 x idle; each worker's peak at
most README's bound, ``BASE_MIB`` + N x 64 MiB; no 5xx but 503 with
``Retry-After``. Results under ``"burst"`` in ``bench/load_results.json``.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import random
import re
import statistics
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
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
#: A worker's memory before any hash, MiB: README's "Sizing workers" (measured 125-127).
BASE_MIB = 130
HASH_MIB = 64
THREADS = 4
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
CONFIGS = {
    "on": {},
    "nice0": {"PASSWORD_NICENESS": 0},
    "nice5": {"PASSWORD_NICENESS": 5},
    "nice19": {"PASSWORD_NICENESS": 19},
    "q0": {"PASSWORD_QUEUE": 0},
    "off": {"PASSWORD_CHECKS": 1000, "PASSWORD_QUEUE": 0, "PASSWORD_NICENESS": 0},
}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """A cookie jar and the last CSRF token; ``request`` returns (status, headers, ms)."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirect())
        self.token = None

    def request(self, path: str, data: dict | None = None):
        body = None
        if data is not None:
            body = urllib.parse.urlencode({"csrf_token": self.token, **data}).encode()
        start = time.perf_counter()
        try:
            with self.opener.open(urllib.request.Request(self.base + path, data=body),
                                  timeout=60) as reply:
                status, headers, text = reply.status, reply.headers, reply.read().decode()
        except urllib.error.HTTPError as exc:
            status, headers, text = exc.code, exc.headers, exc.read().decode()
            exc.close()
        ms = (time.perf_counter() - start) * 1000
        found = CSRF.search(text)
        if found:
            self.token = found[1]
        return status, headers, ms


def _hwm_kib(pid: int, key: str = "VmHWM") -> int:
    text = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"^{key}:\s+(\d+) kB", text, re.M)[1])


def _gate_of(server: BenchServer) -> tuple[int, int]:
    """N and Q as the server computed them (same machine, same environment)."""
    from hubweb import admission

    n = server.env.get("HUBWEB_PASSWORD_CHECKS")
    n = int(n) if n else admission.default_checks(workers=server.workers, threads=THREADS)
    q = server.env.get("HUBWEB_PASSWORD_QUEUE")
    return n, int(q) if q else admission.default_queue(n, threads=THREADS)


def run_config(name: str, url: str, prefix: str, accounts: list[str], settings: dict,
               idle_s: float, burst_s: float, pages: int, users: int) -> dict:
    server = BenchServer({}, LOG_DIR / f"burst-{name}.log")
    server.env = {**server_env(url, RATELIMIT_KEY_PREFIX=prefix,
                               RATELIMIT_SIGN_IN="100000 per minute", **settings),
                  "HUBWEB_BIND": f"127.0.0.1:{server.port}"}
    n, q = _gate_of(server)
    server.start()
    try:
        server.warm()
        pids = server.worker_pids()
        page_log: list[tuple[str, float, int]] = []  # (phase, ms, status)
        signin_log: list[tuple[float, int, bool]] = []  # (ms, status, retry-after)
        other_5xx: list[str] = []
        phase = {"now": "warm"}
        stop = threading.Event()
        burst_on = threading.Event()
        pool = iter(accounts)
        lock = threading.Lock()

        def next_account() -> str:
            with lock:
                return next(pool)

        viewers = []
        for _ in range(pages):  # each signed in once, before anything is measured
            b = Browser(server.url)
            b.request("/sign-in")
            status, _, _ = b.request("/sign-in", {"email": next_account(), "password": PASSWORD})
            assert status == 303, status
            viewers.append(b)

        def view(b: Browser) -> None:
            paths = ("/", "/sign-in")
            i = 0
            while not stop.is_set():
                status, _, ms = b.request(paths[i % 2])
                i += 1
                if phase["now"] in ("idle", "burst"):
                    with lock:
                        page_log.append((phase["now"], ms, status))
                    if status >= 500:
                        other_5xx.append(f"page {status}")
                time.sleep(0.05)

        def sign_in() -> None:
            burst_on.wait()
            while not stop.is_set() and phase["now"] == "burst":
                b = Browser(server.url)
                b.request("/sign-in")
                status, headers, ms = b.request(
                    "/sign-in", {"email": next_account(), "password": PASSWORD})
                retry = headers.get("Retry-After") is not None
                with lock:
                    if phase["now"] == "burst":
                        signin_log.append((ms, status, retry))
                if status >= 500 and not (status == 503 and retry):
                    other_5xx.append(f"sign-in {status}")
                elif status not in (303, 503):
                    other_5xx.append(f"sign-in {status} (unexpected)")
                # Told to come back (503, Retry-After): a person waits about that long.
                wait = int(headers.get("Retry-After") or 0) if status == 503 else 0
                time.sleep(wait * random.uniform(0.8, 1.2) if wait else random.uniform(0, 0.5))

        threads = [threading.Thread(target=view, args=(b,)) for b in viewers]
        threads += [threading.Thread(target=sign_in) for _ in range(users)]
        for t in threads:
            t.start()
        time.sleep(1)
        phase["now"] = "idle"
        time.sleep(idle_s)
        for pid in pids:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        base = {pid: _hwm_kib(pid, "VmRSS") / 1024 for pid in pids}
        phase["now"] = "burst"
        burst_on.set()
        time.sleep(burst_s)
        peaks = {pid: _hwm_kib(pid) / 1024 for pid in pids}
        phase["now"] = "done"
        stop.set()
        for t in threads:
            t.join(120)
        log = server.log()
    finally:
        server.stop()
    idle = [ms for p, ms, _ in page_log if p == "idle"]
    during = [ms for p, ms, _ in page_log if p == "burst"]
    sign_ms = [ms for ms, _, _ in signin_log]
    refused = sum(1 for _, s, _ in signin_log if s == 503)
    server_5xx = [line for line in log.splitlines()
                  if re.search(r'" 5\d\d ', line) and not re.search(r'"POST /sign-in[^"]*" 503 ',
                                                                      line)]
    return {
        "config": name, "password_checks": n, "password_queue": q,
        "settings": settings, "workers": len(pids),
        "signin_count": len(sign_ms), "signed_in": sum(1 for _, s, _ in signin_log if s == 303),
        "signin_p50_ms": percentile(sign_ms, 0.5), "signin_p99_ms": percentile(sign_ms, 0.99),
        "share_503": refused / max(1, len(sign_ms)),
        "pages_idle_count": len(idle), "pages_burst_count": len(during),
        "pages_idle_p50_ms": percentile(idle, 0.5), "pages_idle_p99_ms": percentile(idle, 0.99),
        "pages_burst_p50_ms": percentile(during, 0.5),
        "pages_burst_p99_ms": percentile(during, 0.99),
        "worker_base_mib": [round(v, 1) for v in base.values()],
        "worker_peak_mib": [round(v, 1) for v in peaks.values()],
        "other_5xx": other_5xx[:50] + server_5xx[:50], "tracebacks": log.count("Traceback"),
    }


def summarize(rounds: list[dict]) -> dict:
    med = statistics.median
    keys = ("signin_p50_ms", "signin_p99_ms", "share_503", "pages_idle_p99_ms",
            "pages_burst_p99_ms")
    out = {k: med(r[k] for r in rounds) for k in keys}
    out["p99_ratio"] = med(r["pages_burst_p99_ms"] / r["pages_idle_p99_ms"] for r in rounds)
    out["p99_ratios"] = [round(r["pages_burst_p99_ms"] / r["pages_idle_p99_ms"], 2)
                         for r in rounds]
    out["peak_mib"] = max(max(r["worker_peak_mib"]) for r in rounds)
    out["password_checks"] = rounds[0]["password_checks"]
    out["password_queue"] = rounds[0]["password_queue"]
    out["bound_mib"] = BASE_MIB + out["password_checks"] * HASH_MIB
    out["bad_5xx"] = sum(len(r["other_5xx"]) + r["tracebacks"] for r in rounds)
    return out


def main() -> int:
    clean_environment()
    need_services()
    names = os.environ.get("BURST_CONFIGS", "on,off").split(",")
    if any(n not in CONFIGS for n in names):
        sys.exit(f"BURST_CONFIGS: each of {', '.join(CONFIGS)}")
    rounds_n = int(os.environ.get("BURST_ROUNDS", "2"))
    idle_s = float(os.environ.get("BURST_IDLE", "8"))
    burst_s = float(os.environ.get("BURST_SECONDS", "15"))
    pages = int(os.environ.get("BURST_PAGES", "4"))
    users = int(os.environ.get("BURST_USERS", "40"))
    order = names + (names[::-1] if rounds_n >= 2 else [])
    url = create_pg_database()
    prefix = unique("hubweb-burst-")
    count = 3000
    results: dict[str, list[dict]] = {n: [] for n in names}
    try:
        migrate(url)
        engine = sa.create_engine(url)
        seed(engine, count=count * len(order), password_hash=PasswordHasher().hash(PASSWORD),
             prefix="burst-", sessions_per_user=0, events_per_user=0, quiet=True)
        engine.dispose()
        print(f"burst: one server (default workers x {THREADS} threads), PostgreSQL + Redis, "
              f"argon2 default; {pages} page clients; idle {idle_s:.0f} s, then {users} "
              f"people signing in for {burst_s:.0f} s; order {' '.join(order)}", flush=True)
        for i, name in enumerate(order):
            accounts = [f"burst-{j}@example.com" for j in range(i * count + 1, (i + 1) * count)]
            r = run_config(name, url, prefix, accounts, CONFIGS[name], idle_s, burst_s,
                           pages, users)
            results[name].append(r)
            print(f"  {name}: N={r['password_checks']} Q={r['password_queue']}: sign-in "
                  f"p50 {r['signin_p50_ms']:.0f} ms p99 {r['signin_p99_ms']:.0f} ms "
                  f"({r['signin_count']}, 503 {r['share_503']:.0%}); pages p99 idle "
                  f"{r['pages_idle_p99_ms']:.0f} ms, burst {r['pages_burst_p99_ms']:.0f} ms; "
                  f"bases {r['worker_base_mib']} peaks {r['worker_peak_mib']} MiB", flush=True)
    finally:
        drop_pg_database(url)
        delete_redis_keys(prefix, REDIS_URL)
    return report(results)


def report(results: dict[str, list[dict]]) -> int:
    summary = {name: summarize(rounds) for name, rounds in results.items()}
    print()
    print(f"{'config':<7} {'N':>4} {'Q':>3} {'sign-in p50':>12} {'p99':>7} {'503':>5} "
          f"{'pages p99 idle':>15} {'burst':>7} {'ratio':>6} {'peak MiB':>9}")
    for name, s in summary.items():
        print(f"{name:<7} {s['password_checks']:>4} {s['password_queue']:>3} "
              f"{s['signin_p50_ms']:>10.0f}ms {s['signin_p99_ms']:>5.0f}ms "
              f"{s['share_503']:>5.0%} {s['pages_idle_p99_ms']:>13.0f}ms "
              f"{s['pages_burst_p99_ms']:>5.0f}ms {s['p99_ratio']:>6.2f} {s['peak_mib']:>9.0f}")
    ok = True
    if "on" in summary:
        s = summary["on"]
        goals = [
            (f"pages' p99 during the burst <= 2 x idle (median ratio {s['p99_ratio']:.2f}, "
             f"rounds {s['p99_ratios']})", s["p99_ratio"] <= 2),
            (f"peak memory per worker <= {BASE_MIB} + {s['password_checks']} x {HASH_MIB} = "
             f"{s['bound_mib']} MiB, +5% (highest {s['peak_mib']:.0f})",
             s["peak_mib"] <= s["bound_mib"] * 1.05),
            (f"no 5xx but 503 with Retry-After ({s['bad_5xx']})", s["bad_5xx"] == 0),
        ]
        print()
        for text, passed in goals:
            print(f"{'PASS' if passed else 'FAIL'}  {text}")
            ok = ok and passed
        for r in results["on"]:
            for line in r["other_5xx"][:10]:
                print("   ", line)
    previous = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    previous["burst"] = {"machine": machine(), "summary": summary, "rounds": results,
                         "pass": ok}
    RESULTS.write_text(json.dumps(previous, indent=2, default=str) + "\n")
    print(f"written to {RESULTS.relative_to(ROOT)} (\"burst\")")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
