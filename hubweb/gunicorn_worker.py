"""hubweb's gunicorn worker: gthread, made safe against oversized and slowly sent bodies.

``gunicorn.conf.py`` selects it (``worker_class``). Why it exists, as measured
with gunicorn 27.0's ``gunicorn/workers/gthread.py`` (``make bench``, figure 6):

1. **The worker's main loop waited on closing connections.** Each gthread
   worker has one main thread that accepts connections and hands requests on
   kept-alive ones to its threads. When a connection ends, ``finish_request()``
   closes it *on that main thread* with ``util.close_graceful()``: a half-close,
   then up to 2 s reading until the client closes too (RFC 9112 section 9.6).
   A browser that posted a 1 MB form, got the 413 early, stopped sending and
   kept its connection open for the next request made that loop wait the full
   2 s; every other client whose request was on this worker waited with it.
2. **A body can hold a thread for as long as its sender likes.** After an early
   reply (413, 400) the rest of the body is drained in a worker thread before
   keep-alive, and the drain's 5 s deadline is checked only between 1 KiB reads:
   5 bytes every half second hold the thread for minutes. A body the app reads
   (a form) has no time limit at all. Four such clients fill a worker.

What this worker changes, and nothing else:

- a closing connection lingers in the main loop's poller (non-blocking): it is
  closed when the client closes, after ``LINGER_BYTES`` or ``LINGER_SECONDS``;
  no thread and no loop waits on it, and a client that sent a whole 1 MiB body
  still reads its 413 instead of a connection reset;
- the whole body must arrive within ``HUBWEB_BODY_TIMEOUT`` seconds (default
  10) of the request head, else werkzeug's ``RequestTimeout`` (408, RFC 9110
  section 15.5.9) is raised where the app reads it, and the app's error page
  answers; a stopping worker (``max_requests``), which accepts nothing until
  its requests are done, gives a body ``STOP_BODY_GRACE`` (1 s) instead;
- a reply to a request whose body was not read to its end says
  ``Connection: close`` (RFC 9110 section 15.5.14 for a 413) and nothing
  drains the rest in a thread, so neither side waits.

Behind nginx (README, "Reverse proxy"), nginx buffers whole bodies and enforces
its own limits first; this worker is the second line for a server reached directly.
"""

from __future__ import annotations

import os
import selectors
import socket
import time
from collections import deque
from functools import partial

from gunicorn import util
from gunicorn.http.body import ChunkedReader, LengthReader
from gunicorn.workers import gthread
from werkzeug.exceptions import RequestTimeout

#: Seconds a closing connection may linger for the client's own close (gunicorn's value).
LINGER_SECONDS = 2.0
#: Bytes read and dropped while lingering: more than ``MAX_CONTENT_LENGTH`` (1 MiB), so
#: a client that sent a whole oversized form before reading gets its 413, not a reset.
LINGER_BYTES = 2 * 1024 * 1024
#: Seconds a stopping worker still gives a request body that is arriving.
STOP_BODY_GRACE = 1.0


def body_timeout() -> float:
    """``HUBWEB_BODY_TIMEOUT``: seconds for a whole request body to arrive (default 10).

    :raises ValueError: when it is not a positive number (the worker refuses to start).
    """
    value = float(os.environ.get("HUBWEB_BODY_TIMEOUT", "10"))
    if not value > 0:
        raise ValueError(f"HUBWEB_BODY_TIMEOUT must be a positive number of seconds: {value}")
    return value


def body_read_to_end(body) -> bool:
    """Whether the app read gunicorn's HTTP/1 request ``body`` (``wsgi.input``) to its end.

    Any other input (an HTTP/2 stream's) counts as read: it has no connection to close.
    """
    reader = getattr(body, "reader", None)
    if reader is None:
        return True
    if body.failed or body.buf.tell():
        return False
    if isinstance(reader, LengthReader):
        return reader.length == 0
    if isinstance(reader, ChunkedReader):
        return reader.parser is None and not reader.buf.tell()
    return False  # read until the client closes: the connection cannot be kept anyway


def _deadline_chunk(unreader, sock: socket.socket, deadline: float, worker):
    """``unreader.chunk`` with its ``recv()`` bounded by what is left until ``deadline``.

    A stopping ``worker`` (``max_requests`` reached, or a restart) accepts no new
    connection until its requests are done, and its replacement starts only
    once it has exited: a body still arriving then gets ``STOP_BODY_GRACE``
    more seconds, not the rest of its deadline. ``recv()`` waits at most that
    long at a time, so a stop is noticed.
    """
    plain = type(unreader).chunk

    def chunk(size_hint=None):
        nonlocal deadline
        while True:
            now = time.monotonic()
            if not worker.alive:
                deadline = min(deadline, now + STOP_BODY_GRACE)
            if now >= deadline:
                raise RequestTimeout()
            sock.settimeout(min(deadline - now, STOP_BODY_GRACE))
            try:
                return plain(unreader, size_hint)
            except TimeoutError:
                continue

    return chunk


def _closing_start_response(environ: dict, start_response):
    """Wrap ``start_response`` to close the connection after a reply that left body unread.

    gunicorn drops a ``Connection`` header set by the app (hop-by-hop, PEP 3333),
    so the reply is marked on gunicorn's response object (``start_response`` is
    its bound method) before its head is written.
    """

    def start(status, headers, exc_info=None):
        if not body_read_to_end(environ["wsgi.input"]):
            start_response.__self__.force_close()
        return start_response(status, headers, exc_info)

    return start


class ThreadWorker(gthread.ThreadWorker):
    """gunicorn's gthread worker with a body deadline and closes that never block."""

    def init_process(self):
        self.body_timeout = body_timeout()
        self.lingering: deque = deque()
        super().init_process()

    def load_wsgi(self):
        super().load_wsgi()
        app = self.wsgi
        self.wsgi = lambda environ, start: app(environ, _closing_start_response(environ, start))

    def handle_request(self, req, conn):
        unreader = conn.parser.unreader
        unreader.chunk = _deadline_chunk(unreader, conn.sock,
                                         time.monotonic() + self.body_timeout, self)
        try:
            return super().handle_request(req, conn)
        finally:
            del unreader.chunk
            try:
                conn.sock.settimeout(None)
            except OSError:
                pass

    def finish_request(self, conn, fs):
        if fs.cancelled() or fs.exception() is not None or fs.result() is not False:
            super().finish_request(conn, fs)
        else:
            self._linger(conn)

    def _linger(self, conn) -> None:
        """Half-close ``conn`` and leave it to the poller (runs on the main thread)."""
        try:
            conn.sock.shutdown(socket.SHUT_WR)
            conn.sock.setblocking(False)
            self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._drain, conn))
        except (OSError, ValueError, KeyError):
            self._close(conn)
            return
        conn.timeout = time.monotonic() + LINGER_SECONDS
        conn.lingered = 0
        self.lingering.append(conn)

    def _drain(self, conn, _sock) -> None:
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        conn.lingered += len(data)
        if not data or conn.lingered >= LINGER_BYTES:
            self.lingering.remove(conn)
            self._close(conn)

    def _close(self, conn) -> None:
        try:
            self.poller.unregister(conn.sock)
        except (OSError, ValueError, KeyError):
            pass
        self.nr_conns -= 1
        util.close(conn.sock)

    def murder_pending(self):
        """Also close lingering connections whose time is up (called every loop turn)."""
        super().murder_pending()
        now = time.monotonic()
        while self.lingering and self.lingering[0].timeout <= now:
            self._close(self.lingering.popleft())
