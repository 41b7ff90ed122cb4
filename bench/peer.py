"""Figure 8: the portal beside its peer, Flask-Security, in one run (issue 17, Part 1).

The peer is ``bench/peer/app.py`` (what it is and how it is configured: its
docstring), installed by this module into its own virtual environment,
``artifacts/bench/peer-venv`` (git-ignored): ``python -m venv`` and ``pip install``
of ``bench/peer/requirements.txt``, the current releases from PyPI, once; the
environment is reused while the requirement list is unchanged and made anew when
it changes. The installed versions go into the results.

Both servers run the same way: ``gunicorn -c bench/peer/gunicorn.conf.py`` (the
portal's ``gunicorn.conf.py`` with no access log and no worker recycling; the
portal's gthread worker class for both), 2 workers x 4 threads, each on its own
SQLite file in one temporary folder. The portal has production backends (SMS over
HTTP to a fake gateway on 127.0.0.1, SMTP, so no development banner), argon2-cffi's
default parameters, and its per-IP limits raised (every request comes from
127.0.0.1) in its embedded default limiter storage, ``memory://``.

Three comparisons, each within this one run:

a. **Password step over one argon2 verify.** POST of the sign-in form with the
   right password (the GET that fetches the form and its CSRF token is not timed),
   sequential, over HTTP, to each server; timed in turns with
   ``argon2.PasswordHasher().verify`` in this process (ABBA order, so that a slower
   stretch of the machine hits all three alike). Ratio: step median / verify median.
   The portal's account has no 2SV (303 to ``/``), the peer's none set up (302 to
   ``/``); after each, untimed, the session must open the signed-in page. Goal: the
   portal's ratio at most 1.04 and at most the peer's.
b. **Smallest signed-in page**: the portal's ``/`` (an account without 2SV, signed in
   through the real form) and the peer's ``/``; requests per second under the same
   load generator, rounds alternating. Goal: portal at least 1.5 x the peer.
c. **Settings page**: the portal's ``/settings/account`` of an account with SMS and
   the authenticator app on (20 security events, 3 sessions: ``make_account``'s
   "typical"), signed in through the real form and an app code, against ``/`` of
   the same session, in the same alternating rounds. Goal: at least 0.5 x ``/``.

``BENCH_PEER_STEPS=N`` sets comparison a's rounds; ``BENCH_PEER_PARTS=a`` runs only
it (the default, ``abc``, all three).
``BENCH_PEER_BEFORE=PATH`` adds, to comparison a, a third server: the portal of
another checkout at PATH (e.g. a ``git worktree`` of the branch before a change,
with its own ``.venv`` link), on a copy of the portal's database in SQLite's default
rollback-journal mode, timed in the same ABBA turns: a before/after of one run.

Load generator: ``wrk -t2 -c16`` (8 s rounds, 5 of them; ``BENCH_QUICK=1``: 2 x 3 s)
with a Lua script that counts every reply's status; without wrk, a Python
keep-alive generator with 16 connections. Anything but 200 (a redirect to the
sign-in page, say) fails the figure.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

from argon2 import PasswordHasher

from .common import (
    LOG_DIR,
    PASSWORD,
    QUICK,
    ROOT,
    BenchServer,
    SmsGateway,
    free_port,
    make_account,
    make_app,
    median,
    migrate,
    percentile,
    server_env,
    unique,
)

PEER_DIR = ROOT / "bench" / "peer"
REQUIREMENTS = PEER_DIR / "requirements.txt"
CONFIG = PEER_DIR / "gunicorn.conf.py"
VENV = LOG_DIR / "peer-venv"
VENV_PYTHON = VENV / "bin" / "python"
STAMP = VENV / "bench-requirements.txt"
WORKERS, THREADS = 2, 4
CONNECTIONS = 16
GOAL_STEP, GOAL_PAGE, GOAL_SETTINGS = 1.04, 1.5, 0.5
PARTS = os.environ.get("BENCH_PEER_PARTS", "abc")
BEFORE = os.environ.get("BENCH_PEER_BEFORE")
#: The distributions whose versions the results record.
DISTRIBUTIONS = ("Flask-Security", "Flask", "Flask-Login", "Flask-WTF", "Flask-SQLAlchemy",
                 "SQLAlchemy", "Werkzeug", "Jinja2", "libpass", "argon2-cffi",
                 "argon2-cffi-bindings", "gunicorn")
ARGON2_DEFAULT_PREFIX = "$argon2id$v=19$m=65536,t=3,p=4$"
UA = ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
      "Chrome/126.0.0.0 Safari/537.36")
CSRF = re.compile(r'name="csrf_token"[^>]*?value="([^"]+)"')
STATUS_LUA = """
threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) counts = {} end
function response(status, headers, body) counts[status] = (counts[status] or 0) + 1 end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for s, n in pairs(t:get("counts")) do total[s] = (total[s] or 0) + n end
  end
  for s, n in pairs(total) do io.write(string.format("status %d %d\\n", s, n)) end
end
"""


# --- the peer's environment -------------------------------------------------------------

def _versions(python: str | Path) -> dict[str, str]:
    code = ("import json, importlib.metadata as m\n"
            "def v(d):\n"
            "    try:\n        return m.version(d)\n"
            "    except m.PackageNotFoundError:\n        return None\n"
            f"print(json.dumps({{d: v(d) for d in {DISTRIBUTIONS!r}}}))")
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return {k: v for k, v in json.loads(out.stdout).items() if v}


def ensure_venv() -> dict[str, str]:
    """Make (or reuse) the peer's virtual environment; return its installed versions.

    :raises RuntimeError: when ``venv`` or ``pip`` fails (their output in the message).
    """
    wanted = REQUIREMENTS.read_text()
    if not (VENV_PYTHON.exists() and STAMP.exists() and STAMP.read_text() == wanted):
        shutil.rmtree(VENV, ignore_errors=True)
        VENV.parent.mkdir(parents=True, exist_ok=True)
        print(f"      installing the peer into {VENV.relative_to(ROOT)} ...", flush=True)
        for args in ([sys.executable, "-m", "venv", str(VENV)],
                     [str(VENV_PYTHON), "-m", "pip", "install", "--quiet",
                      "--disable-pip-version-check", "-r", str(REQUIREMENTS)]):
            done = subprocess.run(args, capture_output=True, text=True)
            if done.returncode:
                raise RuntimeError(f"{' '.join(args[:4])} failed: {done.stderr[-2000:]}")
        STAMP.write_text(wanted)
    return _versions(VENV_PYTHON)


def _peer_env(database_url: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HUBWEB_", "PEER_")) and k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update({"PEER_DATABASE_URL": database_url, "BENCH_PEER": "1",
                "WEB_CONCURRENCY": str(WORKERS), "HUBWEB_THREADS": str(THREADS)})
    return env


def _peer_command(env: dict, *args: str) -> str:
    done = subprocess.run([str(VENV_PYTHON), "app.py", *args], cwd=PEER_DIR, env=env,
                          capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"app.py {args[0]} failed: {done.stderr[-2000:]}")
    return done.stdout.strip()


# --- one browser ------------------------------------------------------------------------

class Client:
    """One browser on one server: a kept-alive connection and the cookies it was given."""

    def __init__(self, port: int):
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies: dict[str, str] = {}

    def headers(self) -> dict[str, str]:
        headers = {"User-Agent": UA}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers

    def request(self, method: str, path: str, form: dict | None = None):
        """Return ``(status, headers, body)``; no redirect is followed."""
        headers, body = self.headers(), None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        self.conn.request(method, path, body=body, headers=headers)
        reply = self.conn.getresponse()
        data = reply.read()
        for line in reply.headers.get_all("Set-Cookie") or []:
            pair, _, attributes = line.partition(";")
            name, _, value = pair.strip().partition("=")
            attributes = attributes.lower()
            if not value or "max-age=0" in attributes or "1970" in attributes:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        if (reply.getheader("Connection") or "").lower() == "close":
            self.conn.close()
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        return reply.status, reply.headers, data

    def csrf(self, path: str) -> str:
        status, _, body = self.request("GET", path)
        assert status == 200, (path, status)
        return CSRF.search(body.decode())[1]

    def close(self) -> None:
        self.conn.close()


def _location(headers) -> str:
    return urllib.parse.urlsplit(headers.get("Location") or "").path


class Side:
    """One server's sign-in form and signed-in page."""

    def __init__(self, name: str, server: BenchServer, form_path: str, success: int):
        self.name, self.server = name, server
        self.form_path, self.success = form_path, success

    def password_step(self, address: str) -> float:
        """Seconds of the timed POST; checks the redirect and the session it opened."""
        client = Client(self.server.port)
        try:
            token = client.csrf(self.form_path)
            form = {"csrf_token": token, "email": address, "password": PASSWORD}
            start = time.perf_counter()
            status, headers, _ = client.request("POST", self.form_path, form)
            seconds = time.perf_counter() - start
            assert status == self.success and _location(headers) == "/", (
                self.name, status, headers.get("Location"))
            status, _, body = client.request("GET", "/")
            assert status == 200 and address.encode() in body, (self.name, status)
        finally:
            client.close()
        return seconds


# --- load -------------------------------------------------------------------------------

def _wrk(url: str, seconds: float, headers: dict, script: Path) -> tuple[float, dict]:
    args = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{int(seconds)}s", "--timeout", "10s",
            "-s", str(script)]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run(args + [url], capture_output=True, text=True, check=True,
                         timeout=seconds + 60).stdout
    statuses = {s: int(n) for s, n in re.findall(r"^status (\d+) (\d+)$", out, re.M)}
    if "Socket errors" in out:
        statuses["socket errors"] = 1
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1]), statuses


def _python_load(url: str, seconds: float, headers: dict, _script=None) -> tuple[float, dict]:
    """Kept-alive GETs from :data:`CONNECTIONS` threads; requests per second and statuses."""
    parts = urllib.parse.urlsplit(url)
    done = [0] * CONNECTIONS
    statuses: dict[str, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
        while time.monotonic() < deadline:
            conn.request("GET", parts.path or "/", headers=headers)
            reply = conn.getresponse()
            reply.read()
            with lock:
                statuses[str(reply.status)] = statuses.get(str(reply.status), 0) + 1
            if (reply.getheader("Connection") or "").lower() == "close":
                conn.close()
                conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
            done[i] += 1
        conn.close()

    start = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.monotonic() - start), statuses


# --- the portal's accounts --------------------------------------------------------------

def _portal_accounts(url: str, prefix: str, addresses: dict[str, str],
                     phone: str) -> tuple[str, str]:
    """Create the accounts; return the app key's secret and the stored password hash."""
    import pyotp
    import sqlalchemy as sa

    app = make_app(url, prefix, RATELIMIT_STORAGE_URI="memory://")
    make_account(app, addresses["step"], shape="new")
    make_account(app, addresses["home"])
    uid = make_account(app, addresses["settings"], sms_phone=phone)
    with app.test_request_context(headers={"User-Agent": UA}):
        from hubweb.extensions import db
        from hubweb.models import User
        from hubweb.twostep import appcodes

        user = db.session.get(User, uid)
        secret = appcodes.start_setup(user)
        result = appcodes.confirm_setup(user, pyotp.TOTP(secret).now())
        assert result.ok, result
        db.session.commit()
        stored = db.session.execute(sa.select(User.password_hash).where(
            User.email == addresses["step"])).scalar_one()
        db.session.remove()
        db.engine.dispose()
    return secret, stored


def _portal_cookie(server: BenchServer, address: str, app_secret: str | None = None) -> dict:
    """Sign in through the real form (and the app code); the signed-in request headers."""
    import pyotp

    client = Client(server.port)
    token = client.csrf("/sign-in")
    status, headers, _ = client.request(
        "POST", "/sign-in", {"csrf_token": token, "email": address, "password": PASSWORD})
    assert status == 303, status
    if app_secret:
        assert _location(headers) == "/sign-in/verify", headers.get("Location")
        token = client.csrf("/sign-in/verify")
        # The code of the next 30-s step (within the window): the current step's code
        # confirmed the key, and a code is never accepted twice.
        code = pyotp.TOTP(app_secret).at(time.time() + 30)
        status, headers, _ = client.request(
            "POST", "/sign-in/verify", {"csrf_token": token, "code": code})
        assert status == 303, status
    assert _location(headers) == "/", headers.get("Location")
    client.close()
    return client.headers()


def _peer_cookie(server: BenchServer, address: str) -> dict:
    client = Client(server.port)
    token = client.csrf("/login")
    status, headers, _ = client.request(
        "POST", "/login", {"csrf_token": token, "email": address, "password": PASSWORD})
    assert status == 302 and _location(headers) == "/", (status, headers.get("Location"))
    client.close()
    return client.headers()


def _page_bytes(server: BenchServer, path: str, headers: dict, address: str) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", path, headers=headers)
    reply = conn.getresponse()
    page = reply.read()
    conn.close()
    assert reply.status == 200 and address.encode() in page, (path, reply.status)
    return len(page)


def _spread(values: list[float]) -> dict:
    return {"median": round(median(values), 2), "min": round(min(values), 2),
            "max": round(max(values), 2), "p10": round(percentile(values, 0.1), 2),
            "p90": round(percentile(values, 0.9), 2)}


# --- the figure -------------------------------------------------------------------------

def _step_only(samples: dict, peer_verify: dict, load_average, steps_n: int) -> dict:
    """The result of comparison a alone (``BENCH_PEER_PARTS=a``)."""
    verify_ms = median(samples["verify"])
    ratio = {side: median(values) / verify_ms for side, values in samples.items()
             if side != "verify"}
    lines = [f"{'step (ms)':<36} {'median':>6} {'p10':>7} {'p90':>7} {'max':>7}  ratio"]
    for name, values in samples.items():
        lines.append(f"{name:<36} {median(values):>6.1f} {percentile(values, 0.1):>7.1f} "
                     f"{percentile(values, 0.9):>7.1f} {max(values):>7.1f}  "
                     f"{ratio.get(name, 1):.3f}")
    lines.append(f"peer's own verify {peer_verify['app_verify_ms']:.1f} ms vs plain argon2-cffi "
                 f"{peer_verify['argon2_verify_ms']:.1f} ms; load average at the end "
                 f"{load_average[0]:.1f}")
    step_pass = ratio["portal"] <= GOAL_STEP and ratio["portal"] <= ratio["peer"]
    detail = ", ".join(f"{k} {v:.3f}" for k, v in ratio.items())
    return {"figure": "Peer comparison (a only)", "value": None, "goal": "a",
            "pass": step_pass, "detail": f"{detail} ({steps_n} ABBA rounds over HTTP)",
            "parts": [{"figure": "password step", "value": round(ratio["portal"], 4),
                       "goal": f"<= {GOAL_STEP} and <= peer", "pass": step_pass,
                       "detail": detail}],
            "table": lines,
            "password_step_ms": {name: {**_spread(v), "samples": [round(x, 2) for x in v]}
                                 for name, v in samples.items()},
            "password_step_ratio": {k: round(v, 4) for k, v in ratio.items()}}


def run() -> dict:
    steps_n, rounds, seconds = (8, 2, 3) if QUICK else (40, 5, 8)
    steps_n = int(os.environ.get("BENCH_PEER_STEPS") or steps_n)
    peer_versions = ensure_venv()
    portal_versions = _versions(sys.executable)
    generator = "wrk" if shutil.which("wrk") else "python"
    load = _wrk if generator == "wrk" else _python_load
    tmp = tempfile.TemporaryDirectory(prefix="hubweb-peer-")
    folder = Path(tmp.name)
    script = folder / "statuses.lua"
    script.write_text(STATUS_LUA)
    portal_url = f"sqlite:///{folder / 'portal.sqlite3'}"
    peer_url = f"sqlite:///{folder / 'peer.sqlite3'}"
    prefix = unique("hubweb-bench-")
    addresses = {"step": "step@example.com", "home": "home@example.com",
                 "settings": "settings@example.com"}
    peer_address = "peer@example.com"
    gateway = SmsGateway()
    servers: list[BenchServer] = []
    try:
        # The peer: its database, its account, its hash checked, its verify timed.
        peer_env = _peer_env(peer_url)
        peer_hash = _peer_command(peer_env, "seed", peer_address, PASSWORD).splitlines()[-1]
        peer_verify = json.loads(_peer_command(peer_env, "verify-check", PASSWORD,
                                               "4" if QUICK else "20"))
        # The portal: migrated, its accounts made through its own code.
        migrate(portal_url)
        app_secret, portal_hash = _portal_accounts(portal_url, prefix, addresses,
                                                   "+447400100008")
        for name, stored in (("portal", portal_hash), ("peer", peer_hash),
                             ("peer verify-check", peer_verify["hash"])):
            assert stored.startswith(ARGON2_DEFAULT_PREFIX), (name, stored[:40])
        limit = "1000000 per minute"
        portal_env = server_env(
            portal_url, SMS_BACKEND="http", SMS_HTTP_URL=gateway.url, MAIL_BACKEND="smtp",
            MAIL_PORT=free_port(), RATELIMIT_STORAGE_URI="memory://",
            RATELIMIT_KEY_PREFIX=prefix, RATELIMIT_SIGN_IN=limit, RATELIMIT_REGISTER=limit,
            RATELIMIT_FORGOT=limit, THREADS=THREADS, WEB_CONCURRENCY=WORKERS)
        portal = BenchServer(portal_env, LOG_DIR / "peer-portal.log", config=CONFIG)
        peer = BenchServer(peer_env, LOG_DIR / "peer-peer.log", target="app:app",
                           ready="/login", config=CONFIG, python=str(VENV_PYTHON), cwd=PEER_DIR)
        servers += [portal.start(), peer.start()]
        portal.warm("/sign-in")
        peer.warm("/login")
        before = None
        if BEFORE:
            import sqlite3

            shutil.copy(folder / "portal.sqlite3", folder / "before.sqlite3")
            with sqlite3.connect(folder / "before.sqlite3") as conn:
                conn.execute("PRAGMA journal_mode=DELETE").fetchall()
            before_env = {**portal_env,
                          "HUBWEB_DATABASE_URL": f"sqlite:///{folder / 'before.sqlite3'}"}
            before = BenchServer(before_env, LOG_DIR / "peer-before.log", config=CONFIG,
                                 python=str(Path(BEFORE) / ".venv" / "bin" / "python"),
                                 cwd=Path(BEFORE))
            servers.append(before.start())
            before.warm("/sign-in")

        # a. The password step over one argon2 verify, ABBA with the verify.
        sides = {"portal": (Side("portal", portal, "/sign-in", 303), addresses["step"]),
                 "peer": (Side("peer", peer, "/login", 302), peer_address)}
        ph = PasswordHasher()

        def verify() -> float:
            start = time.perf_counter()
            ph.verify(portal_hash, PASSWORD)
            return time.perf_counter() - start

        timed = {"portal": lambda: sides["portal"][0].password_step(sides["portal"][1]),
                 "peer": lambda: sides["peer"][0].password_step(sides["peer"][1]),
                 "verify": verify}
        if before is not None:
            before_side = Side("before", before, "/sign-in", 303)
            timed["before"] = lambda: before_side.password_step(addresses["step"])
        for f in timed.values():  # warm-up: pools, caches, each app's first hash
            f()
            f()
        samples: dict[str, list[float]] = {name: [] for name in timed}
        for i in range(steps_n):
            for name in (list(timed) if i % 2 == 0 else reversed(list(timed))):
                samples[name].append(timed[name]() * 1000)

        load_average = os.getloadavg()
        if "b" not in PARTS and "c" not in PARTS:
            return _step_only(samples, peer_verify, load_average, steps_n)

        # b and c. Pages under load, rounds alternating.
        portal_home = _portal_cookie(portal, addresses["home"])
        portal_2sv = _portal_cookie(portal, addresses["settings"], app_secret)
        peer_home = _peer_cookie(peer, peer_address)
        targets = {
            "portal /": (portal, "/", portal_home, addresses["home"]),
            "peer /": (peer, "/", peer_home, peer_address),
            "portal / (SMS+app)": (portal, "/", portal_2sv, addresses["settings"]),
            "portal /settings/account (SMS+app)": (portal, "/settings/account", portal_2sv,
                                                   addresses["settings"]),
        }
        page_bytes = {name: _page_bytes(server, path, headers, address)
                      for name, (server, path, headers, address) in targets.items()}
        for server, path, headers, _ in targets.values():  # warm-up, not counted
            load(server.url + path, 2, headers, script)
        rates: dict[str, list[float]] = {name: [] for name in targets}
        statuses: dict[str, dict] = {name: {} for name in targets}
        names = list(targets)
        for i in range(rounds):
            for name in names if i % 2 == 0 else reversed(names):
                server, path, headers, _ = targets[name]
                rate, counts = load(server.url + path, seconds, headers, script)
                rates[name].append(round(rate, 1))
                for status, n in counts.items():
                    statuses[name][str(status)] = statuses[name].get(str(status), 0) + n
        load_average = os.getloadavg()
    finally:
        for server in servers:
            server.stop()
        gateway.close()
        tmp.cleanup()

    verify_ms = median(samples["verify"])
    ratio = {side: median(samples[side]) / verify_ms for side in ("portal", "peer")}
    step_pass = ratio["portal"] <= GOAL_STEP and ratio["portal"] <= ratio["peer"]
    rps = {name: median(values) for name, values in rates.items()}
    bad = {name: {s: n for s, n in counts.items() if s != "200"}
           for name, counts in statuses.items()}
    page_ratio = rps["portal /"] / rps["peer /"]
    settings_ratio = rps["portal /settings/account (SMS+app)"] / rps["portal / (SMS+app)"]
    page_pass = page_ratio >= GOAL_PAGE and not bad["portal /"] and not bad["peer /"]
    settings_pass = (settings_ratio >= GOAL_SETTINGS and not bad["portal / (SMS+app)"]
                     and not bad["portal /settings/account (SMS+app)"])
    step_detail = (f"portal {median(samples['portal']):.1f} ms, peer "
                   f"{median(samples['peer']):.1f} ms, argon2 verify {verify_ms:.1f} ms: "
                   f"portal {ratio['portal']:.3f}, peer {ratio['peer']:.3f} "
                   f"({steps_n} ABBA rounds over HTTP)")
    parts = [
        {"figure": "password step", "value": round(ratio["portal"], 4),
         "goal": f"<= {GOAL_STEP} and <= peer", "pass": step_pass, "detail": step_detail},
        {"figure": "/ vs peer /", "value": round(page_ratio, 4), "goal": f">= {GOAL_PAGE}",
         "pass": page_pass,
         "detail": f"{rps['portal /']:.0f} / {rps['peer /']:.0f} req/s"},
        {"figure": "settings vs /", "value": round(settings_ratio, 4),
         "goal": f">= {GOAL_SETTINGS}", "pass": settings_pass,
         "detail": (f"{rps['portal /settings/account (SMS+app)']:.0f} / "
                    f"{rps['portal / (SMS+app)']:.0f} req/s")},
    ]
    lines = [f"{'page':<36} {'bytes':>6} {'req/s':>7} {'min':>7} {'max':>7}  non-200"]
    for name in targets:
        lines.append(f"{name:<36} {page_bytes[name]:>6} {rps[name]:>7.0f} "
                     f"{min(rates[name]):>7.0f} {max(rates[name]):>7.0f}  {bad[name] or '-'}")
    lines.append(f"{'step (ms)':<36} {'median':>6} {'p10':>7} {'p90':>7} {'max':>7}")
    for name, label in (("portal", "portal POST /sign-in"), ("peer", "peer POST /login"),
                        ("verify", "argon2 PasswordHasher().verify")):
        values = samples[name]
        lines.append(f"{label:<36} {median(values):>6.1f} {percentile(values, 0.1):>7.1f} "
                     f"{percentile(values, 0.9):>7.1f} {max(values):>7.1f}")
    lines.append(f"peer's own verify {peer_verify['app_verify_ms']:.1f} ms vs plain argon2-cffi "
                 f"{peer_verify['argon2_verify_ms']:.1f} ms (in its environment, ABBA x "
                 f"{peer_verify['rounds']}); load average at the end {load_average[0]:.1f}")
    detail = "; ".join(f"{p['figure']} {p['value']:.3f} ({p['detail']})" for p in parts)
    if any(bad.values()):
        detail += f"; NON-200 RESPONSES: {bad}"
    return {
        "figure": "Peer comparison",
        "value": None,
        "goal": "a, b and c",
        "pass": step_pass and page_pass and settings_pass,
        "detail": detail,
        "parts": parts,
        "table": lines,
        "password_step_ms": {name: {**_spread(values), "samples": [round(v, 2) for v in values]}
                             for name, values in samples.items()},
        "password_step_ratio": {k: round(v, 4) for k, v in ratio.items()},
        "peer_verify_check": {k: v for k, v in peer_verify.items() if k != "hash"},
        "requests_per_second": {name: {**_spread(values), "rounds": values}
                                for name, values in rates.items()},
        "page_bytes": page_bytes,
        "statuses": statuses,
        "generator": (f"wrk -t2 -c{CONNECTIONS} -d{seconds}s" if generator == "wrk"
                      else f"python, {CONNECTIONS} kept-alive connections, {seconds} s"),
        "rounds": rounds,
        "versions": {"peer": peer_versions, "portal": portal_versions},
        "stored_hash_prefix": ARGON2_DEFAULT_PREFIX,
        "measured": (f"gunicorn -c bench/peer/gunicorn.conf.py ({WORKERS} gthread workers x "
                     f"{THREADS} threads, no access log, no max_requests) for both; SQLite "
                     "files in one temporary folder; portal limiter memory://; peer: "
                     f"Flask-Security {peer_versions.get('Flask-Security')}, two-factor on "
                     "(authenticator, sms; not set up), confirmable, trackable"),
    }
