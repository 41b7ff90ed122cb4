"""Admission control for password hashing: a bounded number of argon2 checks at once.

Each argon2id hash or verification holds ``ARGON2_MEMORY_COST`` (64 MiB by
default, RFC 9106 low-memory profile) and about 100 ms of CPU (argon2-cffi,
p=4, on this project's 2-core machine). Unbounded, a burst of sign-ins takes
every thread of every worker, memory grows by 64 MiB per concurrent check, and
pages that hash nothing wait behind them. So, per process (a gunicorn worker):

- at most ``PASSWORD_CHECKS`` (N) checks run at once;
- at most ``PASSWORD_QUEUE`` (Q) more wait, each at most ``PASSWORD_WAIT`` (W)
  seconds, first come first served;
- beyond that, or past the wait, :class:`Busy` is raised *before* hashing: the
  web layer answers 503 with ``Retry-After: RETRY_AFTER`` and a calm message
  (RFC 9110 section 15.6.4 "503 Service Unavailable", section 10.2.3
  "Retry-After"), and nothing is written (:mod:`hubweb.errors`).

The checks run in a small pool of threads per process, at most N, whose Linux
niceness is raised once at creation (``PASSWORD_NICENESS``, default 10; per
thread on Linux, ``setpriority(2)`` with a thread id; argon2's own lane
threads, created by the pool thread, inherit it). A page request, at niceness
0, then preempts hashing when both want a core: measured in ``make load``
(bench/burst.py). argon2-cffi releases the GIL while hashing.

Defaults (:func:`default_checks`, :func:`default_queue`), so that the waiting
and running checks leave at least one of the worker's ``HUBWEB_THREADS`` gthread
threads to pages::

    N = max(1, min(threads - 1, ceil(2 x cores / workers),
                   floor(memory budget / hash memory / workers)))
    Q = max(0, threads - 1 - N)
    W = 2 seconds

with ``cores`` the CPUs this process may run on, ``workers`` gunicorn's
``WEB_CONCURRENCY`` (default 2 per core, gunicorn.conf.py), ``threads``
``HUBWEB_THREADS`` (default 4) and the memory budget half of ``MemAvailable``
(/proc/meminfo) at start-up. On 2 cores with 4 workers of 4 threads: N = 1,
Q = 2, i.e. 4 checks at once per server (2 per core: more adds memory, not
throughput) and a worker's peak memory base + 1 x 64 MiB.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

#: Seconds a refused request is told to wait (``Retry-After``): "a few seconds".
RETRY_AFTER = 5
#: The default ``PASSWORD_WAIT``, in seconds.
DEFAULT_WAIT = 2.0
#: The default ``PASSWORD_NICENESS`` of the hashing threads (0: hash in the request thread).
DEFAULT_NICENESS = 10
#: Share of ``MemAvailable`` the default N may fill with hashes.
MEMORY_SHARE = 0.5


class Busy(Exception):
    """Too many password checks already run or wait in this process; nothing was hashed.

    :ivar retry_after: seconds the client is told to wait (``Retry-After``).
    """

    def __init__(self, retry_after: int = RETRY_AFTER):
        super().__init__("password checks are at capacity")
        self.retry_after = retry_after


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _mem_available_mib() -> int | None:
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, "")))
    except ValueError:
        return default


def default_checks(*, cores: int | None = None, workers: int | None = None,
                   threads: int | None = None, available_mib: int | None = None,
                   hash_mib: float = 64) -> int:
    """The default N: checks at once per process (formula in the module docstring).

    :param cores: CPUs this process may use (default: its affinity mask).
    :param workers: processes per server (default: ``WEB_CONCURRENCY``, else 2 x cores,
        as gunicorn.conf.py).
    :param threads: request threads per process (default: ``HUBWEB_THREADS``, else 4).
    :param available_mib: memory available, MiB (default: ``MemAvailable``; unknown:
        no memory bound).
    :param hash_mib: memory of one hash, MiB (``ARGON2_MEMORY_COST`` / 1024).
    :return: a whole number, at least 1.
    """
    cores = cores or _cores()
    workers = workers or _env_int("WEB_CONCURRENCY", 2 * cores)
    threads = threads or _env_int("HUBWEB_THREADS", 4)
    if available_mib is None:
        available_mib = _mem_available_mib()
    bounds = [threads - 1, math.ceil(2 * cores / workers)]
    if available_mib is not None:
        bounds.append(int(available_mib * MEMORY_SHARE / max(hash_mib, 1) / workers))
    return max(1, min(bounds))


def default_queue(checks: int, threads: int | None = None) -> int:
    """The default Q: the threads left, after N and one for pages, may wait."""
    threads = threads or _env_int("HUBWEB_THREADS", 4)
    return max(0, threads - 1 - checks)


def _lower_priority(niceness: int) -> None:
    """Raise this thread's niceness (Linux: per thread); ignored where not allowed."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), niceness)
    except (AttributeError, OSError):
        pass


class Gate:
    """At most ``checks`` calls at once, ``queue`` more waiting ``wait`` seconds each.

    Thread-safe; one per app (per process). Fork-safe: the thread pool is made
    lazily in the process that first uses it.

    :param checks: N, at least 1.
    :param queue: Q, at least 0.
    :param wait: W, seconds, above 0.
    :param niceness: niceness of the pool's threads (1..19); 0 runs the call in
        the caller's thread.
    """

    def __init__(self, checks: int, queue: int, wait: float, niceness: int = DEFAULT_NICENESS):
        self.checks, self.queue, self.wait, self.niceness = checks, queue, wait, niceness
        self._cond = threading.Condition()
        self._running = 0
        self._waiting = 0
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid: int | None = None

    @property
    def running(self) -> int:
        """Calls admitted and not yet finished."""
        return self._running

    @property
    def waiting(self) -> int:
        """Calls in the queue."""
        return self._waiting

    def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call ``fn(*args)`` once admitted; return its result or raise its exception.

        :raises Busy: N calls run and Q wait already, or the wait passed W
            seconds; ``fn`` was not called.
        """
        self._enter()
        try:
            if self.niceness <= 0:
                return fn(*args)
            return self._executor().submit(fn, *args).result()
        finally:
            self._leave()

    def _enter(self) -> None:
        with self._cond:
            if self._running < self.checks and self._waiting == 0:
                self._running += 1
                return
            if self._waiting >= self.queue:
                raise Busy()
            self._waiting += 1
            try:
                deadline = time.monotonic() + self.wait
                while self._running >= self.checks:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise Busy()
                    self._cond.wait(left)
                self._running += 1
            finally:
                self._waiting -= 1

    def _leave(self) -> None:
        with self._cond:
            self._running -= 1
            self._cond.notify()

    def _executor(self) -> ThreadPoolExecutor:
        pid = os.getpid()
        if self._pool is None or self._pool_pid != pid:
            with self._cond:
                if self._pool is None or self._pool_pid != pid:
                    self._pool = ThreadPoolExecutor(
                        max_workers=min(self.checks, 64), thread_name_prefix="hubweb-hash",
                        initializer=_lower_priority, initargs=(self.niceness,))
                    self._pool_pid = pid
        return self._pool


def init_app(app) -> None:
    """Build the app's :class:`Gate` from the validated ``PASSWORD_*`` settings."""
    cfg = app.config
    app.extensions["hubweb.password_gate"] = Gate(
        cfg["PASSWORD_CHECKS"], cfg["PASSWORD_QUEUE"], cfg["PASSWORD_WAIT"],
        cfg["PASSWORD_NICENESS"])
