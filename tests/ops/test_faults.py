"""Faults against real gunicorn servers: PostgreSQL restarted, Redis down or slow,
SMS gateway and SMTP server hanging.

**PostgreSQL restarted during traffic.** A few threads keep requesting pages
and changing a password while PostgreSQL goes away and comes back. Requests in
flight may fail, but only with the clear 503 page (never a 500, never a
signed-in person treated as signed out); requests after it succeed without
restarting the app; and the account is never half-changed: the password that
works, the ``password_changed`` events and the ended sessions agree.

Two ways to take PostgreSQL away, the same checks for both:

- ``restart``: a real ``pg_ctl restart -m fast`` of a *private* PostgreSQL
  instance this test starts (``initdb`` into a temporary directory, its own
  port). Restarting the shared cluster at 127.0.0.1:5432 would break every
  other test running against it at the same moment (xdist workers, other
  people's runs), so it is never restarted.
- ``terminate``: on the shared cluster, only this test's database: new
  connections refused (``ALLOW_CONNECTIONS false``) and every backend ended
  with ``pg_terminate_backend`` for a second, which is what a restart looks
  like to the app.

**Redis down or slow.** ``HUBWEB_RATELIMIT_FAIL=open``: requests pass and the
limits hold per process, in memory. ``closed``: the limited endpoints answer
503 with a clear message, the rest of the portal works.

**SMS gateway and SMTP server hanging.** tests/twostep/test_sms_gateway.py and
tests/ops/test_mail.py check one request at a time with Flask's test client; here
more requests than a worker has threads hit a real server at once. An SMS
still ends within the timeout (plus the wait for a thread), with a clear
message and nothing changed; email is queued (hubweb.mailqueue), so
registration and recovery answer as usual and wait for no SMTP server; and the
server keeps answering other pages.

**SMTP down, then up.** Two servers' in-process mail senders share the queue:
every email queued during the outage is delivered exactly once after it.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.accounts import PASSWORD
from tests.support.database import PG_ADMIN_URL, create_pg_database, drop_pg_database
from tests.support.servers import (
    ENCRYPTION_KEYS,
    SECRET_KEY,
    Browser,
    Server,
    base_env,
    free_port,
    migrate,
    postgres_problem,
    require,
    unique,
)

pytestmark = pytest.mark.postgres

UNAVAILABLE = "The service is briefly unavailable. Try again in a moment."
NEW_PASSWORD = "quiet violin harbour lantern 7"
PG_BIN = Path(os.environ.get("HUBWEB_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))


# --- fixtures: databases, servers, a TCP black hole ------------------------------------


@pytest.fixture(scope="module")
def shared_db():
    """One migrated database on the shared cluster for this module's servers."""
    require(postgres_problem())
    url = create_pg_database()
    try:
        migrate(url)
        yield url
    finally:
        drop_pg_database(url)


@pytest.fixture
def servers(tmp_path):
    """Start gunicorn servers; every one is stopped at the end of the test."""
    started: list[Server] = []

    def start(database_url: str, **settings) -> Server:
        settings.setdefault("RATELIMIT_STORAGE_URI", "memory://")
        settings.setdefault("PROXY_FIX", 1)
        server = Server(base_env(database_url, **settings), tmp_path / f"server{len(started)}.log")
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


class BlackHole:
    """A TCP server that accepts connections and never answers: a hung SMTP server,
    SMS gateway or Redis."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.accepted = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            self.held.append(conn)

    def close(self):
        self._stop.set()
        self._thread.join(2)
        for conn in self.held:
            conn.close()
        self.sock.close()


@pytest.fixture
def black_hole():
    hole = BlackHole()
    yield hole
    hole.close()


def closed_port() -> int:
    return free_port()  # nothing listens there once the probe socket is closed


def make_user(database_url: str, email: str | None = None) -> tuple[str, int]:
    """A confirmed account without 2SV, made as an operator would."""
    from hubweb import accounts, create_app
    from hubweb.extensions import db

    email = email or unique("user-") + "@example.com"
    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": SECRET_KEY,
                      "ENCRYPTION_KEYS": ENCRYPTION_KEYS, "ARGON2_TIME_COST": 1,
                      "ARGON2_MEMORY_COST": 1024, "ARGON2_PARALLELISM": 1})
    with app.app_context():
        user = accounts.create_user(email, PASSWORD, confirmed=True)
        db.session.commit()
        user_id = user.id
        db.engine.dispose()
    return email, user_id


def query(database_url: str, sql: str, **params):
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()
    finally:
        engine.dispose()


def signed_in(server, email, password=PASSWORD, ip="192.0.2.10") -> Browser:
    browser = Browser(forwarded_for=ip)
    browser.get(server, "/sign-in")
    reply = browser.post(server, "/sign-in", {"email": email, "password": password})
    assert reply.status == 200 and email in reply.text, reply
    return browser


# --- PostgreSQL restarted during traffic -----------------------------------------------


class PrivatePostgres:
    """A throwaway PostgreSQL instance (initdb, own port, trust auth) that may be restarted."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="hubweb-pg-"))
        self.data, self.log = self.dir / "data", self.dir / "postgres.log"
        self.port = free_port()
        self.admin_url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        self.prefix = []
        if os.geteuid() == 0:  # initdb refuses root: run it as the postgres user
            shutil.chown(self.dir, "postgres")
            self.prefix = ["runuser", "-u", "postgres", "--"]

    def _ctl(self, *args, timeout=60):
        subprocess.run([*self.prefix, *args], check=True, capture_output=True, timeout=timeout)

    def start(self) -> PrivatePostgres:
        self._ctl(str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
                  "--no-sync", "-E", "UTF8")
        self._pg_ctl("start")
        return self

    def _pg_ctl(self, action, *extra):
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                "-c fsync=off -c max_connections=60")
        self._ctl(str(PG_BIN / "pg_ctl"), action, "-D", str(self.data), "-l", str(self.log),
                  "-w", "-o", opts, *extra)

    def restart(self):
        self._pg_ctl("restart", "-m", "fast")

    def stop(self):
        try:
            self._ctl(str(PG_BIN / "pg_ctl"), "stop", "-D", str(self.data), "-m", "immediate",
                      "-w")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


def _private_postgres_problem() -> str | None:
    if not (PG_BIN / "initdb").exists():
        return f"no PostgreSQL server binaries in {PG_BIN} (set HUBWEB_TEST_PG_BIN)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: cannot run initdb as postgres"
    return None


@pytest.fixture(scope="module", params=["restart", "terminate"])
def outage_db(request):
    """``(database_url, take_down)``: a migrated database and how to take PostgreSQL away."""
    if request.param == "restart":
        require(_private_postgres_problem())
        pg = PrivatePostgres()
        try:
            pg.start()
            url = pg.admin_url.rsplit("/", 1)[0] + "/hubweb"
            engine = sa.create_engine(pg.admin_url, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.execute(sa.text("CREATE DATABASE hubweb"))
            engine.dispose()
            migrate(url)
            yield url, pg.restart
        finally:
            pg.stop()
        return
    require(postgres_problem())
    url = create_pg_database()
    name = url.rsplit("/", 1)[1]

    def terminate():
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false'))
            conn.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
            time.sleep(1.0)
            conn.execute(sa.text(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true'))
        admin.dispose()

    try:
        migrate(url)
        yield url, terminate
    finally:
        drop_pg_database(url)


class Traffic:
    """Requests from a few threads until told to stop, each one recorded."""

    def __init__(self):
        self.records: list[dict] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def record(self, kind, started, reply):
        with self.lock:
            self.records.append({"kind": kind, "start": started, "end": time.monotonic(),
                                 "status": reply.status, "text": reply.text,
                                 "location": reply.headers.get("Location", "")})

    def count(self, after: float = 0.0) -> int:
        with self.lock:
            return sum(1 for r in self.records if r["start"] > after)


def _reader(traffic: Traffic, server, browser: Browser):
    """Alternately the signed-in settings page and the (anonymous) sign-in page."""
    anonymous = Browser(forwarded_for="192.0.2.99")
    while not traffic.stop.is_set():
        started = time.monotonic()
        traffic.record("settings", started,
                       browser.get(server, "/settings/account", follow=False, timeout=20))
        started = time.monotonic()
        traffic.record("sign_in_page", started,
                       anonymous.get(server, "/sign-in", follow=False, timeout=20))


def _changer(traffic: Traffic, server, browser: Browser, outcome: Counter):
    """Change the password back and forth; count what the server said."""
    passwords = [PASSWORD, NEW_PASSWORD]
    current = 0
    browser.get(server, "/settings/account")
    while not traffic.stop.is_set():
        started = time.monotonic()
        reply = browser.post(server, "/settings/password",
                             {"password": passwords[current],
                              "new_password": passwords[1 - current]}, follow=False, timeout=20)
        traffic.record("change_password", started, reply)
        if reply.status == 303 and reply.headers["Location"].endswith("/settings/account"):
            outcome["changed"] += 1  # post/redirect/get: the flashed message follows
            current = 1 - current
            browser.get(server, "/settings/account", follow=False, timeout=20)
        elif reply.status in (500, 503):
            outcome["unknown"] += 1  # it may or may not have committed
            browser.get(server, "/settings/account", follow=False, timeout=20)
        elif reply.status == 422 and "not your current password" in reply.text:
            outcome["was_changed"] += 1  # an earlier 503 had committed after all
            current = 1 - current
        else:
            outcome[f"other {reply.status}"] += 1


class OutageRun:
    """What happened while PostgreSQL went away (see :func:`outage`)."""

    url: str
    server: Server
    records: list[dict]
    outcome: Counter
    down_at: float
    up_at: float
    changer: Browser
    witness: Browser
    changer_email: str
    changer_id: int
    summary: str


@pytest.fixture(scope="module")
def outage(outage_db, tmp_path_factory):
    """Run the traffic, take PostgreSQL away once in the middle, keep the server up."""
    url, take_down = outage_db
    run = OutageRun()
    run.url = url
    run.server = Server(base_env(url, RATELIMIT_STORAGE_URI="memory://", PROXY_FIX=1,
                                 DB_POOL_SIZE=5, DB_CONNECT_TIMEOUT=2),
                        tmp_path_factory.mktemp("outage") / "server.log").start()
    try:
        server = run.server
        run.changer_email, run.changer_id = make_user(url)
        reader_email, _ = make_user(url)
        run.changer = signed_in(server, run.changer_email, ip="192.0.2.1")
        run.witness = signed_in(server, run.changer_email, ip="192.0.2.2")  # ended by a change
        readers = [signed_in(server, reader_email, ip=f"192.0.2.{10 + i}") for i in range(3)]

        traffic, run.outcome = Traffic(), Counter()
        threads = [threading.Thread(target=_reader, args=(traffic, server, b)) for b in readers]
        threads.append(threading.Thread(target=_changer,
                                        args=(traffic, server, run.changer, run.outcome)))
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        try:
            while traffic.count() < 40 and time.monotonic() < deadline:
                time.sleep(0.02)
            run.down_at = time.monotonic()
            take_down()
            run.up_at = time.monotonic()
            # Go on until 200 requests in all and 60 begun a second after the outage.
            while time.monotonic() < deadline and (
                traffic.count() < 200 or traffic.count(after=run.up_at + 1.0) < 60
            ):
                time.sleep(0.05)
        finally:
            traffic.stop.set()
            for thread in threads:
                thread.join(30)
        run.records = traffic.records
        statuses = Counter((r["kind"], r["status"]) for r in run.records)
        run.summary = (f"{len(run.records)} requests, PostgreSQL away "
                       f"{run.up_at - run.down_at:.1f} s, {dict(sorted(statuses.items()))}, "
                       f"password changes {dict(run.outcome)}")
        print(run.summary)
        yield run
    finally:
        run.server.stop()


EXPECTED = {"settings": {200, 503}, "sign_in_page": {200, 503},
            "change_password": {303, 422, 503}}


def test_outage_requests_in_flight_get_the_503_page(outage):
    assert len(outage.records) >= 200, outage.summary
    unexpected = [r for r in outage.records
                  if r["status"] not in EXPECTED[r["kind"]] | {500}]  # 500: the next test
    assert not unexpected, (unexpected[:3], outage.summary)
    for r in outage.records:
        if r["status"] == 503:
            assert UNAVAILABLE in r["text"], r
            assert r["start"] < outage.up_at + 1.0, ("503 after PostgreSQL was back", r)
    assert any(r["status"] == 503 for r in outage.records), outage.summary


def test_outage_never_answers_500(outage):
    failures = [r for r in outage.records if r["status"] == 500]
    assert not failures, (len(failures), outage.summary)


def test_after_the_outage_requests_succeed_without_restarting_the_app(outage):
    after = [r for r in outage.records if r["start"] > outage.up_at + 1.0]
    assert len(after) >= 60, outage.summary
    assert all(r["status"] in (200, 303, 422) for r in after), outage.summary
    assert outage.server.proc.poll() is None  # the same server, never restarted
    assert outage.outcome["changed"] >= 1, outage.summary
    assert not [k for k in outage.outcome if k.startswith("other")], outage.summary


def test_outage_leaves_no_account_half_changed(outage):
    """The stored password is the one the recorded changes say; each change ended the
    other sessions, and the changing session survived."""
    events = query(outage.url, "SELECT count(*) FROM security_events "
                               "WHERE user_id = :id AND kind = 'password_changed'",
                   id=outage.changer_id)
    known = outage.outcome["changed"]
    assert known <= events <= known + outage.outcome["unknown"], (events, outage.summary)
    now_valid = [PASSWORD, NEW_PASSWORD][events % 2]
    stale = [PASSWORD, NEW_PASSWORD][1 - events % 2]
    server = outage.server
    probe = Browser(forwarded_for="192.0.2.50")
    probe.get(server, "/sign-in")
    reply = probe.post(server, "/sign-in", {"email": outage.changer_email, "password": stale})
    assert reply.status == 422
    signed_in(server, outage.changer_email, now_valid, ip="192.0.2.51")
    assert outage.changer.get(server, "/settings/account", follow=False).status == 200
    reply = outage.witness.get(server, "/settings/account", follow=False)
    assert reply.status in (302, 303) and "/sign-in" in reply.headers["Location"]


# --- Redis down or slow ------------------------------------------------------------------


def test_redis_down_fail_open_keeps_limits_per_process(shared_db, servers):
    email, _ = make_user(shared_db)
    server = servers(shared_db, RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{closed_port()}/0",
                     RATELIMIT_FAIL="open", RATELIMIT_SIGN_IN="3 per minute")
    browser = signed_in(server, email, ip="192.0.2.20")
    assert browser.get(server, "/settings/account").status == 200

    attacker = Browser(forwarded_for="192.0.2.21")
    attacker.get(server, "/sign-in")
    statuses = [attacker.post(server, "/sign-in",
                              {"email": email, "password": "wrong password 123"}).status
                for _ in range(4)]
    assert statuses == [422, 422, 422, 429]  # counted in the process's memory
    assert "Rate limit storage unreachable" in server.log()


def test_redis_down_fail_closed_refuses_only_the_limited_endpoints(shared_db, servers):
    email, _ = make_user(shared_db)
    dead = f"redis://127.0.0.1:{closed_port()}/0"
    opened = servers(shared_db, RATELIMIT_STORAGE_URI=dead, RATELIMIT_FAIL="open")
    closed = servers(shared_db, RATELIMIT_STORAGE_URI=dead, RATELIMIT_FAIL="closed")
    browser = signed_in(opened, email, ip="192.0.2.30")  # a session from before

    visitor = Browser(forwarded_for="192.0.2.31")
    reply = visitor.get(closed, "/sign-in")
    assert reply.status == 200 and 'name="password"' in reply.html
    for path, data in [("/sign-in", {"email": email, "password": PASSWORD}),
                       ("/register", {"email": unique("x") + "@example.com",
                                      "password": PASSWORD}),
                       ("/forgot-password", {"email": email})]:
        started = time.monotonic()
        reply = visitor.post(closed, path, data, follow=False)
        assert reply.status == 503 and UNAVAILABLE in reply.text, (path, reply)
        assert reply.headers["Retry-After"] == "30"
        assert time.monotonic() - started < 2

    # The rest of the portal works: settings, a password change, sign-out.
    reply = browser.get(closed, "/settings/account")
    assert reply.status == 200 and email in reply.text
    reply = browser.post(closed, "/settings/password",
                         {"password": PASSWORD, "new_password": NEW_PASSWORD})
    assert reply.status == 200 and "Your password has been changed" in reply.text
    reply = browser.post(closed, "/sign-out", follow=False)
    assert reply.status == 303 and reply.headers["Location"].endswith("/sign-in")


@pytest.mark.parametrize("mode", ["open", "closed"])
def test_slow_redis_costs_at_most_its_timeout(shared_db, servers, black_hole, mode):
    email, _ = make_user(shared_db)
    server = servers(shared_db, RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{black_hole.port}/0",
                     RATELIMIT_FAIL=mode, RATELIMIT_STORAGE_TIMEOUT=1)
    browser = Browser(forwarded_for="192.0.2.40")
    browser.get(server, "/sign-in")
    started = time.monotonic()
    reply = browser.post(server, "/sign-in", {"email": email, "password": PASSWORD},
                         follow=False)
    elapsed = time.monotonic() - started
    assert black_hole.accepted >= 1
    assert elapsed < 1 + 1.5, f"{elapsed:.1f} s with RATELIMIT_STORAGE_TIMEOUT=1"
    if mode == "open":
        assert reply.status == 303, reply
    else:
        assert reply.status == 503 and UNAVAILABLE in reply.text


# --- SMS gateway and SMTP server hanging, more requests than threads ---------------------


PARALLEL = 8  # two rounds of the 4 threads of the one gunicorn worker
TIMEOUT = 1


def test_hanging_sms_gateway_and_smtp_server_do_not_pile_up(shared_db, servers, black_hole):
    server = servers(shared_db, SMS_BACKEND="http",
                     SMS_HTTP_URL=f"http://127.0.0.1:{black_hole.port}/send",
                     SMS_HTTP_TIMEOUT=TIMEOUT, MAIL_BACKEND="smtp", MAIL_SERVER="127.0.0.1",
                     MAIL_PORT=black_hole.port, MAIL_TIMEOUT=TIMEOUT, THREADS=4,
                     RATELIMIT_FORGOT="100 per minute", RATELIMIT_REGISTER="100 per minute",
                     # Every registration of a round hashes a password: they may all
                     # wait their turn (admission control is not this test's rule).
                     PASSWORD_QUEUE=PARALLEL)
    users = [make_user(shared_db) for _ in range(PARALLEL)]
    browsers = []
    for i, (email, _) in enumerate(users):
        browser = signed_in(server, email, ip=f"192.0.2.{60 + i}")
        browser.post(server, "/settings/two-step/sms/start")
        reply = browser.post(server, "/settings/two-step/sms/password", {"password": PASSWORD})
        assert reply.status == 200 and "mobile number" in reply.text, reply
        browsers.append(browser)

    def set_phone(i):  # without JavaScript: the POST's 303 leads to the step's 503
        return browsers[i].post(server, "/settings/two-step/sms/phone",
                                {"phone": f"+44 7400 2000{i:02d}"})

    def forgot(i):
        visitor = Browser(forwarded_for=f"192.0.2.{80 + i}")
        visitor.get(server, "/forgot-password")
        return visitor.post(server, "/forgot-password", {"email": users[i][0]}, follow=False)

    def register(i):
        visitor = Browser(forwarded_for=f"192.0.2.{100 + i}")
        visitor.get(server, "/register")
        return visitor.post(server, "/register", {"email": f"new{i}-{unique('')}@example.com",
                                                  "password": PASSWORD}, follow=False)

    bound = 2 * TIMEOUT + 2.0  # two rounds of the timeout, and a margin
    for action, status, message in [
        (set_phone, 503, "We could not send the text message. Nothing was changed."),
        (forgot, 200, "If an account uses"),
        (register, 200, "We sent a confirmation link to"),
    ]:
        with ThreadPoolExecutor(PARALLEL) as pool:
            futures = [pool.submit(action, i) for i in range(PARALLEL)]
            time.sleep(0.3)
            # Meanwhile the server still answers, at worst once the hung requests
            # ahead of it have timed out.
            started = time.monotonic()
            probe = Browser().get(server, "/sign-in")
            probe_elapsed = time.monotonic() - started
            replies = [f.result() for f in futures]
        print(f"{action.__name__}: {PARALLEL} at once, slowest "
              f"{max(r.elapsed for r in replies):.2f} s, other page {probe_elapsed:.2f} s")
        assert probe.status == 200 and probe_elapsed < bound, (action, probe_elapsed)
        for reply in replies:
            assert reply.status == status and message in reply.text, (action.__name__, reply)
            assert reply.elapsed < bound, (action.__name__, reply.elapsed)

    ids = [user_id for _, user_id in users]
    assert query(shared_db, "SELECT count(*) FROM authenticators WHERE user_id = ANY(:ids)",
                 ids=ids) == 0
    assert query(shared_db, "SELECT count(*) FROM sms_codes WHERE user_id = ANY(:ids)",
                 ids=ids) == 0
    # The reset links and the new accounts were written with their queued emails.
    assert query(shared_db, "SELECT count(*) FROM email_tokens WHERE user_id = ANY(:ids)",
                 ids=ids) == PARALLEL
    assert query(shared_db, "SELECT count(*) FROM users WHERE email LIKE 'new%'") == PARALLEL
    queued = ("SELECT count(*) FROM mail_queue WHERE sent_at IS NULL "
              "AND (recipient LIKE 'new%' OR kind = 'reset_password')")
    assert query(shared_db, queued) == 2 * PARALLEL
    assert black_hole.accepted >= PARALLEL
    assert re.search(r"SMS to .* failed: SMS gateway timed out", server.log())


# --- SMTP down for a while, then up: the in-process senders of two servers --------------


def test_smtp_down_then_up_two_servers_deliver_every_queued_email_once(shared_db, servers):
    """Two gunicorn servers of two workers each: four in-process senders share the queue
    (``FOR UPDATE SKIP LOCKED``); every email queued during the outage goes exactly once."""
    from tests.support.mail import Collector, smtp_server

    port = free_port()
    mail = {"MAIL_BACKEND": "smtp", "MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port,
            "MAIL_TIMEOUT": 2, "WEB_CONCURRENCY": 2, "RATELIMIT_REGISTER": "100 per minute"}
    both = [servers(shared_db, **mail), servers(shared_db, **mail)]
    tag = unique("down-")
    emails = [f"{tag}-{i}@example.com" for i in range(8)]
    for i, address in enumerate(emails):  # SMTP down: each answers as usual
        visitor = Browser(forwarded_for=f"192.0.2.{120 + i}")
        server = both[i % 2]
        visitor.get(server, "/register")
        reply = visitor.post(server, "/register", {"email": address, "password": PASSWORD})
        assert reply.status == 200 and "We sent a confirmation link to" in reply.text, reply
    pending = f"SELECT count(*) FROM mail_queue WHERE recipient LIKE '{tag}%' AND sent_at IS NULL"
    failing = pending + " AND last_error IS NOT NULL"
    deadline = time.monotonic() + 30
    while query(shared_db, failing) < len(emails) and time.monotonic() < deadline:
        time.sleep(0.2)  # the senders tried, and failed, while nothing listened
    assert query(shared_db, failing) == len(emails)
    with smtp_server(Collector(), port=port) as smtp:
        deadline = time.monotonic() + 90  # the first retry comes 15 s after the failure
        while query(shared_db, pending) and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(1)  # a duplicate, if any, would arrive now
    assert query(shared_db, pending) == 0
    # The module's database keeps earlier tests' queued emails: the senders deliver
    # those too, each once as well.
    delivered = Counter(smtp.rcpt_tos())
    assert Counter({r: n for r, n in delivered.items() if r.startswith(tag)}) == Counter(emails)
    assert set(delivered.values()) == {1}
    assert query(shared_db, f"SELECT count(*) FROM mail_queue WHERE recipient LIKE '{tag}%' "
                            "AND body IS NULL AND attempts >= 2") == len(emails)
