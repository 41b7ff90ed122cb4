"""Figure 2: page cost, signed-in ``/settings/account`` req/s ÷ a bare Flask "hello" req/s.

Both apps run under the same gunicorn settings (``gunicorn -c gunicorn.conf.py``:
gthread, ``WEB_CONCURRENCY`` default 2 per core, 4 threads), with worker
recycling (``max_requests``) turned off for both with ``--max-requests 0`` so
that a worker restart in the middle of a short run does not decide the
figure. The portal runs on PostgreSQL (the figure: the production path of several
servers) and, for comparison, on SQLite (one machine), with the Redis limiter
and production backends (SMS over HTTP to a fake gateway on 127.0.0.1, so no
development banner); the account is typical: SMS 2SV on, 20 security events
(the most the page lists) and 3 signed-in sessions, signed in through the real
form and SMS code. The same load generator drives both: ``wrk`` (Debian) with one
thread and as many connections as the server has threads, or, without wrk,
a Python keep-alive generator. Runs alternate hello / PostgreSQL / SQLite, and the
figure is the ratio of the medians. Every response status is counted from
gunicorn's access log: anything but 200 fails the figure.

For the breakdown, a fourth server (``bench.floor:app``: the same app on the
same PostgreSQL database, with the same signed-in cookie) answers
``/bench/floor``, a signed-in page that does nothing: the cost of the request
hooks and the revocable server-side session alone, which every signed-in page
pays before its own queries and template; and ``/bench/anonymous`` without a
cookie, the same app with no database work at all.
"""

from __future__ import annotations

import http.client
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from .common import (
    LOG_DIR,
    PASSWORD,
    QUICK,
    REDIS_URL,
    BenchServer,
    SmsGateway,
    create_pg_database,
    delete_redis_keys,
    drop_pg_database,
    free_port,
    make_account,
    make_app,
    median,
    migrate,
    server_env,
    unique,
)

GOAL = 0.5
ACCESS = re.compile(r'"GET (\S+) HTTP/1\.[01]" (\d{3}) ')


def _statuses(log_path, offset: int) -> tuple[dict[str, int], int]:
    with open(log_path, "rb") as fh:
        fh.seek(offset)
        text = fh.read().decode(errors="replace")
        end = fh.tell()
    counts: dict[str, int] = {}
    for _path, status in ACCESS.findall(text):
        counts[status] = counts.get(status, 0) + 1
    return counts, end


def _wrk(url: str, seconds: float, connections: int, headers: dict) -> float:
    args = ["wrk", "-t1", f"-c{connections}", f"-d{int(seconds)}s", "--timeout", "10s"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True,
                         timeout=seconds + 60).stdout
    if "Non-2xx" in out or "Socket errors" in out:
        print(out)
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])


def _python_load(url: str, seconds: float, connections: int, headers: dict) -> float:
    """Keep-alive GETs from ``connections`` threads for ``seconds``; requests per second."""
    host_port = url.split("//", 1)[1].split("/", 1)
    host, port = host_port[0].split(":")
    path = "/" + (host_port[1] if len(host_port) > 1 else "")
    done = [0] * connections
    deadline = time.monotonic() + seconds

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        while time.monotonic() < deadline:
            conn.request("GET", path, headers=headers)
            reply = conn.getresponse()
            reply.read()
            if reply.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection(host, int(port), timeout=10)
            done[i] += 1
        conn.close()

    start = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.monotonic() - start)


def _signed_in_cookie(server: BenchServer, gateway: SmsGateway, address: str, number: str):
    from tests.support.servers import Browser

    browser = Browser()
    browser.get(server, "/sign-in")
    reply = browser.post(server, "/sign-in", {"email": address, "password": PASSWORD})
    assert reply.status == 200 and "/sign-in/verify" in reply.html, reply
    reply = browser.post(server, "/sign-in/verify", {"code": gateway.last_code(number)})
    assert reply.status == 200, reply
    cookie = next(c for c in browser.jar if c.name == "hubweb_session")
    return {"Cookie": f"{cookie.name}={cookie.value}", "User-Agent": browser.headers["User-Agent"]}


def _check_page(server: BenchServer, headers: dict) -> int:
    """The signed-in settings page must answer (not a redirect to sign-in); its size."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/settings/account", headers=headers)
    reply = conn.getresponse()
    page = reply.read()
    conn.close()
    assert reply.status == 200 and b"Recent security activity" in page, reply.status
    return len(page)


def run() -> dict:
    rounds, seconds = (1, 3) if QUICK else (5, 8)
    generator = "wrk" if shutil.which("wrk") else "python"
    load = _wrk if generator == "wrk" else _python_load
    pg_url = create_pg_database()
    tmp = tempfile.TemporaryDirectory()
    sqlite_url = f"sqlite:///{Path(tmp.name) / 'page.sqlite3'}"
    prefix = unique("hubweb-bench-")
    gateway = SmsGateway()
    servers: list[BenchServer] = []
    try:
        portals = {}
        for name, url, number in (("PostgreSQL", pg_url, "+447400100001"),
                                  ("SQLite", sqlite_url, "+447400100002")):
            migrate(url)
            app = make_app(url, prefix)
            make_account(app, f"page-{number[1:]}@example.com", sms_phone=number)
            with app.app_context():
                from hubweb.extensions import db

                db.engine.dispose()
            env = server_env(url, SMS_BACKEND="http", SMS_HTTP_URL=gateway.url,
                             MAIL_BACKEND="smtp", MAIL_PORT=free_port(),
                             RATELIMIT_KEY_PREFIX=prefix)
            server = BenchServer(env, LOG_DIR / f"page-{name.lower()}.log",
                                 args=("--max-requests", "0"))
            servers.append(server.start())
            headers = _signed_in_cookie(server, gateway, f"page-{number[1:]}@example.com",
                                        number)
            portals[name] = (server, server.url + "/settings/account", headers)
            if name == "PostgreSQL":
                pg_env, pg_headers = env, headers
        hello = BenchServer(env, LOG_DIR / "page-hello.log", target="bench.hello:app",
                            ready="/", args=("--max-requests", "0"))
        servers.append(hello.start())
        floor = BenchServer(pg_env, LOG_DIR / "page-floor.log", target="bench.floor:app",
                            args=("--max-requests", "0"))
        servers.append(floor.start())
        targets = {"hello": (hello, hello.url + "/", {}), **portals,
                   "floor": (floor, floor.url + "/bench/floor", pg_headers),
                   "anonymous": (floor, floor.url + "/bench/anonymous", {})}
        page_bytes = {name: _check_page(server, headers)
                      for name, (server, _, headers) in portals.items()}
        connections = hello.workers * int(env.get("HUBWEB_THREADS", "4"))
        for _server, target, headers in targets.values():  # warm-up, not counted
            load(target, 2, connections, headers)
        offsets = {name: os.path.getsize(server.log_path)
                   for name, (server, _, _) in targets.items()}
        rates: dict[str, list[float]] = {name: [] for name in targets}
        names = list(targets)
        for i in range(rounds):
            for name in names if i % 2 == 0 else reversed(names):
                _server, target, headers = targets[name]
                rates[name].append(load(target, seconds, connections, headers))
        time.sleep(1)  # let the access logs flush
        statuses = {name: _statuses(server.log_path, offsets[name])[0]
                    for name, (server, _, _) in targets.items()}
    finally:
        for server in servers:
            server.stop()
        gateway.close()
        drop_pg_database(pg_url)
        tmp.cleanup()
        delete_redis_keys(prefix, REDIS_URL)
    hello_rate = median(rates["hello"])
    ratios = {name: median(rates[name]) / hello_rate for name in (*portals, "floor", "anonymous")}
    ratio = ratios["PostgreSQL"]
    bad = {name: {s: n for s, n in counts.items() if s != "200"}
           for name, counts in statuses.items()}
    ok = ratio >= GOAL and not any(bad.values())
    detail = (f"settings on PostgreSQL {median(rates['PostgreSQL']):.0f} req/s / hello "
              f"{hello_rate:.0f} req/s (on SQLite: {median(rates['SQLite']):.0f} req/s, "
              f"ratio {ratios['SQLite']:.3f}); {generator}, {connections} connections, "
              f"{rounds} x {seconds} s each, interleaved; {page_bytes['PostgreSQL']:,}-byte page; "
              f"floor (signed-in, no page) {median(rates['floor']):.0f} req/s, ratio "
              f"{ratios['floor']:.3f}; the app without database work "
              f"{median(rates['anonymous']):.0f} req/s, ratio {ratios['anonymous']:.3f}")
    if any(bad.values()):
        detail += f"; NON-200 RESPONSES: {bad}"
    return {
        "figure": "Page cost",
        "value": round(ratio, 4),
        "goal": f">= {GOAL}",
        "pass": ok,
        "detail": detail,
        "ratios": {k: round(v, 4) for k, v in ratios.items()},
        "requests_per_second": rates,
        "statuses": statuses,
        "generator": generator,
        "connections": connections,
        "page_bytes": page_bytes,
        "measured": ("gunicorn -c gunicorn.conf.py --max-requests 0 (gthread, 2 workers per "
                     "core x 4 threads); PostgreSQL + Redis (the figure) and SQLite; typical "
                     "signed-in account (SMS on, 20 events, 3 sessions)"),
    }
