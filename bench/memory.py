"""Figure 5: memory, peak RSS of a gunicorn worker during 50 concurrent sign-ins.

One gunicorn server with the default settings (gthread, 4 threads) but one
worker (``WEB_CONCURRENCY=1``), so that all 50 sign-ins land on it, on
PostgreSQL + Redis with argon2-cffi's default parameters (m=64 MiB). After a
warm-up sign-in, the worker's peak-RSS mark is reset (``echo 5 >
/proc/PID/clear_refs``), its RSS read (the base), then 50 clients that have
each fetched the sign-in form POST the right password at the same moment;
the worker's ``VmHWM`` (/proc/PID/status) is the peak. The per-IP sign-in
limit is raised for the run (all 50 come from 127.0.0.1).

Model: peak = base + N x 64 MiB, where N is the worker's admission limit of
password checks (``HUBWEB_PASSWORD_CHECKS``, computed at start-up by
:func:`hubweb.admission.default_checks`; with one worker of 4 threads, 3):
at most N hashes run at once whatever the number of clients, the others wait
in its short queue or are answered 503 with ``Retry-After`` (counted apart).
The same run with the default worker count (2 per core) shows the whole server.
"""

from __future__ import annotations

import re
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

import sqlalchemy as sa
from argon2 import PasswordHasher

from .common import (
    LOG_DIR,
    PASSWORD,
    REDIS_URL,
    BenchServer,
    create_pg_database,
    delete_redis_keys,
    drop_pg_database,
    migrate,
    server_env,
    unique,
)
from .seed import email, seed


def _checks(workers: int) -> int:
    """The N a worker computes at start-up on this machine (hubweb.admission)."""
    from hubweb.admission import default_checks

    return default_checks(workers=workers, threads=THREADS)

CLIENTS = 50
HASH_MIB = 64  # argon2-cffi's default memory_cost, 65536 KiB
THREADS = 4


def _status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in KiB."""
    text = Path(f"/proc/{pid}/status").read_text()
    return {k: int(re.search(rf"^{k}:\s+(\d+) kB", text, re.M)[1]) for k in ("VmRSS", "VmHWM")}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _client(server: BenchServer, address: str):
    """A browser that has loaded the sign-in form: returns a function that POSTs it."""
    import http.cookiejar

    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect())
    with opener.open(server.url + "/sign-in", timeout=60) as reply:
        token = re.search(r'name="csrf_token" value="([^"]+)"', reply.read().decode())[1]
    body = urllib.parse.urlencode({"csrf_token": token, "email": address,
                                   "password": PASSWORD}).encode()

    def post() -> int:
        try:
            with opener.open(urllib.request.Request(server.url + "/sign-in", data=body),
                             timeout=120) as reply:
                return reply.status
        except urllib.error.HTTPError as exc:
            exc.close()
            return exc.code

    return post


def _run_server(url: str, prefix: str, workers: int | None) -> dict:
    """Measure one server; ``workers=None``: gunicorn.conf.py's default count."""
    extra = {"WEB_CONCURRENCY": workers} if workers else {}
    env = server_env(url, RATELIMIT_KEY_PREFIX=prefix, RATELIMIT_SIGN_IN="1000 per minute",
                     **extra)
    server = BenchServer(env, LOG_DIR / f"memory-{workers or 'default'}.log")
    workers = server.workers
    server.start()
    try:
        server.warm("/sign-in")
        pids = server.worker_pids()
        # One sign-in per worker builds its hasher (and dummy hash) before measuring.
        for i in range(workers * THREADS * 2):
            assert _client(server, email("mem", CLIENTS + 1 + i))() == 303
        reset = True
        for pid in pids:
            try:
                Path(f"/proc/{pid}/clear_refs").write_text("5")
            except OSError:
                reset = False
        base = {pid: _status(pid)["VmRSS"] for pid in pids}
        posts = [_client(server, email("mem", i + 1)) for i in range(CLIENTS)]
        barrier = threading.Barrier(CLIENTS)
        statuses: list[int] = []
        samples: dict[int, int] = {pid: 0 for pid in pids}
        sampling = True

        def sample():
            while sampling:
                for pid in pids:
                    try:
                        samples[pid] = max(samples[pid], _status(pid)["VmRSS"])
                    except OSError:
                        pass
                time.sleep(0.005)

        def one(post):
            barrier.wait()
            statuses.append(post())

        sampler = threading.Thread(target=sample)
        sampler.start()
        threads = [threading.Thread(target=one, args=(p,)) for p in posts]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start
        sampling = False
        sampler.join()
        peaks = {pid: _status(pid)["VmHWM"] for pid in pids}
    finally:
        server.stop()
    return {
        "workers": workers, "threads": THREADS, "hwm_reset": reset,
        "password_checks": _checks(workers),
        "ok": sum(1 for s in statuses if s == 303),
        "busy": sum(1 for s in statuses if s == 503), "statuses": sorted(set(statuses)),
        "seconds": round(elapsed, 2),
        "base_mib": {str(p): round(v / 1024, 1) for p, v in base.items()},
        "peak_mib": {str(p): round(v / 1024, 1) for p, v in peaks.items()},
        "sampled_peak_mib": {str(p): round(v / 1024, 1) for p, v in samples.items()},
    }


def run() -> dict:
    url = create_pg_database()
    prefix = unique("hubweb-bench-")
    try:
        migrate(url)
        engine = sa.create_engine(url)
        seed(engine, count=CLIENTS + 200, password_hash=PasswordHasher().hash(PASSWORD),
             prefix="mem", sessions_per_user=0, events_per_user=0, quiet=True)
        engine.dispose()
        one = _run_server(url, prefix, 1)
        default = _run_server(url, prefix, None)
    finally:
        drop_pg_database(url)
        delete_redis_keys(prefix, REDIS_URL)
    (pid,) = one["peak_mib"]
    base, peak = one["base_mib"][pid], one["peak_mib"][pid]
    n = one["password_checks"]
    model = base + n * HASH_MIB
    hashes = (peak - base) / HASH_MIB
    ok = one["ok"] + one["busy"] == CLIENTS and one["ok"] > 0 and peak <= model * 1.05
    total_peak = sum(default["peak_mib"].values())
    peaks = ", ".join(f"{v:.0f}" for v in default["peak_mib"].values())
    detail = (f"one worker: base {base:.0f} MiB, peak {peak:.0f} MiB during {CLIENTS} "
              f"concurrent sign-ins ({one['ok']} in, {one['busy']} told to retry: 503); "
              f"+{peak - base:.0f} MiB = {hashes:.1f} x 64 MiB; model base + N={n} x 64 MiB "
              f"= {model:.0f} MiB); default "
              f"{default['workers']} workers: peaks {peaks} MiB, {total_peak:.0f} MiB in all")
    return {
        "figure": "Memory",
        "value": peak,
        "unit": "MiB",
        "goal": f"<= base + N={n} x 64 MiB (+5%)",
        "pass": ok,
        "detail": detail,
        "base_mib": base,
        "peak_mib": peak,
        "model_mib": model,
        "concurrent_hashes_seen": round(hashes, 2),
        "one_worker": one,
        "default_workers": default,
        "measured": "gunicorn.conf.py, PostgreSQL + Redis, default argon2 (t=3, m=64 MiB, p=4)",
    }
