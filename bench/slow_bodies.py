"""Figure 6: GET /sign-in latency while other clients send oversized or slowly dripped bodies.

One ``gunicorn -c gunicorn.conf.py`` server (2 workers x 4 threads, SQLite: the
figure is about the server, not the database) on 127.0.0.1. Four other
clients send ``GET /sign-in`` every 50 ms each, three on a kept-alive
connection (a browser, or a proxy's upstream keep-alive), one on a fresh
connection each time, in rounds that alternate idle and loaded. Loaded means,
at the same time:

- 3 clients posting 0.48, 1.0 and 1.1 MB forms in turn (the first two read
  whole and refused, 400: no CSRF token; the last refused unread, 413, over
  ``MAX_CONTENT_LENGTH``). Like curl or a browser, each stops sending once a
  reply has come, and keeps its connection for the next post if the reply
  allows it, after reading the error page for 2.5 s;
- 3 clients dripping a body 5 bytes every 0.5 s (two declare 2,000 bytes, one
  2 MB), never reading the reply, reconnecting when the server closes.

The figure is p99 loaded ÷ p99 idle over all four clients (goal: at most 3).
Bounded: ``ROUNDS`` rounds of ``IDLE_SECONDS`` idle then ``LOADED_SECONDS``
loaded, about 70 s in all (30 s with ``BENCH_QUICK=1``). ``python -m
bench.slow_bodies`` runs it alone and prints its numbers; ``--stock`` runs
gunicorn's own gthread worker instead of hubweb's (hubweb/gunicorn_worker.py),
to show the fault this figure guards against.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

from .common import LOG_DIR, QUICK, BenchServer, base_env, migrate, percentile

ROUNDS = 2 if QUICK else 4
IDLE_SECONDS, LOADED_SECONDS = (4, 8) if QUICK else (5, 10)
PROBES, PROBE_GAP = 4, 0.05
POST_SIZES = (480_000, 1_000_000, 1_100_000)
DRIP_LENGTHS = (2_000, 2_000, 2_000_000)
KEPT_PAUSE = 2.5
DRIP_EVERY, DRIP_BYTES = 0.5, b"aaaaa"
GOAL = 3.0


def _connect(port: int, timeout: float = 10) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _head(length: int) -> bytes:
    return (f"POST /sign-in HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


def _read_reply(sock: socket.socket) -> tuple[int, bool]:
    """Read one HTTP reply; return its status and whether the server closes the connection."""
    reply = http.client.HTTPResponse(sock)
    reply.begin()
    reply.read()
    return reply.status, reply.will_close


def _send_until_reply(sock: socket.socket, data: bytes) -> None:
    """Send ``data`` in 64 KB pieces; stop early once the server has replied (as curl and
    browsers do when a reply comes before the whole body is sent)."""
    for start in range(0, len(data), 65536):
        if select.select([sock], [], [], 0)[0]:
            return
        sock.sendall(data[start:start + 65536])


def _poster(port: int, stop: threading.Event, seen: Counter) -> None:
    """Post each of POST_SIZES in turn, reusing the connection while the server keeps it."""
    bodies = [b"email=" + b"a" * (size - 6) for size in POST_SIZES]
    sock, turn = None, 0
    while not stop.is_set():
        body = bodies[turn % len(bodies)]
        turn += 1
        try:
            sock = sock or _connect(port)
            _send_until_reply(sock, _head(len(body)) + body)
            status, close = _read_reply(sock)
            seen[status] += 1
        except (OSError, http.client.HTTPException):
            seen["reset"] += 1
            close = True
        if close and sock:
            sock.close()
            sock = None
        # A person reads the error page before sending again on the kept connection.
        stop.wait(0.1 if sock is None else KEPT_PAUSE)
    if sock:
        sock.close()


def _dripper(port: int, length: int, stop: threading.Event, seen: Counter) -> None:
    """Drip a body of ``length`` declared bytes; ignore any reply; reconnect once closed."""
    while not stop.is_set():
        try:
            sock = _connect(port)
        except OSError:
            stop.wait(0.1)
            continue
        sent, status = 0, None
        try:
            sock.sendall(_head(length) + b"x=")
            sock.settimeout(DRIP_EVERY)
            while not stop.is_set() and sent < length - 2:
                sock.sendall(DRIP_BYTES)
                sent += len(DRIP_BYTES)
                try:
                    data = sock.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break  # the server closed the connection
                if status is None:
                    status = int(data.split(b" ", 2)[1])
        except OSError:
            pass
        finally:
            sock.close()
        seen[status or "cut"] += 1
        stop.wait(0.1)


def _get(conn: http.client.HTTPConnection) -> bool:
    """GET /sign-in on ``conn``; return whether the server closes the connection after it."""
    conn.request("GET", "/sign-in")
    reply = conn.getresponse()
    reply.read()
    if reply.status != 200:
        raise RuntimeError(f"GET /sign-in answered {reply.status}")
    return reply.will_close


def _client(port: int, kept: bool, seconds: float, out: list[float]) -> None:
    """One other client: GET /sign-in every PROBE_GAP for ``seconds``, on one kept-alive
    connection (a browser, or a proxy's upstream keep-alive) or a fresh one each time."""
    conn = None
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.perf_counter()
        conn = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        if _get(conn) or not kept:
            conn.close()
            conn = None
        out.append(time.perf_counter() - start)
        time.sleep(PROBE_GAP)
    if conn:
        conn.close()


def _samples(port: int, seconds: float) -> list[float]:
    """Latencies of PROBES concurrent clients (one of them without keep-alive)."""
    outs: list[list[float]] = [[] for _ in range(PROBES)]
    threads = [threading.Thread(target=_client, args=(port, i > 0, seconds, outs[i]))
               for i in range(PROBES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [x for out in outs for x in out]


def _loaded(port: int, seen: dict[str, Counter]) -> list[float]:
    stop = threading.Event()
    jobs = [("post", _poster, (port,)) for _ in POST_SIZES]
    jobs += [("drip", _dripper, (port, length)) for length in DRIP_LENGTHS]
    counts = [(kind, Counter()) for kind, _, _ in jobs]  # one per thread, merged after
    threads = [threading.Thread(target=target, args=(*args, stop, count))
               for (_, target, args), (_, count) in zip(jobs, counts, strict=True)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)  # the attack is under way before the probe starts
        return _samples(port, LOADED_SECONDS)
    finally:
        stop.set()
        for thread in threads:
            thread.join(15)
        for kind, count in counts:
            seen[kind].update(count)


def measure(stock: bool = False) -> dict:
    """Run the rounds against a fresh server; return the figure's numbers."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bodies.sqlite3'}"
        migrate(url)
        env = base_env(url, WEB_CONCURRENCY=2, THREADS=4,
                       RATELIMIT_SIGN_IN="1000000 per minute")
        args = ("--worker-class", "gthread") if stock else ()
        server = BenchServer(env, LOG_DIR / f"slow_bodies{'_stock' if stock else ''}.log",
                             args=args).start()
        try:
            server.warm()
            idle, loaded = [], []
            seen = {"post": Counter(), "drip": Counter()}
            for _ in range(ROUNDS):
                idle += _samples(server.port, IDLE_SECONDS)
                loaded += _loaded(server.port, seen)
        finally:
            server.stop()
    p99_idle, p99_loaded = percentile(idle, 0.99), percentile(loaded, 0.99)
    return {
        "worker": "gunicorn gthread (stock)" if stock else "hubweb.gunicorn_worker",
        "p50_idle_ms": round(percentile(idle, 0.5) * 1000, 1),
        "p99_idle_ms": round(p99_idle * 1000, 1),
        "p50_loaded_ms": round(percentile(loaded, 0.5) * 1000, 1),
        "p99_loaded_ms": round(p99_loaded * 1000, 1),
        "max_loaded_ms": round(max(loaded) * 1000, 1),
        "ratio": round(p99_loaded / p99_idle, 2),
        "samples": {"idle": len(idle), "loaded": len(loaded)},
        "posts": dict(seen["post"]),
        "drips": {str(k): v for k, v in seen["drip"].items()},
    }


def run() -> dict:
    """Figure 6 for ``bench.run``."""
    m = measure()
    return {
        "figure": "Slow bodies",
        "value": m["ratio"],
        "goal": f"p99 loaded / idle <= {GOAL:g}",
        "pass": m["ratio"] <= GOAL,
        "detail": (f"GET /sign-in p99 {m['p99_loaded_ms']} ms under oversized and dripped "
                   f"bodies / {m['p99_idle_ms']} ms idle"),
        "measured": m,
    }


if __name__ == "__main__":
    print(json.dumps(measure(stock="--stock" in sys.argv[1:]), indent=2))
