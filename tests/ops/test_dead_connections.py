"""Dead database connections (hubweb.pool): no ping for a connection in steady
use, a ping for one that rested in the pool, and a signed-in request that meets
a connection the database dropped is answered as if nothing happened.

On a real PostgreSQL (a throwaway database); its server processes are ended
with ``pg_terminate_backend``, which is what a restart looks like to the pool.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hubweb import create_app, pool
from hubweb.extensions import db
from tests.support.accounts import PASSWORD, Auth, is_signed_in
from tests.support.database import PG_ADMIN_URL, base_config
from tests.support.servers import migrate


@pytest.fixture
def pg_app(tmp_path, pg_database):
    migrate(pg_database)
    config = base_config(tmp_path, tmp_path / "unused.sqlite3")
    config.update(DATABASE_URL=pg_database, RATELIMIT_STORAGE_URI="memory://")
    app = create_app(config)
    from hubweb import accounts

    with app.app_context():
        accounts.create_user("alice@example.com", PASSWORD, confirmed=True)
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def pings(pg_app, monkeypatch):
    """Count the pings of the app's pool (the dialect's ``do_ping``)."""
    with pg_app.app_context():
        dialect = db.engine.dialect
    calls = []
    real = dialect.do_ping

    def counted(dbapi_connection):
        calls.append(dbapi_connection)
        return real(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counted)
    return calls


def _end_server_connections(url: str) -> int:
    """End every PostgreSQL server process of the database of ``url``; how many."""
    name = url.rsplit("/", 1)[1]
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        ended = conn.execute(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name}).scalar()
    admin.dispose()
    return ended


def _signed_in_client(app):
    client = app.test_client()
    Auth(client).sign_in()
    assert is_signed_in(client)
    return client


def test_a_connection_in_steady_use_is_not_pinged(pg_app, pings):
    client = _signed_in_client(pg_app)
    pings.clear()
    for _ in range(3):
        assert client.get("/").status_code == 200
    assert pings == []


def test_a_connection_that_rested_in_the_pool_is_pinged_at_checkout(pg_app, pings, monkeypatch):
    client = _signed_in_client(pg_app)
    monkeypatch.setattr(pool, "PING_AFTER_IDLE", -1.0)  # every rest is long enough
    pings.clear()
    assert client.get("/").status_code == 200
    assert len(pings) == 1


def test_a_rested_connection_the_database_dropped_is_replaced_before_use(pg_app, monkeypatch):
    with pg_app.app_context():
        assert db.session.execute(sa.text("SELECT 1")).scalar() == 1
        db.session.remove()  # back to the pool, alive to the pool's eyes
    assert _end_server_connections(str(pg_app.config["SQLALCHEMY_DATABASE_URI"])) >= 1
    monkeypatch.setattr(pool, "PING_AFTER_IDLE", -1.0)
    with pg_app.app_context():  # not the session lookup: no second try to hide behind
        assert db.session.execute(sa.text("SELECT 2")).scalar() == 2


def test_a_signed_in_request_on_a_connection_the_database_dropped_succeeds(pg_app, pings):
    client = _signed_in_client(pg_app)
    assert client.get("/").status_code == 200
    assert _end_server_connections(str(pg_app.config["SQLALCHEMY_DATABASE_URI"])) >= 1
    reply = client.get("/")
    assert reply.status_code == 200
    assert "You are signed in as" in reply.get_data(as_text=True)
    assert pings == []  # the connection was in steady use: found dead by the lookup itself
    assert client.get("/settings/account").status_code == 200
