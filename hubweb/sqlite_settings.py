"""SQLite connection settings: a write-ahead log, synced at every commit.

Applied to every new SQLite connection of every engine in the process (a
``connect`` event on :class:`sqlalchemy.engine.Engine`, registered when
:mod:`hubweb.extensions` is imported), so the app, the migrations and the
command-line tools all open the file alike. Other databases are not touched.

- ``journal_mode=WAL``: a commit appends its pages to ``<file>-wal`` and syncs
  that one file, where SQLite's default rollback journal syncs the journal,
  the database and the journal's deletion: 4-10 ms a commit on the bench
  machine's disk against 0.1-0.4 ms, the largest part of the password step
  after the hash (README, "Performance", figure 8a). Readers no longer wait
  for a writer, nor a writer for readers (https://www.sqlite.org/wal.html).
  The mode is stored in the file; the setting returns the mode in force
  (``memory`` for an in-memory database, which has no file to log to).
- ``synchronous=FULL``: in WAL mode the log is synced at every commit, so a
  committed change (a new password, "sign out of all other sessions", a used
  recovery code) survives a power loss or an operating-system crash.
  ``NORMAL`` would sync only at checkpoints and could lose the last commits:
  a revoked session could come back (https://www.sqlite.org/pragma.html#pragma_synchronous).

The database is then the file and, while it is open, its ``-wal`` and
``-shm`` files beside it (the folder must be writable, and on a local disk:
WAL needs shared memory). Copy a live database with ``sqlite3 FILE ".backup
COPY"``, not by copying the file alone; the last connection to close folds
the log back into the file and removes it.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import Engine

#: The statements run on each new SQLite connection, in order.
PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL")


@event.listens_for(Engine, "connect")
def _on_connect(dbapi_connection, _record) -> None:
    """Set :data:`PRAGMAS` on a new SQLite connection (any other kind is left alone)."""
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    try:
        for statement in PRAGMAS:
            cursor.execute(statement).fetchall()
    finally:
        cursor.close()
