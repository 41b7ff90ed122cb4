"""Real gunicorn servers for the scale-out and fault tests, and a browser for them.

:class:`Server` runs ``gunicorn -c gunicorn.conf.py wsgi:app`` as a subprocess
(its own process group, so teardown ends its workers too) on a free port,
configured by ``HUBWEB_*`` variables as an operator would. :class:`Browser`
speaks HTTP with the standard library and one cookie jar: cookies ignore the
port, so like a browser behind a load balancer it sends the same session
cookie to every server on 127.0.0.1.
"""

from __future__ import annotations

import html
import http.cookiejar
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.database import PG_ADMIN_URL

ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "scale-out-secret-key-shared-by-every-server"
ENCRYPTION_KEYS = ["k2pGmHc1bq2Vb0Ij2d3LhS2Jbm0bXy6Vq8n2d3tqPaE="]
REDIS_URL = os.environ.get("HUBWEB_TEST_LIVE_REDIS", "redis://127.0.0.1:6379/14")


def require(problem: str | None) -> None:
    """Skip for a missing service, except on CI (``CI=true``), where it is a failure."""
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)


def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used, or ``None``."""
    engine = sa.create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return None
    except sa.exc.OperationalError as exc:
        return f"PostgreSQL unreachable at {PG_ADMIN_URL}: {str(exc.orig).strip()[:200]}"
    finally:
        engine.dispose()


def redis_problem(url: str = REDIS_URL) -> str | None:
    """Why Redis cannot be used, or ``None``."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3).ping()
        return None
    except redis.RedisError as exc:
        return f"Redis unreachable at {url}: {exc}"


def delete_redis_keys(prefix: str, url: str = REDIS_URL) -> None:
    """Delete the rate-limit keys a test run stored under ``prefix``."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        keys = list(client.scan_iter(match=f"*{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    except redis.RedisError:
        pass


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def migrate(database_url: str) -> None:
    """``flask --app wsgi db upgrade``, as on a deploy."""
    env = {**os.environ, "HUBWEB_DATABASE_URL": database_url,
           "HUBWEB_SECRET_KEY": SECRET_KEY, "HUBWEB_ENCRYPTION_KEYS": json.dumps(ENCRYPTION_KEYS)}
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
                   cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)


def base_env(database_url: str, **settings) -> dict:
    """The environment of an app server: PostgreSQL, console backends, cheap argon2."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUBWEB_")}
    env.update({
        "HUBWEB_DATABASE_URL": database_url,
        "HUBWEB_SECRET_KEY": SECRET_KEY,
        "HUBWEB_ENCRYPTION_KEYS": json.dumps(ENCRYPTION_KEYS),
        "HUBWEB_MAIL_BACKEND": "console",
        "HUBWEB_SMS_BACKEND": "console",
        "HUBWEB_ARGON2_TIME_COST": "1",
        "HUBWEB_ARGON2_MEMORY_COST": "1024",
        "HUBWEB_ARGON2_PARALLELISM": "1",
        "WEB_CONCURRENCY": "1",
    })
    env.update({k if k == "WEB_CONCURRENCY" else f"HUBWEB_{k}": str(v)
                for k, v in settings.items()})
    return env


class Server:
    """One gunicorn server (``gunicorn -c gunicorn.conf.py wsgi:app``) on a free port."""

    def __init__(self, env: dict, log_path: Path, port: int | None = None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**env, "HUBWEB_BIND": f"127.0.0.1:{self.port}"}
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> Server:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
            cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + "/sign-in", timeout=2) as reply:
                    if reply.status == 200:
                        return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer in {timeout} s: {self.log()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM the server's process group (arbiter and workers); SIGKILL if it lingers."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
            except ProcessLookupError:
                pass
        if getattr(self, "_log", None):
            self._log.close()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


class Reply:
    def __init__(self, status: int, headers, body: bytes, elapsed: float):
        self.status, self.headers, self.elapsed = status, headers, elapsed
        self.html = body.decode("utf-8", "replace")

    @property
    def text(self) -> str:
        """The body with tags dropped, entities decoded and white space made one space."""
        return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", self.html)))

    @property
    def csrf(self) -> str:
        return re.search(r'name="csrf_token" value="([^"]+)"', self.html)[1]

    def __repr__(self) -> str:
        return f"<Reply {self.status} {self.text[:300]!r}>"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """One person's browser: a cookie jar shared by every server, no automatic redirects.

    :param forwarded_for: sent as ``X-Forwarded-For``, the client address a
        trusted proxy would report (servers run with ``HUBWEB_PROXY_FIX=1``).
    """

    def __init__(self, forwarded_for: str | None = None):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())
        self.headers = {"User-Agent": "hubweb-live-test/1"}
        if forwarded_for:
            self.headers["X-Forwarded-For"] = forwarded_for
        self.token: str | None = None

    def request(self, server, path: str, data: dict | None = None, timeout: float = 30,
                follow: bool = True) -> Reply:
        """GET (or POST ``data`` with the last CSRF token); follow 303s on the same server."""
        base = server if isinstance(server, str) else server.url
        body = None
        if data is not None:
            body = urllib.parse.urlencode({"csrf_token": self.token, **data}).encode()
        req = urllib.request.Request(base + path, data=body, headers=self.headers)
        start = time.monotonic()
        try:
            with self.opener.open(req, timeout=timeout) as resp:
                reply = Reply(resp.status, resp.headers, resp.read(), time.monotonic() - start)
        except urllib.error.HTTPError as exc:
            reply = Reply(exc.code, exc.headers, exc.read(), time.monotonic() - start)
            exc.close()
        if follow and reply.status in (301, 302, 303) and reply.headers.get("Location"):
            location = urllib.parse.urlsplit(reply.headers["Location"])
            target = location.path + (f"?{location.query}" if location.query else "")
            return self.request(server, target, timeout=timeout)
        if 'name="csrf_token"' in reply.html:
            self.token = reply.csrf
        return reply

    def get(self, server, path: str, **kw) -> Reply:
        return self.request(server, path, **kw)

    def post(self, server, path: str, data: dict | None = None, **kw) -> Reply:
        if self.token is None:
            self.get(server, "/sign-in")
        return self.request(server, path, data or {}, **kw)


def sms_code(server, phone: str) -> str:
    """The newest SMS code sent to ``phone``, read from the server's /dev/outbox page."""
    reader = Browser()
    page = reader.get(server, "/dev/outbox").html
    for article in re.findall(r"<article[^>]*data-channel=\"sms\"[^>]*>.*?</article>", page,
                              re.S):
        if f'data-to="{phone}"' in article:
            return re.search(r"@\S+ #(\d{6})", html.unescape(article))[1]
    raise AssertionError(f"no SMS to {phone} in the outbox")


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"
