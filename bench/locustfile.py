"""The users of ``make load`` (locust), started by :mod:`bench.load`; not a test.

Each simulated person loops over journeys, chosen at random by weight, each
in a fresh browser (new cookie jar), pausing between steps like a person
reading and typing (``LOAD_THINK`` seconds, uniform). Every request goes to
one of the two servers at random, as behind a load balancer without sticky
sessions. Each person has a client address of its own on the loopback
(127.0.x.y, the socket's source address), so per-IP limits count per person.

- ``signin`` (2SV on): sign-in form, password, the SMS code (read from the
  ``dev_outbox`` table, the console SMS backend), the settings page three
  times, then sign out (half of them) or leave the session signed in.
- ``setup`` (2SV off): sign in, settings, "Set up" with htmx: current
  password, a new number, the code: SMS 2SV on; then sign out.
- ``recovery`` (2SV on): "Forgot your password?", the emailed link, the SMS
  code, a new password.

Every account serves one journey only, so each gets at most one SMS in the run
and never meets the 60-second per-account cooldown. What each journey
confirmed (events, sessions, a changed number or password) is tallied per
account and written, with every latency, to ``LOAD_TALLY`` for the check
against the database.
"""

from __future__ import annotations

import collections
import json
import os
import random
import re
import time

import gevent
import psycopg
from gevent.queue import Queue
from locust import HttpUser, events, task
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager
from urllib3.util.retry import Retry

SERVERS = os.environ["LOAD_SERVERS"].split(",")
DB = os.environ["LOAD_DB"]
POOLS = json.loads(os.environ["LOAD_POOLS"])  # kind -> {"prefix", "first", "count", "phone"}
WEIGHTS = json.loads(os.environ.get("LOAD_WEIGHTS", '{"signin": 4, "setup": 2, "recovery": 1}'))
THINK = tuple(float(x) for x in os.environ.get("LOAD_THINK", "1,3").split(","))
PASSWORD = os.environ["LOAD_PASSWORD"]
TALLY = os.environ["LOAD_TALLY"]
HX = {"HX-Request": "true"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

_next_account = {kind: iter(range(pool["count"])) for kind, pool in POOLS.items()}
_next_user = iter(range(100_000))
#: email -> {"kind": journey, "events": {kind: n}, "signed_in": n, "pending": 0, ...}
TALLIES: dict[str, dict] = {}
LATENCIES: dict[str, list[float]] = collections.defaultdict(list)
ERRORS: list[dict] = []
JOURNEYS = collections.Counter()
SPAWNED: list[float] = []
RETRIES = collections.Counter()
#: Requests answered 503 + Retry-After (password checks at capacity), by name; sent again.
BUSY = collections.Counter()
_idle = Queue()  # psycopg connections (gevent-friendly since psycopg 3.1.14), at most 8
_opened: list = []


def outbox(recipient: str, channel: str, contains: str) -> str | None:
    """The body of the newest ``channel`` message to ``recipient`` containing ``contains``."""
    if _idle.empty() and len(_opened) < 8:
        _opened.append(psycopg.connect(DB, autocommit=True))
        conn = _opened[-1]
    else:
        conn = _idle.get(timeout=30)
    try:
        row = conn.execute(
            "SELECT body FROM dev_outbox WHERE recipient = %s AND channel = %s "
            "AND position(%s in body) > 0 ORDER BY id DESC LIMIT 1",
            (recipient, channel, contains)).fetchone()
        return row[0] if row else None
    finally:
        _idle.put(conn)


def wait_for_outbox(recipient: str, channel: str, contains: str = "") -> str:
    """The message the last request sent (committed before its reply; a short retry)."""
    for _ in range(20):
        body = outbox(recipient, channel, contains)
        if body:
            return body
        gevent.sleep(0.1)
    raise Journey(f"no {channel} to {recipient} in the outbox")


class Journey(Exception):
    """A journey could not go on (an unexpected reply); it is counted and abandoned."""


class BrowserRetry(Retry):
    """One retry when a kept-alive connection fails before any reply, as browsers do.

    The server may close an idle keep-alive connection (gunicorn: after 5 s)
    just as the next request goes out on it; the request never reached the
    app, and a browser sends it again on a new connection. Counted.
    """

    def increment(self, method=None, url=None, *args, **kwargs):
        error = kwargs.get("error")
        RETRIES[type(error).__name__ if error else "other"] += 1
        return super().increment(method, url, *args, **kwargs)


class SourceAddress(HTTPAdapter):
    """Connections from a given loopback address (one per simulated person)."""

    def __init__(self, source: str, **kwargs):
        self.source = source
        retry = BrowserRetry(total=1, connect=1, read=1, redirect=0, status=0, other=0,
                             allowed_methods=None, raise_on_status=False,
                             respect_retry_after_header=False)
        super().__init__(max_retries=retry, **kwargs)

    def init_poolmanager(self, connections, maxsize, block=False, **kwargs):
        self.poolmanager = PoolManager(num_pools=connections, maxsize=maxsize, block=block,
                                       source_address=(self.source, 0), **kwargs)


def tally(address: str, journey: str) -> dict:
    return TALLIES.setdefault(address, {"journey": journey, "events": collections.Counter(),
                                        "signed_in": 0, "pending": 0})


@events.request.add_listener
def _record(request_type, name, response_time, response_length, exception, **kwargs):
    LATENCIES[name].append((kwargs.get("start_time") or time.time(), response_time))


@events.spawning_complete.add_listener
def _all_spawned(user_count, **kwargs):
    SPAWNED.append(time.time())


@events.test_stop.add_listener
def _write(environment, **kwargs):
    data = {
        "tallies": {k: {**v, "events": dict(v["events"])} for k, v in TALLIES.items()},
        "latencies_ms": LATENCIES, "errors": ERRORS, "journeys": dict(JOURNEYS),
        "all_spawned_at": SPAWNED[0] if SPAWNED else None, "retries": dict(RETRIES),
        "busy": dict(BUSY),
    }
    with open(TALLY, "w") as fh:
        json.dump(data, fh)


class Person(HttpUser):
    host = SERVERS[0]

    def wait_time(self):
        return random.uniform(*THINK)

    def on_start(self):
        n = next(_next_user)
        self.source = f"127.0.{1 + n // 250}.{1 + n % 250}"
        self.client.mount("http://", SourceAddress(self.source))
        self.client.headers["User-Agent"] = (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            f"Chrome/126.0.0.0 Safari/537.36 hubweb-load/{n}")
        self.token = None
        self.retry_after = 5

    # --- HTTP ---------------------------------------------------------------------

    def think(self):
        gevent.sleep(random.uniform(*THINK))

    def call(self, method: str, path: str, name: str, expect=(200,), data=None, headers=None):
        """One request to a random server; a reply outside ``expect`` ends the journey.

        A 503 with ``Retry-After`` (the password step at capacity, hubweb.admission)
        is counted in ``BUSY`` and sent again after about that wait, as a person
        told "try again in a few seconds" would, up to 5 times.
        """
        for _ in range(5):
            reply = self._call(method, path, name, expect, data, headers)
            if reply is not None:
                return reply
            gevent.sleep(self.retry_after * random.uniform(0.8, 1.2))
        return self._call(method, path, name, expect, data, headers, retry=False)

    def _call(self, method, path, name, expect, data, headers, retry=True):
        base = random.choice(SERVERS)
        body = None if data is None else {"csrf_token": self.token, **data}
        with self.client.request(method, base + path, name=name, data=body, headers=headers,
                                 allow_redirects=False, catch_response=True) as reply:
            status = reply.status_code
            if retry and status == 503 and reply.headers.get("Retry-After") and method == "POST":
                BUSY[name] += 1
                self.retry_after = int(reply.headers["Retry-After"])
                reply.success()
                return None
            if status not in expect:
                snippet = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", reply.text or ""))[:300]
                if status == 0:  # no reply: the connection failed
                    snippet = repr(getattr(reply, "error", None))[:300]
                ERRORS.append({"name": name, "status": status, "server": base,
                               "source": self.source, "text": snippet, "at": time.time(),
                               "busy": status == 503 and bool(reply.headers.get("Retry-After"))})
                reply.failure(f"HTTP {status}")
                raise Journey(f"{name}: HTTP {status}")
            reply.success()
        found = CSRF.search(reply.text or "")
        if found:
            self.token = found[1]
        return reply

    def fresh_browser(self):
        self.client.cookies.clear()
        self.token = None

    # --- journeys -----------------------------------------------------------------

    @task
    def journey(self):
        kind = random.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        try:
            i = next(_next_account[kind])
        except StopIteration:
            JOURNEYS[f"{kind}: pool used up"] += 1
            gevent.sleep(5)
            return
        pool = POOLS[kind]
        address = f"{pool['prefix']}{pool['first'] + i}@example.com"
        number = f"+447{pool['phone']:02d}{pool['first'] + i:07d}"
        self.fresh_browser()
        try:
            getattr(self, kind)(address, number)
            JOURNEYS[f"{kind}: done"] += 1
        except Journey:
            JOURNEYS[f"{kind}: abandoned"] += 1

    def sign_in(self, address: str, journey: str, expect_to: str) -> None:
        self.call("GET", "/sign-in", "GET /sign-in")
        self.think()
        r = self.call("POST", "/sign-in", "POST /sign-in", (303,),
                      {"email": address, "password": PASSWORD})
        if r.headers.get("Location") != expect_to:
            raise Journey(f"sign-in went to {r.headers.get('Location')}")
        if expect_to == "/":
            tally(address, journey)["events"]["sign_in"] += 1
            tally(address, journey)["signed_in"] += 1
        else:
            tally(address, journey)["pending"] += 1

    def sign_out(self, address: str, journey: str) -> None:
        self.call("POST", "/sign-out", "POST /sign-out", (303,), {})
        tally(address, journey)["events"]["sign_out"] += 1
        tally(address, journey)["signed_in"] -= 1

    def signin(self, address: str, number: str) -> None:
        tally(address, "signin")
        self.sign_in(address, "signin", "/sign-in/verify")
        self.call("GET", "/sign-in/verify", "GET /sign-in/verify")  # sends the SMS
        code = re.search(r"#(\d{6})\s*$", wait_for_outbox(number, "sms"))[1]
        self.think()
        r = self.call("POST", "/sign-in/verify", "POST /sign-in/verify", (303,), {"code": code})
        if r.headers.get("Location") != "/":
            raise Journey(f"verify went to {r.headers.get('Location')}")
        t = tally(address, "signin")
        t["events"]["sign_in"] += 1
        t["signed_in"] += 1
        t["pending"] -= 1
        for _ in range(3):
            self.think()
            r = self.call("GET", "/settings/account", "GET /settings/account")
            if address not in r.text:
                raise Journey("the settings page is not this account's")
        if random.random() < 0.5:
            self.think()
            self.sign_out(address, "signin")

    def setup(self, address: str, number: str) -> None:
        tally(address, "setup")
        self.sign_in(address, "setup", "/")
        self.call("GET", "/settings/account", "GET /settings/account")
        self.think()
        self.call("POST", "/settings/two-step/sms/start", "POST 2SV start (htmx)",
                  data={}, headers=HX)
        self.think()
        self.call("POST", "/settings/two-step/sms/password", "POST 2SV password (htmx)",
                  data={"password": PASSWORD}, headers=HX)
        self.think()
        self.call("POST", "/settings/two-step/sms/phone", "POST 2SV phone (htmx)",
                  data={"phone": number}, headers=HX)
        code = re.search(r"#(\d{6})\s*$", wait_for_outbox(number, "sms"))[1]
        self.think()
        r = self.call("POST", "/settings/two-step/sms/code", "POST 2SV code (htmx)",
                      data={"code": code}, headers=HX)
        if "Two-step verification by SMS is on." not in r.text:
            raise Journey("SMS set-up did not finish")
        t = tally(address, "setup")
        t["events"]["sms_enabled"] += 1
        t["sms_phone"] = number
        self.think()
        self.sign_out(address, "setup")

    def recovery(self, address: str, number: str) -> None:
        t = tally(address, "recovery")
        self.call("GET", "/forgot-password", "GET /forgot-password")
        self.think()
        self.call("POST", "/forgot-password", "POST /forgot-password", data={"email": address})
        t["events"]["reset_requested"] += 1
        body = wait_for_outbox(address, "email", "/reset-password/")
        link = re.search(r"/reset-password/[A-Za-z0-9_\-]+", body)[0]
        self.think()
        self.call("GET", link, "GET /reset-password/[token]")  # the second step: sends the SMS
        code = re.search(r"#(\d{6})\s*$", wait_for_outbox(number, "sms"))[1]
        self.think()
        self.call("POST", link, "POST /reset-password/[token] (code)", (303,), {"code": code})
        self.call("GET", link, "GET /reset-password/[token]")
        self.think()
        new = f"load test pass phrase {random.getrandbits(64):016x} blue"
        r = self.call("POST", link, "POST /reset-password/[token] (password)", (303,),
                      {"new_password": new})
        if r.headers.get("Location") != "/sign-in":
            raise Journey(f"reset went to {r.headers.get('Location')}")
        t["events"]["reset_done"] += 1
        t["password_changed"] = True
