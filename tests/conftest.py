"""Shared fixtures: ``app``, ``client``, ``runner``, ``make_user``, ``auth``, ``outbox``.

Each test gets its own SQLite file, copied from a template that the real
Alembic migrations built once per run, so tests exercise the migrations and
stay fast. ``@pytest.mark.settings(KEY=value)`` overrides config per test.

With ``HUBWEB_TEST_BACKEND=postgres`` the same tests run on PostgreSQL and
Redis instead: one throwaway database per test process, built by the
migrations and emptied (TRUNCATE) before each test, and Flask-Limiter storing
in Redis. ``make test`` runs the suite both ways.
"""

from __future__ import annotations

import os
import re
import shutil
import time
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from hubweb import create_app
from hubweb.extensions import db
from hubweb.models import OutboxMessage, User

PASSWORD = "correct horse battery staple"
CHEAP_ARGON2 = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024, "ARGON2_PARALLELISM": 1}


BACKEND = os.environ.get("HUBWEB_TEST_BACKEND", "sqlite")
PG_ADMIN_URL = os.environ.get(
    "HUBWEB_TEST_PG_ADMIN", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("HUBWEB_TEST_REDIS", "redis://127.0.0.1:6379/15")


def base_config(tmp_path, db_file) -> dict:
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "DATABASE_URL": f"sqlite:///{db_file}",
        "ENCRYPTION_KEYS": ["k2pGmHc1bq2Vb0Ij2d3LhS2Jbm0bXy6Vq8n2d3tqPaE="],
        "RATELIMIT_ENABLED": True,
        **CHEAP_ARGON2,
    }
    if BACKEND == "postgres":
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        config["RATELIMIT_STORAGE_URI"] = REDIS_URL
        config["RATELIMIT_KEY_PREFIX"] = f"hubweb-test-{os.getpid()}-{worker}"
    return config


def skip_or_fail(reason: str) -> None:
    """Skip the test, except under ``CI=true``, where a missing tool is a failure."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def require_tools(*names: str) -> None:
    """Skip (fail under CI) when command-line tools the test uses are missing."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        skip_or_fail(f"{', '.join(missing)} not installed (make system-deps installs them)")


def create_pg_database() -> str:
    """Create an empty throwaway PostgreSQL database; return its URL.

    :raises sqlalchemy.exc.OperationalError: when PostgreSQL is unreachable.
    """
    name = f"hubweb_t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT",
                             connect_args={"connect_timeout": 3})
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_pg_database(url: str) -> None:
    """Drop a database made by :func:`create_pg_database` (ending its connections)."""
    name = url.rsplit("/", 1)[1]
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


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


def _fresh_database(tmp_path, migrated_db) -> dict:
    """Config for this test's database: a copy of the template, or emptied tables."""
    db_file = tmp_path / "hubweb.sqlite3"
    config = base_config(tmp_path, db_file)
    if BACKEND != "postgres":
        shutil.copy(migrated_db, db_file)
        return config
    config["DATABASE_URL"] = migrated_db
    engine = sa.create_engine(migrated_db)
    with engine.begin() as conn:
        tables = ", ".join(t.name for t in db.metadata.sorted_tables)
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return config


@pytest.fixture
def app(request, tmp_path, migrated_db):
    config = _fresh_database(tmp_path, migrated_db)
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


class Outbox:
    """Reads the development outbox, as a person would read their inbox."""

    def __init__(self, app):
        self.app = app

    def messages(self, channel=None, to=None) -> list[OutboxMessage]:
        with self.app.app_context():
            stmt = sa.select(OutboxMessage).order_by(OutboxMessage.id.desc())
            if channel:
                stmt = stmt.where(OutboxMessage.channel == channel)
            if to:
                stmt = stmt.where(OutboxMessage.recipient == to)
            rows = list(db.session.scalars(stmt))
            db.session.expunge_all()
            return rows

    def last_link(self, to=None) -> str:
        """The path of the newest link in the newest email (without the base URL)."""
        for message in self.messages("email", to):
            match = re.search(r"http://127\.0\.0\.1:5000(/\S+)", message.body)
            if match:
                return match.group(1)
        raise AssertionError("no link in the outbox")


@pytest.fixture
def outbox(app):
    return Outbox(app)


def csrf_token(client, path="/sign-in") -> str:
    """Fetch a page and return the CSRF token from its first form."""
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


class Auth:
    """Sign in and out through the real forms."""

    def __init__(self, client):
        self.client = client

    def sign_in(self, email="alice@example.com", password=PASSWORD, **kw):
        token = csrf_token(self.client)
        return self.client.post(
            "/sign-in", data={"email": email, "password": password, "csrf_token": token}, **kw
        )

    def sign_out(self):
        token = csrf_token(self.client, "/")
        return self.client.post("/sign-out", data={"csrf_token": token})


@pytest.fixture
def auth(client):
    return Auth(client)


def get_user(app, user_id) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


#: Frozen tests start here: 15 s into a 30-second TOTP time step, so one step
#: either side is unambiguous.
CLOCK_START = datetime(2025, 6, 2, 9, 0, 15, tzinfo=UTC).timestamp()


class Clock:
    """Frozen time that moves only when told (time-machine, ``tick=False``)."""

    def __init__(self, time_machine, start: float = CLOCK_START):
        self._tm = time_machine
        self._tm.move_to(start, tick=False)

    def now(self) -> float:
        """The frozen time, in seconds since the epoch."""
        return time.time()

    def shift(self, seconds: float) -> None:
        """Move the frozen time by ``seconds``."""
        self._tm.shift(seconds)


@pytest.fixture
def clock(time_machine):
    """Frozen time at :data:`CLOCK_START`."""
    return Clock(time_machine)
