"""Shared fixtures: ``app``, ``client``, ``runner``, ``make_user``, ``auth``, ``outbox``.

Each test gets its own SQLite file, copied from a template that the real
Alembic migrations built once per run, so tests exercise the migrations and
stay fast. ``@pytest.mark.settings(KEY=value)`` overrides config per test.
"""

from __future__ import annotations

import re
import shutil

import pytest
import sqlalchemy as sa

from hubweb import create_app
from hubweb.extensions import db
from hubweb.models import OutboxMessage, User

PASSWORD = "correct horse battery staple"
CHEAP_ARGON2 = {"ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 1024, "ARGON2_PARALLELISM": 1}


def base_config(tmp_path, db_file) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key",
        "DATABASE_URL": f"sqlite:///{db_file}",
        "ENCRYPTION_KEYS": ["k2pGmHc1bq2Vb0Ij2d3LhS2Jbm0bXy6Vq8n2d3tqPaE="],
        "RATELIMIT_ENABLED": True,
        **CHEAP_ARGON2,
    }


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory):
    """A SQLite file with the schema built by ``flask db upgrade``."""
    from flask_migrate import upgrade

    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    app = create_app(base_config(path.parent, path))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    return path


@pytest.fixture
def app(request, tmp_path, migrated_db):
    db_file = tmp_path / "hubweb.sqlite3"
    shutil.copy(migrated_db, db_file)
    config = base_config(tmp_path, db_file)
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
