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
