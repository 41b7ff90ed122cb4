"""Two real app servers, one PostgreSQL, one Redis: nothing depends on which one answers.

Two gunicorn servers (``gunicorn -c gunicorn.conf.py wsgi:app``, one worker
each) on different ports share one PostgreSQL database, built by ``flask db
upgrade``, and one Redis for Flask-Limiter, with the same ``SECRET_KEY`` and
``ENCRYPTION_KEYS``, as several servers behind a load balancer would. One
browser (one cookie jar) alternates between them at every step.

Each test acts as a different client address (``X-Forwarded-For``, trusted
because the servers run with ``HUBWEB_PROXY_FIX=1``), so the per-IP limits of
one test do not reach another.
"""

from __future__ import annotations

import subprocess

import pytest
import sqlalchemy as sa

from tests.support.accounts import PASSWORD
from tests.support.database import create_pg_database, drop_pg_database
from tests.support.servers import (
    REDIS_URL,
    Browser,
    Server,
    base_env,
    delete_redis_keys,
    migrate,
    postgres_problem,
    redis_problem,
    require,
    sms_code,
    unique,
)
from tests.support.sms import add_sms

pytestmark = pytest.mark.postgres

#: What the Two-step verification section shows while SMS / the app is on (its
#: status line, and the button only an account with the app has).
SMS_ON = "Codes are sent to"
APP_ON = "Disable authenticator app"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Servers ``a`` and ``b`` and the database URL they share."""
    require(postgres_problem())
    require(redis_problem())
    logs = tmp_path_factory.mktemp("scale-out")
    url = create_pg_database()
    prefix = unique("hubweb-scale-")
    servers: list[Server] = []
    try:
        migrate(url)
        port_a = None
        for name in ("a", "b"):
            server = Server(base_env(url), logs / f"{name}.log")
            port_a = port_a or server.port
            server.env.update({
                "HUBWEB_BASE_URL": f"http://127.0.0.1:{port_a}",
                "HUBWEB_RATELIMIT_STORAGE_URI": REDIS_URL,
                "HUBWEB_RATELIMIT_KEY_PREFIX": prefix,
                "HUBWEB_RATELIMIT_SIGN_IN": "5 per minute",
                "HUBWEB_PROXY_FIX": "1",
            })
            servers.append(server.start())
        yield {"a": servers[0], "b": servers[1], "url": url}
    finally:
        for server in servers:
            server.stop()
        drop_pg_database(url)
        delete_redis_keys(prefix)


@pytest.fixture
def a(cluster):
    return cluster["a"]


@pytest.fixture
def b(cluster):
    return cluster["b"]


_next_ip = iter(range(1, 250))


@pytest.fixture
def browser():
    """A browser with its own client address (X-Forwarded-For)."""
    return Browser(forwarded_for=f"198.51.100.{next(_next_ip)}")


def make_user(cluster, phone: str | None = None) -> tuple[str, int]:
    """A confirmed account (SMS 2SV on when ``phone`` is given), made as an operator would."""
    from hubweb import accounts, create_app
    from hubweb.extensions import db
    from tests.support.servers import ENCRYPTION_KEYS, SECRET_KEY

    email = unique("user-") + "@example.com"
    app = create_app({"DATABASE_URL": cluster["url"], "SECRET_KEY": SECRET_KEY,
                      "ENCRYPTION_KEYS": ENCRYPTION_KEYS, "ARGON2_TIME_COST": 1,
                      "ARGON2_MEMORY_COST": 1024, "ARGON2_PARALLELISM": 1})
    with app.app_context():
        user = accounts.create_user(email, PASSWORD, confirmed=True)
        if phone:
            add_sms(user.id, phone)
        db.session.commit()
        user_id = user.id
        db.engine.dispose()
    return email, user_id


def db_value(cluster, sql: str, **params):
    engine = sa.create_engine(cluster["url"])
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()
    finally:
        engine.dispose()


def sign_in(browser, server, email):
    browser.get(server, "/sign-in")
    return browser.post(server, "/sign-in", {"email": email, "password": PASSWORD})


def test_password_on_one_server_and_the_sms_code_on_the_other(cluster, a, b, browser):
    phone = "+447400100001"
    email, _ = make_user(cluster, phone)

    r = sign_in(browser, a, email)
    assert r.status == 200 and "/sign-in/verify" in r.html  # followed to the second step
    r = browser.get(b, "/sign-in/verify")  # the pending session is known to B
    assert r.status == 200 and "code" in r.text
    code = sms_code(a, phone)  # A's outbox shows what B sent: one database
    r = browser.post(b, "/sign-in/verify", {"code": code})
    assert r.status == 200, r

    r = browser.get(a, "/settings/account")
    assert r.status == 200 and email in r.text and SMS_ON in r.text
    r = browser.get(b, "/settings/account")
    assert r.status == 200 and email in r.text
    # The code is used up, whichever server is asked.
    assert db_value(cluster, "SELECT count(*) FROM sms_codes WHERE used_at IS NULL") == 0


def test_sms_set_up_alternating_servers(cluster, a, b, browser):
    phone = "+447400100002"
    email, user_id = make_user(cluster)
    r = sign_in(browser, a, email)
    assert r.status == 200 and email in r.text, r

    r = browser.post(a, "/settings/two-step/sms/start")
    assert r.status == 200 and "current password" in r.text.lower(), r
    r = browser.post(b, "/settings/two-step/sms/password", {"password": PASSWORD})
    assert r.status == 200 and "mobile number" in r.text, r
    r = browser.post(a, "/settings/two-step/sms/phone", {"phone": "+44 7400 100002"})
    assert r.status == 200 and "We sent a 6-digit code" in r.text, r
    r = browser.post(b, "/settings/two-step/sms/code", {"code": sms_code(b, phone)})
    assert r.status == 200 and SMS_ON in r.text, r

    assert SMS_ON in browser.get(a, "/settings/account").text
    assert db_value(cluster, "SELECT lookup FROM authenticators WHERE user_id = :id "
                             "AND kind = 'sms'", id=user_id) == phone


def test_authenticator_app_set_up_alternating_servers(cluster, a, b, browser):
    phone = "+447400100003"
    email, user_id = make_user(cluster, phone)
    sign_in(browser, b, email)
    browser.get(a, "/sign-in/verify")
    r = browser.post(b, "/sign-in/verify", {"code": sms_code(b, phone)})
    assert r.status == 200 and SMS_ON in browser.get(a, "/settings/account").text

    r = browser.post(b, "/settings/two-step/app/start")
    assert r.status == 200, r
    r = browser.post(a, "/settings/two-step/app/password", {"password": PASSWORD})
    assert r.status == 200 and 'id="totp-secret"' in r.html, r
    secret = _secret(r.html)
    # Reloading the page on the other server shows the same pending key.
    r = browser.get(b, "/settings/account")
    assert _secret(r.html) == secret
    r = browser.post(a, "/settings/two-step/app/code", {"code": oathtool(secret)})
    assert r.status == 200 and APP_ON in r.text, r
    assert APP_ON in browser.get(b, "/settings/account").text
    assert db_value(cluster, "SELECT count(*) = 1 FROM authenticators WHERE user_id = :id "
                             "AND kind = 'app' AND enabled_at IS NOT NULL", id=user_id)


def test_sign_in_rate_limit_counts_across_servers(a, b, browser):
    """``HUBWEB_RATELIMIT_SIGN_IN="5 per minute"``: the 6th attempt is refused, on either."""
    browser.get(a, "/sign-in")
    statuses = []
    for i in range(7):
        server = (a, b)[i % 2]
        r = browser.post(server, "/sign-in",
                         {"email": "nobody@example.com", "password": "wrong password 123"})
        statuses.append(r.status)
    assert statuses == [422] * 5 + [429, 429], statuses
    assert "Too many attempts" in r.text
    # Another client address (one more trusted proxy hop) is counted apart.
    other = Browser(forwarded_for="203.0.113.77")
    other.get(b, "/sign-in")
    r = other.post(b, "/sign-in", {"email": "nobody@example.com", "password": "wrong 123456"})
    assert r.status == 422


def test_wrong_code_counter_counts_across_servers(cluster, a, b, browser):
    phone = "+447400100005"
    email, user_id = make_user(cluster, phone)
    sign_in(browser, a, email)
    browser.get(b, "/sign-in/verify")
    right = sms_code(a, phone)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"

    statuses = [browser.post((a, b)[i % 2], "/sign-in/verify", {"code": wrong}).status
                for i in range(5)]
    assert statuses == [422] * 4 + [429], statuses
    assert db_value(cluster, "SELECT factor_failures FROM users WHERE id = :id",
                    id=user_id) == 5
    for server in (b, a):  # now even the right code waits, on either server
        r = browser.post(server, "/sign-in/verify", {"code": right})
        assert r.status == 429 and "Too many wrong codes. Wait" in r.text, r
    r = browser.get(a, "/settings/account", follow=False)  # still only half signed in
    assert r.status == 303 and r.headers["Location"].endswith("/sign-in/verify")


def _secret(page: str) -> str:
    import re

    return re.search(r'id="totp-secret"[^>]*data-secret="([A-Z2-7]+)"', page)[1]


def oathtool(secret: str) -> str:
    """The current code of ``secret`` from oathtool (an independent RFC 6238 tool)."""
    import shutil

    if shutil.which("oathtool") is None:
        require("oathtool is not installed (make system-deps)")
    out = subprocess.run(["oathtool", "--totp", "-b", secret], capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()
