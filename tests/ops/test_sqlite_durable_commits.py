"""SQLite: every connection logs ahead and syncs each commit (hubweb.sqlite_settings).

A committed change (a new password, "sign out of all other sessions") must survive a
power loss: ``synchronous=FULL`` in WAL mode syncs the log at every commit. And with the
log, a commit does not wait for a reader, nor a reader for a commit.
"""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa

from hubweb.extensions import db

#: SQLite's own settings: the SQLite pass runs them (``make test``'s PostgreSQL pass
#: deselects the marker), where the ``app`` fixture's database is a SQLite file.
pytestmark = pytest.mark.sqlite

FULL = 2  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


def _settings(connection) -> tuple[str, int]:
    return (connection.execute("PRAGMA journal_mode").fetchone()[0],
            connection.execute("PRAGMA synchronous").fetchone()[0])


def test_every_app_connection_is_in_wal_mode_with_full_sync(app):
    with app.app_context():
        first, second = db.engine.raw_connection(), db.engine.raw_connection()
        try:
            assert _settings(first) == ("wal", FULL)
            assert _settings(second) == ("wal", FULL)
        finally:
            first.close()
            second.close()


def test_another_engine_on_the_file_gets_the_same_settings(app):
    """The command-line tools and migrations open the file through their own engines."""
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == FULL
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    finally:
        engine.dispose()


def test_a_commit_does_not_wait_for_a_reader(app, make_user):
    """A reader in the middle of its transaction keeps its snapshot; the writer commits at
    once (with a rollback journal it would wait for the reader, then fail: locked)."""
    uid = make_user("alice@example.com")
    with app.app_context():
        reader, writer = db.engine.raw_connection(), db.engine.raw_connection()
        try:
            reader.execute("BEGIN")
            before = reader.execute("SELECT password_failures FROM users WHERE id = ?",
                                    (uid,)).fetchone()[0]
            writer.execute("PRAGMA busy_timeout = 200")  # ms: a lock would fail fast
            writer.execute("UPDATE users SET password_failures = password_failures + 1 "
                           "WHERE id = ?", (uid,))
            writer.commit()
            assert reader.execute("SELECT password_failures FROM users WHERE id = ?",
                                  (uid,)).fetchone()[0] == before
            reader.rollback()
            assert reader.execute("SELECT password_failures FROM users WHERE id = ?",
                                  (uid,)).fetchone()[0] == before + 1
        finally:
            reader.close()
            writer.close()


def test_a_committed_change_is_in_the_file_after_every_connection_closed(app, make_user,
                                                                         tmp_path):
    """The last connection to close folds the log into the database file, so a copy of
    the file alone (as the test template is made) holds every commit."""
    uid = make_user("bob@example.com")
    with app.app_context():
        db.session.execute(sa.text("UPDATE users SET password_failures = 7 WHERE id = :id"),
                           {"id": uid})
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    path = app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")
    copy = tmp_path / "copy.sqlite3"
    copy.write_bytes(open(path, "rb").read())  # noqa: PTH123, SIM115 - the bytes alone
    with sqlite3.connect(copy) as conn:
        assert conn.execute("SELECT password_failures FROM users WHERE id = ?",
                            (uid,)).fetchone()[0] == 7
