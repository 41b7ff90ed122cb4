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
        upgrade(revision="0006_credential_version")
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


# --- data: the factor columns of users move into authenticators -----------------------------

def check_authenticators_move(app) -> None:
    """0007 moves each account's SMS number, app key (with its last time step)
    and pending key into rows of ``authenticators``, unchanged, and its
    downgrade moves them back; accounts without factors get no rows."""
    from datetime import UTC, datetime

    from hubweb.timeutil import UTCDateTime

    on, key_on, pending = (datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
                           datetime(2026, 11, 2, 9, 30, tzinfo=UTC),
                           datetime(2026, 11, 3, 8, 15, tzinfo=UTC))
    factor_columns = ("sms_phone", "sms_enabled_at", "totp_secret", "totp_enabled_at",
                      "totp_last_step", "totp_pending_secret", "totp_pending_at")
    users = sa.table("users", *(sa.column(c) for c in (
        "id", "email", "email_key", "password_hash", "sms_phone", "totp_secret",
        "totp_last_step", "totp_pending_secret")),
        *(sa.column(c, UTCDateTime()) for c in (
            "created_at", "password_changed_at", "sms_enabled_at", "totp_enabled_at",
            "totp_pending_at")))
    base = {"password_hash": "x", "created_at": on, "password_changed_at": on,
            **dict.fromkeys(factor_columns)}
    rows = [
        {**base, "id": 1, "email": "both@example.com", "sms_phone": "+447400123456",
         "sms_enabled_at": on, "totp_secret": "gAAAA-active", "totp_enabled_at": key_on,
         "totp_last_step": 59_000_123, "totp_pending_secret": "gAAAA-pending",
         "totp_pending_at": pending},
        {**base, "id": 2, "email": "sms@example.com", "sms_phone": "+33612345678",
         "sms_enabled_at": key_on},
        {**base, "id": 3, "email": "none@example.com"},
    ]
    for row in rows:
        row["email_key"] = row["email"]
    with app.app_context():
        upgrade(revision="0006_credential_version")
        with db.engine.begin() as conn:
            conn.execute(users.insert(), rows)
        upgrade(revision="0007_authenticators")
        table = sa.table("authenticators", *(sa.column(c) for c in (
            "user_id", "kind", "lookup", "secret", "last_step", "name", "data")),
            *(sa.column(c, UTCDateTime()) for c in ("created_at", "enabled_at", "last_used_at")))
        with db.engine.connect() as conn:
            moved = [tuple(r) for r in conn.execute(sa.select(
                table.c.user_id, table.c.kind, table.c.lookup, table.c.secret,
                table.c.last_step, table.c.created_at, table.c.enabled_at, table.c.last_used_at,
                table.c.name, table.c.data).order_by(table.c.user_id, table.c.kind,
                                                     table.c.created_at))]
            columns = {c["name"] for c in sa.inspect(conn).get_columns("users")}
        assert moved == [
            (1, "app", None, "gAAAA-active", 59_000_123, key_on, key_on, None, "", "{}"),
            (1, "app", None, "gAAAA-pending", None, pending, None, None, "", "{}"),
            (1, "sms", "+447400123456", None, None, on, on, None, "", "{}"),
            (2, "sms", "+33612345678", None, None, key_on, key_on, None, "", "{}"),
        ]
        assert not columns & set(factor_columns)

        downgrade(revision="0006_credential_version")
        with db.engine.connect() as conn:
            back = {r.id: {c: getattr(r, c) for c in factor_columns}
                    for r in conn.execute(sa.select(users).order_by(users.c.id))}
        assert back == {row["id"]: {c: row[c] for c in factor_columns} for row in rows}
        db.engine.dispose()


def test_sqlite_moves_factor_columns_into_authenticators(tmp_path):
    check_authenticators_move(make_app(f"sqlite:///{tmp_path / 'fresh.sqlite3'}"))


@pytest.mark.postgres
def test_postgresql_moves_factor_columns_into_authenticators(pg_database):
    check_authenticators_move(make_app(pg_database))
