"""Dead database connections, found without a round trip per request.

SQLAlchemy's ``pool_pre_ping`` pings every connection at every checkout: on
PostgreSQL one more round trip per request, for a connection that was in use
milliseconds earlier. Here (SQLAlchemy's docs, "Dealing with Disconnects":
the pessimistic check, narrowed, plus the optimistic one):

- a connection that has rested in the pool more than :data:`PING_AFTER_IDLE`
  seconds is pinged at checkout, and replaced when the ping fails (a database
  restarted while the portal was quiet costs nobody a 503);
- a connection in steady use is not pinged. When the database went away under
  traffic, the first statement on a dead connection fails; SQLAlchemy then
  sees a disconnect and invalidates the whole pool, so every older connection
  is replaced at its next checkout. The statement that failed gives its request
  the 503 page, except the session lookup, which every signed-in request makes
  first: it is only a read, so it runs once more on a fresh connection
  (:func:`hubweb.sessions.ServerSessionInterface.open_session`).

``tests/ops/test_faults.py`` restarts PostgreSQL under traffic and checks the
503s stop once it is back; ``tests/ops/test_pool.py`` checks both rules.
"""

from __future__ import annotations

import time

from sqlalchemy import event
from sqlalchemy.exc import InvalidatePoolError

#: Seconds a connection may rest in the pool before its next checkout pings it.
PING_AFTER_IDLE = 5.0
_RESTED = "hubweb_checked_in_at"


def install(engine) -> None:
    """Ping ``engine``'s connections at checkout only after :data:`PING_AFTER_IDLE`
    seconds in the pool; a failed ping replaces the connection (and, as with
    ``pool_pre_ping``, every connection older than it)."""

    @event.listens_for(engine, "checkin")
    def _rested_from(_dbapi_connection, record):
        record.info[_RESTED] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_rested(dbapi_connection, record, _proxy):
        since = record.info.pop(_RESTED, None)
        if since is None or time.monotonic() - since <= PING_AFTER_IDLE:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise InvalidatePoolError(str(exc)) from exc
        if not alive:
            raise InvalidatePoolError("ping failed")
