"""Request bodies at the server: oversized, cut short or dripped, they stall nobody else.

Against a real ``gunicorn -c gunicorn.conf.py`` (hubweb's gthread worker,
hubweb/gunicorn_worker.py) on SQLite, with raw sockets so that what goes over
the connection is what is asserted: the status, ``Connection: close``, and
whether the server ends the connection with a FIN (the client read its
reply) or a reset. The worker's main loop is tested in-process: a closing
connection is left to the poller, not waited on. How long others wait is a
measurement, not a test: ``make bench``, figure 6 (bench/slow_bodies.py).
"""

from __future__ import annotations

import http.client
import selectors
import socket
import threading
import time
from collections import deque
from concurrent.futures import Future
from types import SimpleNamespace

import pytest
from gunicorn.http.unreader import SocketUnreader
from werkzeug.exceptions import RequestTimeout

from hubweb import gunicorn_worker
from hubweb.errors import MESSAGES
from tests.support.servers import Server, base_env, migrate

BODY_TIMEOUT = 1  # seconds, for the server under test (production: 10)
WAIT = 20  # seconds a socket read may take before the test fails instead of hanging


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bodies")
    url = f"sqlite:///{tmp / 'bodies.sqlite3'}"
    migrate(url)
    running = Server(base_env(url, BODY_TIMEOUT=BODY_TIMEOUT), tmp / "server.log").start()
    yield running
    running.stop()


def _connect(server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _post_head(length: int) -> bytes:
    return (f"POST /sign-in HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {length}\r\n\r\n").encode()


def _reply(sock: socket.socket) -> http.client.HTTPResponse:
    reply = http.client.HTTPResponse(sock)
    reply.begin()
    reply.body = reply.read().decode()
    return reply


def _ends_with_fin(sock: socket.socket) -> bool:
    """Read until the server ends the connection: True for a FIN, False for a reset."""
    try:
        while sock.recv(65536):
            pass
    except ConnectionResetError:
        return False
    return True


CHUNKED_HEAD = (b"POST /sign-in HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/x-www-form-urlencoded\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")


@pytest.mark.parametrize("request_bytes", [
    _post_head(11) + b"email=a%40b",
    CHUNKED_HEAD + b"6\r\nemail=\r\n5\r\na%40b\r\n0\r\n\r\n",
], ids=["content-length", "chunked"])
def test_a_form_read_to_its_end_keeps_the_connection_for_the_next_request(server,
                                                                          request_bytes):
    with _connect(server) as sock:
        sock.sendall(request_bytes)
        refused = _reply(sock)  # no CSRF token: refused, but the body was read
        assert refused.status == 400 and refused.getheader("Connection") == "keep-alive"
        sock.sendall(b"GET /sign-in HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        page = _reply(sock)
        assert page.status == 200 and 'name="password"' in page.body
        assert page.getheader("Connection") == "keep-alive"


@pytest.mark.parametrize("sent", ["whole body", "head only", "chunked"])
def test_a_413_closes_the_connection_and_the_sender_reads_it(server, sent):
    body = b"email=" + b"a" * (1_100_000 - 6)  # over MAX_CONTENT_LENGTH (1 MiB)
    request_bytes = {
        "whole body": _post_head(len(body)) + body,
        "head only": _post_head(len(body)),
        "chunked": CHUNKED_HEAD + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n",
    }[sent]
    with _connect(server) as sock:
        sock.sendall(request_bytes)
        reply = _reply(sock)
        assert reply.status == 413 and MESSAGES[413] in reply.body
        assert reply.getheader("Connection") == "close"
        # The unread body is read and dropped while the connection lingers, so the
        # client gets a FIN after its reply, not a reset that could cut the reply off.
        assert _ends_with_fin(sock)


def test_a_body_that_stops_arriving_is_answered_408_and_the_connection_closed(server):
    with _connect(server) as sock:
        sock.sendall(_post_head(100) + b"email=")
        reply = _reply(sock)
        assert reply.status == 408 and MESSAGES[408] in reply.body
        assert reply.getheader("Connection") == "close"
        assert _ends_with_fin(sock)


def test_the_body_deadline_is_for_the_whole_body_not_each_read(server):
    """A byte every 0.2 s never waits long on one read; the body still has 1 s in all."""
    with _connect(server) as sock:
        sock.sendall(_post_head(1000) + b"e")
        sock.settimeout(0.2)
        head = b""
        for _ in range(WAIT * 5):  # bounded: the test fails rather than drips for ever
            try:
                head = sock.recv(65536)
                break
            except TimeoutError:
                sock.sendall(b"a")
        assert head.startswith(b"HTTP/1.1 408 ")
        assert b"\r\nConnection: close\r\n" in head


def test_a_request_without_a_body_keeps_the_connection_after_an_error(server):
    with _connect(server) as sock:
        sock.sendall(b"GET /no-such-page HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        missing = _reply(sock)
        assert missing.status == 404 and missing.getheader("Connection") == "keep-alive"
        sock.sendall(b"GET /sign-in HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _reply(sock).status == 200


# --- the worker's main loop ----------------------------------------------------------


@pytest.fixture
def worker():
    """A ThreadWorker's connection bookkeeping, without a process around it."""
    loop = gunicorn_worker.ThreadWorker.__new__(gunicorn_worker.ThreadWorker)
    loop.poller = selectors.DefaultSelector()
    loop.lingering, loop.pending_conns = deque(), deque()
    loop.nr_conns = 1
    yield loop
    loop.poller.close()


def _closing(worker):
    """A served connection whose thread said "close": ``(conn, client socket)``."""
    server_side, client = socket.socketpair()
    client.settimeout(WAIT)
    conn = SimpleNamespace(sock=server_side)
    done = Future()
    done.set_result(False)
    worker.finish_request(conn, done)
    return conn, client


def test_a_closing_connection_is_left_to_the_poller_not_waited_on(worker):
    conn, client = _closing(worker)
    with client:
        # finish_request() has returned while the client still holds its end open:
        # the connection lingers, half-closed, and the main loop is free.
        assert list(worker.lingering) == [conn]
        assert worker.poller.get_key(conn.sock)
        assert worker.nr_conns == 1
        assert client.recv(1) == b""  # the server's FIN
        client.sendall(b"rest of a body nobody reads")
        worker.wait_for_and_dispatch_events(timeout=WAIT)  # dropped, still lingering
        assert list(worker.lingering) == [conn]
    worker.wait_for_and_dispatch_events(timeout=WAIT)  # the client's close
    assert not worker.lingering and worker.nr_conns == 0
    assert conn.sock.fileno() == -1 and not worker.poller.get_map()


def test_a_lingering_connection_is_closed_when_its_time_is_up(worker):
    conn, client = _closing(worker)
    with client:
        worker.murder_pending()
        assert list(worker.lingering) == [conn]  # within LINGER_SECONDS: kept
        conn.timeout = time.monotonic() - 0.001
        worker.murder_pending()
        assert not worker.lingering and worker.nr_conns == 0
        assert conn.sock.fileno() == -1


def test_a_lingering_connection_is_closed_after_its_byte_allowance(worker, monkeypatch):
    monkeypatch.setattr(gunicorn_worker, "LINGER_BYTES", 1000)
    conn, client = _closing(worker)
    with client:
        client.sendall(b"a" * 1000)
        worker.wait_for_and_dispatch_events(timeout=WAIT)
        assert not worker.lingering and worker.nr_conns == 0


def test_a_stopping_worker_gives_an_arriving_body_a_short_grace_not_its_deadline():
    """A recycling worker accepts nothing until it exits: a dripped body must not keep it."""
    server_side, client = socket.socketpair()
    worker = SimpleNamespace(alive=True)
    chunk = gunicorn_worker._deadline_chunk(SocketUnreader(server_side), server_side,
                                            time.monotonic() + 3600, worker)
    outcome = []

    def read():
        try:
            outcome.append(chunk(1024))
        except RequestTimeout:
            outcome.append("408")

    with server_side, client:
        client.sendall(b"email=")
        read()
        assert outcome == [b"email="]
        worker.alive = False  # max_requests reached: the worker is stopping
        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(WAIT)  # a guard against hanging; the deadline is an hour away
        assert outcome == [b"email=", "408"]


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_a_bad_body_timeout_stops_the_worker(monkeypatch, value):
    monkeypatch.setenv("HUBWEB_BODY_TIMEOUT", value)
    with pytest.raises(ValueError):
        gunicorn_worker.body_timeout()
