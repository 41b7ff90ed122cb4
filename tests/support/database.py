"""The test database: config for one app, throwaway PostgreSQL databases.

Each test gets its own SQLite file, copied from a template that the real
Alembic migrations built once per run. With ``HUBWEB_TEST_BACKEND=postgres``
one throwaway PostgreSQL database per test process is built by the migrations
and emptied (TRUNCATE) before each test, and Flask-Limiter stores in Redis.
"""

from __future__ import annotations

import os
import shutil
import uuid

import sqlalchemy as sa

from hubweb.extensions import db

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


def fresh_database(tmp_path, migrated_db) -> dict:
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
