"""Deployment settings: ProxyFix hops, the limiter's fail direction, the database pool.

No server is needed: engines connect lazily, and a Redis URL on a closed port
is a Redis that is down. The same faults against real gunicorn servers are in
tests/ops/test_faults.py.
"""

from __future__ import annotations

import os
import re
import socket

import pytest
from flask import request

from hubweb import create_app
from hubweb.config import ConfigError
from hubweb.extensions import db, limiter
from tests.support.accounts import PASSWORD
from tests.support.database import base_config

PG_URL = "postgresql+psycopg://hubweb@db.invalid/hubweb"
UNAVAILABLE = "The service is briefly unavailable. Try again in a moment."


@pytest.fixture(autouse=True)
def no_outside_settings(monkeypatch):
    for name in list(os.environ):
        if name.startswith("HUBWEB_"):
            monkeypatch.delenv(name)


def make(tmp_path, **overrides):
    config = base_config(tmp_path, tmp_path / "unused.sqlite3")
    config.pop("RATELIMIT_STORAGE_URI", None)
    config.pop("RATELIMIT_KEY_PREFIX", None)
    return create_app({**config, **overrides})


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- HUBWEB_PROXY_FIX ---------------------------------------------------------------------


def _probe_app(tmp_path, **settings):
    app = make(tmp_path, **settings)

    @app.get("/_probe")
    def _probe():
        return f"{request.remote_addr} {request.scheme}"

    return app.test_client()


@pytest.mark.parametrize(("hops", "forwarded_for", "proto", "seen"), [
    (0, "203.0.113.5", "https", "127.0.0.1 http"),  # default: the headers are not trusted
    (1, "203.0.113.5", "https", "203.0.113.5 https"),
    (1, "6.6.6.6, 203.0.113.5", "https", "203.0.113.5 https"),  # a forged hop is ignored
    (2, "198.51.100.7, 203.0.113.5", "https, http", "198.51.100.7 https"),
    (2, "203.0.113.5", "https", "127.0.0.1 http"),  # fewer hops than configured: none
])
def test_proxy_fix_trusts_exactly_the_configured_hops(tmp_path, hops, forwarded_for, proto,
                                                      seen):
    client = _probe_app(tmp_path, PROXY_FIX=hops)
    reply = client.get("/_probe", headers={"X-Forwarded-For": forwarded_for,
                                          "X-Forwarded-Proto": proto})
    assert reply.get_data(as_text=True) == seen


def test_proxy_fix_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HUBWEB_PROXY_FIX", "1")
    client = _probe_app(tmp_path)
    reply = client.get("/_probe", headers={"X-Forwarded-For": "203.0.113.9"})
    assert reply.get_data(as_text=True) == "203.0.113.9 http"


# --- validation at start-up -----------------------------------------------------------------


@pytest.mark.parametrize(("name", "value"), [
    ("PROXY_FIX", -1), ("PROXY_FIX", True), ("PROXY_FIX", "one"),
    ("RATELIMIT_FAIL", "maybe"), ("RATELIMIT_FAIL", True),
    ("RATELIMIT_STORAGE_TIMEOUT", 0), ("DB_POOL_SIZE", 0), ("DB_POOL_SIZE", "5"),
    ("DB_MAX_OVERFLOW", -1), ("DB_POOL_TIMEOUT", 0.5), ("DB_CONNECT_TIMEOUT", 0.5),
    ("DATABASE_URL", "not a url"),
])
def test_bad_deployment_setting_stops_the_start(tmp_path, name, value):
    with pytest.raises(ConfigError, match=f"HUBWEB_{name}"):
        make(tmp_path, **{name: value})


# --- database pool ----------------------------------------------------------------------------


def test_postgresql_gets_a_bounded_pool_and_a_connect_timeout(tmp_path):
    app = make(tmp_path, DATABASE_URL=PG_URL)
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"] == {
        "pool_size": 5, "max_overflow": 2, "pool_timeout": 10,
        "pool_recycle": 1800, "connect_args": {"connect_timeout": 5}}
    with app.app_context():
        pool = db.engine.pool
        assert (pool.size(), pool._max_overflow, pool._timeout) == (5, 2, 10)
        assert db.engine.dialect.driver == "psycopg"


def test_pool_settings_from_the_environment(tmp_path, monkeypatch):
    for name, value in [("DB_POOL_SIZE", "8"), ("DB_MAX_OVERFLOW", "0"),
                        ("DB_POOL_TIMEOUT", "3"), ("DB_CONNECT_TIMEOUT", "3")]:
        monkeypatch.setenv(f"HUBWEB_{name}", value)
    app = make(tmp_path, DATABASE_URL=PG_URL)
    with app.app_context():
        pool = db.engine.pool
        assert (pool.size(), pool._max_overflow, pool._timeout) == (8, 0, 3)
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"]["connect_args"] == {"connect_timeout": 3}


def test_explicit_engine_options_win_and_sqlite_gets_no_pool_arguments(tmp_path):
    app = make(tmp_path, DATABASE_URL=PG_URL,
               SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 3, "echo_pool": True})
    options = app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    assert options["pool_size"] == 3 and options["echo_pool"] and options["max_overflow"] == 2
    assert make(tmp_path).config["SQLALCHEMY_ENGINE_OPTIONS"] == {}


# --- HUBWEB_RATELIMIT_FAIL ----------------------------------------------------------------------


@pytest.mark.parametrize(("fail", "flag"), [("open", True), ("closed", False)])
def test_fail_direction_maps_to_flask_limiter(tmp_path, fail, flag):
    app = make(tmp_path, RATELIMIT_FAIL=fail)
    assert app.config["RATELIMIT_SWALLOW_ERRORS"] is flag
    assert app.config["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] is flag


def test_redis_gets_timeouts_and_its_own_key_namespace(tmp_path):
    app = make(tmp_path, RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/0",
               RATELIMIT_KEY_PREFIX="portal-a", RATELIMIT_STORAGE_TIMEOUT=1.5)
    assert app.config["RATELIMIT_STORAGE_OPTIONS"] == {
        "socket_connect_timeout": 1.5, "socket_timeout": 1.5, "key_prefix": "LIMITS:portal-a"}
    assert limiter.storage.key_prefix == "LIMITS:portal-a"  # reset() clears only these keys


def _sign_in(client, email="alice@example.com", password=PASSWORD):
    html = client.get("/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)[1]
    return client.post("/sign-in", data={"email": email, "password": password,
                                         "csrf_token": token})


def _migrated(app):
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()
    return app


def test_redis_down_fail_open_lets_requests_through_and_limits_in_memory(tmp_path):
    app = _migrated(make(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
                         RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{closed_port()}/0",
                         RATELIMIT_FAIL="open", RATELIMIT_SIGN_IN="2 per minute"))
    client = app.test_client()
    assert [_sign_in(client).status_code for _ in range(3)] == [422, 422, 429]


def test_redis_down_fail_closed_answers_503_on_limited_endpoints_only(tmp_path):
    app = _migrated(make(tmp_path, DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
                         RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{closed_port()}/0",
                         RATELIMIT_FAIL="closed"))
    client = app.test_client()
    assert client.get("/sign-in").status_code == 200
    reply = _sign_in(client)
    assert reply.status_code == 503 and UNAVAILABLE in reply.get_data(as_text=True)
    assert reply.headers["Retry-After"] == "30"
    html = client.get("/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html)[1]
    reply = client.post("/sign-in", data={"csrf_token": token, "email": "a@example.com",
                                          "password": PASSWORD},
                        headers={"HX-Request": "true"})
    assert reply.status_code == 503 and reply.headers["HX-Retarget"] == "#alerts"
    assert client.get("/forgot-password").status_code == 200
