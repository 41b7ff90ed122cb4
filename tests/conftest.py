"""Shared fixtures: ``app``, ``client``, ``runner``, ``make_user``, ``auth``, ``outbox``,
``clock``, ``pg_database``, and accounts by state: ``signed_in``, ``with_sms``.

Each test gets its own SQLite file, copied from a template that the real
Alembic migrations built once per run, so tests exercise the migrations and
stay fast. ``@pytest.mark.settings(KEY=value)`` overrides config per test.

With ``HUBWEB_TEST_BACKEND=postgres`` the same tests run on PostgreSQL and
Redis instead: one throwaway database per test process, built by the
migrations and emptied (TRUNCATE) before each test, and Flask-Limiter storing
in Redis. ``make test`` runs the suite both ways. The helpers are in
tests/support/.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hubweb import create_app
from hubweb.extensions import db
from tests.support.accounts import PASSWORD, Auth, Outbox
from tests.support.authenticator import set_up
from tests.support.clock import Clock
from tests.support.database import (
    BACKEND,
    PG_ADMIN_URL,
    base_config,
    create_pg_database,
    drop_pg_database,
    fresh_database,
)
from tests.support.sms import set_sms
from tests.support.tools import skip_or_fail


@pytest.fixture
def pg_database():
    """A throwaway PostgreSQL database's URL, dropped at teardown; skips (fails
    under CI) when PostgreSQL is unreachable."""
    try:
        url = create_pg_database()
    except sa.exc.OperationalError as exc:
        skip_or_fail(f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc.orig}")
    yield url
    drop_pg_database(url)


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory):
    """The schema built by ``flask db upgrade``: a SQLite file, or a PostgreSQL URL."""
    from flask_migrate import upgrade

    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    config = base_config(path.parent, path)
    if BACKEND == "postgres":
        config["DATABASE_URL"] = create_pg_database()
    app = create_app(config)
    with app.app_context():
        upgrade()
        db.engine.dispose()
    if BACKEND != "postgres":
        yield path
        return
    yield config["DATABASE_URL"]
    drop_pg_database(config["DATABASE_URL"])


@pytest.fixture
def app(request, tmp_path, migrated_db):
    config = fresh_database(tmp_path, migrated_db)
    marker = request.node.get_closest_marker("settings")
    if marker:
        config.update(marker.kwargs)
    app = create_app(config)
    from hubweb.extensions import limiter

    with app.app_context():
        limiter.reset()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_user(app):
    """Create a confirmed (by default) account; returns its id."""
    from hubweb import accounts

    def make(email="alice@example.com", password=PASSWORD, confirmed=True) -> int:
        with app.app_context():
            user = accounts.create_user(email, password, confirmed=confirmed)
            db.session.commit()
            return user.id

    return make


@pytest.fixture
def outbox(app):
    return Outbox(app)


@pytest.fixture
def auth(client):
    return Auth(client)


@pytest.fixture
def clock(time_machine):
    """Frozen time at :data:`CLOCK_START`."""
    return Clock(time_machine)


@pytest.fixture
def signed_in(make_user, auth) -> int:
    """A signed-in account without two-step verification; returns its id."""
    user_id = make_user()
    assert auth.sign_in().status_code == 303
    return user_id


@pytest.fixture
def with_sms(app, make_user) -> int:
    """An account with SMS 2SV on (+447400123456), not signed in; returns its id."""
    user_id = make_user()
    set_sms(app, user_id)
    return user_id


@pytest.fixture
def with_sms_and_app(app, make_user) -> int:
    """An account with SMS 2SV (+447400123456) and the authenticator app (key
    ``tests.support.authenticator.APP_SECRET``) on, not signed in; returns its id."""
    user_id = make_user()
    set_up(app, user_id, "app")
    return user_id
