"""What the benchmarks and the load test share: services, servers, statistics, output.

Servers are started by :class:`BenchServer`, the tests' ``Server``
(tests/support/servers.py) made able to serve another WSGI target (the bare
"hello" app), take extra gunicorn arguments and report its worker processes.
Databases are made and dropped with tests/support/database.py's helpers. These
are benchmarks, not tests: nothing here is collected by pytest.
"""

from __future__ import annotations

import os
import platform
import re
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The tests' helpers, imported the way the tests import them (the repository on the path).
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.accounts import PASSWORD  # noqa: E402
from tests.support.database import (  # noqa: E402
    PG_ADMIN_URL,
    create_pg_database,
    drop_pg_database,
)
from tests.support.servers import (  # noqa: E402
    ENCRYPTION_KEYS,
    SECRET_KEY,
    Server,
    base_env,
    delete_redis_keys,
    free_port,
    migrate,
    postgres_problem,
    redis_problem,
)

#: Re-exported from the tests' helpers for the benchmark modules.
__all__ = [
    "ENCRYPTION_KEYS", "PASSWORD", "PG_ADMIN_URL", "SECRET_KEY", "base_env",
    "create_pg_database", "delete_redis_keys", "drop_pg_database", "free_port", "migrate",
]

#: ``BENCH_QUICK=1``: smaller sizes and fewer repetitions, for development.
QUICK = os.environ.get("BENCH_QUICK") == "1"
#: The Redis database the benchmarks and the load test use (keys under a unique prefix).
REDIS_URL = os.environ.get("HUBWEB_BENCH_REDIS", "redis://127.0.0.1:6379/13")
LOG_DIR = ROOT / "artifacts" / "bench"
CHEAP_ARGON2 = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024, "ARGON2_PARALLELISM": 1}


def need_services() -> None:
    """Stop with a clear message when PostgreSQL or Redis does not answer."""
    problems = [p for p in (postgres_problem(), redis_problem(REDIS_URL)) if p]
    if problems:
        sys.exit("\n".join(problems) + "\n(bash bench/services.sh starts them)")


def median(values) -> float:
    return statistics.median(values)


def percentile(values, q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation; NaN when empty."""
    data = sorted(values)
    if not data:
        return float("nan")
    pos = (len(data) - 1) * q
    low = int(pos)
    high = min(low + 1, len(data) - 1)
    return data[low] + (data[high] - data[low]) * (pos - low)


def server_env(database_url: str, *, argon2: str = "default", **settings) -> dict:
    """An app server's environment: PostgreSQL, Redis limiter, console backends.

    :param argon2: ``default`` (argon2-cffi's defaults: t=3, m=64 MiB, p=4, as in
        production) or ``cheap`` (t=1, m=1 MiB, p=1).
    :param settings: further ``HUBWEB_*`` settings without the prefix
        (``WEB_CONCURRENCY`` as is).
    """
    env = base_env(database_url)
    if argon2 == "default":
        for key in CHEAP_ARGON2:
            env.pop(f"HUBWEB_{key}", None)
    env.pop("WEB_CONCURRENCY", None)  # gunicorn.conf.py's default: 2 per core
    env["HUBWEB_RATELIMIT_STORAGE_URI"] = REDIS_URL
    env.update({k if k in ("WEB_CONCURRENCY",) else f"HUBWEB_{k}": str(v)
                for k, v in settings.items()})
    return env


class BenchServer(Server):
    """``gunicorn -c gunicorn.conf.py TARGET`` on a free port, ready when ``ready`` answers 200."""

    def __init__(self, env: dict, log_path: Path, target: str = "wsgi:app",
                 ready: str = "/sign-in", args: tuple[str, ...] = (),
                 config: Path | str = "gunicorn.conf.py", python: str = sys.executable,
                 cwd: Path = ROOT):
        """:param config: gunicorn's configuration file (relative to ``cwd``).
        :param python: the interpreter that runs gunicorn (another virtual environment's
            for the peer of figure 8). :param cwd: where gunicorn starts (imports ``target``).
        """
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.unlink(missing_ok=True)
        super().__init__(env, log_path)
        self.target, self.ready, self.args = target, ready, tuple(args)
        self.config, self.python, self.cwd = str(config), python, cwd

    def start(self, timeout: float = 60) -> BenchServer:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [self.python, "-m", "gunicorn", "-c", self.config, *self.args, self.target],
            cwd=self.cwd, env=self.env, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited: {self.log()[-3000:]}")
            try:
                with urllib.request.urlopen(self.url + self.ready, timeout=2) as reply:
                    if reply.status == 200 and len(self.worker_pids()) >= self.workers:
                        return self
            except (OSError, urllib.error.URLError):
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer in {timeout} s: {self.log()[-3000:]}")

    @property
    def workers(self) -> int:
        return int(self.env.get("WEB_CONCURRENCY") or 2 * (os.cpu_count() or 1))

    def worker_pids(self) -> list[int]:
        """The worker processes (children of the gunicorn arbiter)."""
        if self.proc is None:
            return []
        path = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        try:
            return [int(p) for p in path.read_text().split()]
        except OSError:
            return []

    def warm(self, path: str = "/sign-in", count: int | None = None) -> None:
        """A few GETs so every worker has imported and built the app."""
        for _ in range(count or self.workers * 4):
            with urllib.request.urlopen(self.url + path, timeout=30) as reply:
                reply.read()


def machine() -> dict:
    """The machine the figures were measured on."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_kib = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    except OSError:
        pass
    pg = "unknown"
    try:
        import sqlalchemy as sa

        engine = sa.create_engine(PG_ADMIN_URL)
        with engine.connect() as conn:
            pg = conn.execute(sa.text("SHOW server_version")).scalar()
        engine.dispose()
    except Exception:  # noqa: BLE001 - informational only
        pass
    from importlib.metadata import version

    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "postgresql": pg,
        "argon2_cffi": version("argon2-cffi"),
        "kernel": platform.release(),
        "load_average_at_start": os.getloadavg()[0],
    }


def clean_environment() -> None:
    """Drop the caller's ``HUBWEB_*`` settings so every run starts from the same config.

    ``HUBWEB_TEST_*`` and ``HUBWEB_BENCH_*`` (where PostgreSQL and Redis are) stay.
    """
    for key in list(os.environ):
        if key.startswith("HUBWEB_") and not key.startswith(("HUBWEB_TEST_", "HUBWEB_BENCH_")):
            del os.environ[key]


def make_app(database_url: str, key_prefix: str, **config):
    """An in-process app as production configures it: PostgreSQL, Redis limiter.

    The per-IP limits are raised (every request here comes from 127.0.0.1) but
    the limiter still counts each request in Redis, as in production.
    """
    from hubweb import create_app

    settings = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "ENCRYPTION_KEYS": ENCRYPTION_KEYS,
        "MAIL_BACKEND": "console",
        "SMS_BACKEND": "console",
        "RATELIMIT_STORAGE_URI": REDIS_URL,
        "RATELIMIT_KEY_PREFIX": key_prefix,
        **{f"RATELIMIT_{n}": "1000000 per minute" for n in ("SIGN_IN", "REGISTER", "FORGOT")},
        **config,
    }
    return create_app(settings)


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(response) -> str:
    return CSRF.search(response.get_data(as_text=True))[1]


def sign_in(client, email: str, password: str = PASSWORD):
    """GET /sign-in (not timed), then return ``(seconds, response)`` of the POST."""
    token = csrf_of(client.get("/sign-in"))
    start = time.perf_counter()
    reply = client.post("/sign-in", data={"csrf_token": token, "email": email,
                                          "password": password})
    return time.perf_counter() - start, reply


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


class SmsGateway:
    """A fake SMS gateway on 127.0.0.1 for the ``http`` SMS backend: keeps what it gets.

    Lets a benchmark run the app with production backends (no development
    outbox, so no development banner in its pages) and still read the codes.
    """

    def __init__(self):
        import http.server
        import json
        import threading

        self.messages: list[dict] = []
        gateway = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                length = int(self.headers.get("Content-Length") or 0)
                gateway.messages.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def last_code(self, to: str | None = None) -> str:
        for message in reversed(self.messages):
            if to is None or message["to"] == to:
                return re.search(r"#(\d{6})\s*\Z", message["body"])[1]
        raise LookupError(f"no SMS to {to}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


OTHER_UAS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
)


def make_account(app, address: str, *, shape: str = "typical", sms_phone: str | None = None,
                 user_agent: str | None = None) -> int:
    """Create a confirmed account through the app's own code; return its id.

    ``typical``: an account in use, whose "Recent security activity" is full
    (19 older events plus "account created": 20, the most the page lists) with
    2 other signed-in sessions (3 once signed in). ``new``: just the account.
    ``sms_phone`` turns SMS 2SV on with that number.
    """
    import hashlib
    import secrets
    from datetime import timedelta

    from hubweb import accounts, events
    from hubweb.extensions import db
    from hubweb.models import SecurityEvent, UserSession
    from hubweb.timeutil import utcnow
    from hubweb.twostep import smscodes

    from .seed import UA

    with app.test_request_context(headers={"User-Agent": user_agent or UA}):
        user = accounts.create_user(address, PASSWORD, confirmed=True)
        if sms_phone:
            smscodes.enable(user, sms_phone)
        events.record(user, "account_created")
        if shape == "typical":
            now = utcnow()
            kinds = ("sign_in", "sign_out", "sign_in", "sign_in_failed", "sign_in")
            for i in range(19):
                db.session.add(SecurityEvent(
                    user_id=user.id, kind=kinds[i % len(kinds)], ip=f"192.0.2.{i + 1}",
                    user_agent=OTHER_UAS[i % 2], created_at=now - timedelta(days=20 - i)))
            for ua in OTHER_UAS:
                db.session.add(UserSession(
                    id=hashlib.sha256(secrets.token_bytes(32)).hexdigest(), user_id=user.id,
                    state="signed_in", data="{}", ip="192.0.2.200", user_agent=ua,
                    created_at=now - timedelta(hours=3), last_seen_at=now - timedelta(hours=1)))
        db.session.commit()
        return user.id
