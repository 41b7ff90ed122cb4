"""The schema is built only by the migrations: they must agree with the models.

``alembic.autogenerate.compare_metadata`` compares the database that
``flask db upgrade`` built with the models' metadata (types included); any
difference is a migration someone forgot to write.
"""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from hubweb import create_app
from hubweb.extensions import db


@pytest.fixture(autouse=True)
def _restore_logging():
    """Undo what ``migrations/env.py``'s ``fileConfig()`` does to logging.

    It disables every logger that exists at that moment and resets the root
    logger, which would silence the app's loggers for the tests that follow.
    """
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    disabled = {name: logger.disabled
                for name, logger in logging.root.manager.loggerDict.items()
                if isinstance(logger, logging.Logger)}
    yield
    root.setLevel(level)
    root.handlers[:] = handlers
    for name, logger in logging.root.manager.loggerDict.items():
        if isinstance(logger, logging.Logger):
            logger.disabled = disabled.get(name, False)


def make_app(database_url: str):
    return create_app({
        "TESTING": True,
        "SECRET_KEY": "test",
        "ENCRYPTION_KEYS": ["k2pGmHc1bq2Vb0Ij2d3LhS2Jbm0bXy6Vq8n2d3tqPaE="],
        "DATABASE_URL": database_url,
    })


def schema_diff(app) -> list:
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "compare_server_default": False})
        return compare_metadata(context, db.metadata)


def tables(app) -> set[str]:
    with app.app_context():
        return set(sa.inspect(db.engine).get_table_names())


def check_migrations(app) -> None:
    """Upgrade, compare, downgrade to base, upgrade again, compare again."""
    model_tables = set(db.metadata.tables)
    with app.app_context():
        upgrade()
    assert schema_diff(app) == [], "models and migrations differ: write a migration"
    assert tables(app) == model_tables | {"alembic_version"}

    with app.app_context():
        downgrade(revision="base")
    assert tables(app) <= {"alembic_version"}, "downgrade to base left tables behind"

    with app.app_context():
        upgrade()
    assert schema_diff(app) == []
    with app.app_context():
        db.engine.dispose()


def test_sqlite_migrations_match_the_models(tmp_path):
    check_migrations(make_app(f"sqlite:///{tmp_path / 'fresh.sqlite3'}"))


def test_single_head(tmp_path):
    """One line of history: two heads would make ``flask db upgrade`` refuse to run."""
    from alembic.script import ScriptDirectory

    app = make_app(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


@pytest.mark.postgres
def test_postgresql_migrations_match_the_models(pg_database):
    check_migrations(make_app(pg_database))


def test_the_comparison_would_see_a_forgotten_migration(tmp_path):
    """Guard against a vacuous check: a column or type the migrations lack is reported."""
    app = make_app(f"sqlite:///{tmp_path / 'fresh.sqlite3'}")
    with app.app_context():
        upgrade()
    changed = sa.MetaData()
    for table in db.metadata.tables.values():
        table.to_metadata(changed)
    changed.tables["users"].append_column(sa.Column("nickname", sa.String(40)))
    changed.tables["sessions"].c.ip.type = sa.String(10)
    with app.app_context(), db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, changed)
        db.engine.dispose()
    kinds = {entry[0] if isinstance(entry, tuple) else entry[0][0] for entry in diff}
    assert {"add_column", "modify_type"} <= kinds, diff


# --- data: the credential version and the session factors ---------------------------------

def _before_0006(app) -> str:
    """The revision just before 0006_credential_version (whatever it is after merges)."""
    from alembic.script import ScriptDirectory

    with app.app_context():
        config = app.extensions["migrate"].migrate.get_config()
    return ScriptDirectory.from_config(config).get_revision("0006_credential_version") \
        .down_revision


def check_factors_backfill(app) -> None:
    """Existing sessions get the factors they can be shown to have had: 2 for a
    sign-in after the account turned SMS on, else 1 (0 for anonymous rows)."""
    from datetime import UTC, datetime, timedelta

    from hubweb.timeutil import UTCDateTime

    on = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    users = sa.table("users", *(sa.column(c) for c in (
        "id", "email", "email_key", "password_hash", "sms_phone")),
        sa.column("created_at", UTCDateTime()), sa.column("password_changed_at", UTCDateTime()),
        sa.column("sms_enabled_at", UTCDateTime()))
    sessions = sa.table("sessions", *(sa.column(c) for c in (
        "id", "user_id", "state", "data", "ip", "user_agent")),
        sa.column("created_at", UTCDateTime()), sa.column("last_seen_at", UTCDateTime()))
    with app.app_context():
        upgrade(revision=_before_0006(app))
        with db.engine.begin() as conn:
            conn.execute(users.insert(), [
                {"id": 1, "email": "a@example.com", "email_key": "a@example.com",
                 "password_hash": "x", "sms_phone": "+447400123456", "sms_enabled_at": on,
                 "created_at": on, "password_changed_at": on},
                {"id": 2, "email": "b@example.com", "email_key": "b@example.com",
                 "password_hash": "x", "sms_phone": None, "sms_enabled_at": None,
                 "created_at": on, "password_changed_at": on}])
            conn.execute(sessions.insert(), [
                {"id": sid, "user_id": uid, "state": state, "data": "{}", "ip": "",
                 "user_agent": "", "created_at": on + timedelta(minutes=minutes),
                 "last_seen_at": on + timedelta(minutes=minutes)}
                for sid, uid, state, minutes in [
                    ("before", 1, "signed_in", -5), ("after", 1, "signed_in", 5),
                    ("pending", 1, "pending", 5), ("anonymous", None, "anonymous", 5),
                    ("no-2sv", 2, "signed_in", 5)]])
        upgrade()
        with db.engine.connect() as conn:
            factors = dict(conn.execute(sa.text("SELECT id, factors FROM sessions")).all())
            versions = set(conn.scalars(sa.text("SELECT credential_version FROM users")))
        assert factors == {"before": 1, "after": 2, "pending": 1, "anonymous": 0, "no-2sv": 1}
        assert versions == {0}
        with db.engine.begin() as conn:
            conn.execute(sa.text("UPDATE sessions SET state = 'ended' WHERE id = 'before'"))
        downgrade(revision=_before_0006(app))
        with db.engine.connect() as conn:
            left = set(conn.scalars(sa.text("SELECT id FROM sessions")))
        assert left == {"after", "pending", "anonymous", "no-2sv"}
        db.engine.dispose()


def test_sqlite_backfills_the_factors_of_existing_sessions(tmp_path):
    check_factors_backfill(make_app(f"sqlite:///{tmp_path / 'fresh.sqlite3'}"))


@pytest.mark.postgres
def test_postgresql_backfills_the_factors_of_existing_sessions(pg_database):
    check_factors_backfill(make_app(pg_database))
