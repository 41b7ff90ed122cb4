"""Revocable server-side sessions.

Flask's default session is a signed cookie: it cannot be revoked, so a copy
taken before sign-out would still work after it. Here the cookie carries only
a random token (256 bits); the session lives in the ``sessions`` table under
the token's SHA-256. Each request loads it, with the user, in one primary-key
query, and writes nothing unless the data changed or "last seen" is more than
``SESSION_TOUCH_INTERVAL`` seconds old.

An anonymous visitor's session holds at most a CSRF token, flashed messages
and the page to return to after sign-in (:data:`COOKIE_KEYS`). That much
travels in the same cookie, signed (itsdangerous, HMAC with ``SECRET_KEY``)
instead of a row: showing the sign-in form writes nothing to the database, a
crawler cannot fill the table, and sign-in saves a query and a delete. The
cookie is replaced by a fresh token at sign-in (no fixation), and any other
data (a password reset in progress, an email confirmation) moves the session
into a row. Anything that decides who is signed in lives only in rows.

Lifetimes (NIST SP 800-63B rev 4, section 2.2.3, AAL2): idle timeout
``SESSION_IDLE_TIMEOUT`` (1 hour) and absolute ``SESSION_ABSOLUTE_TIMEOUT``
(24 hours) from sign-in; a half-signed-in (``pending``) session lasts at most
``PENDING_SIGN_IN_TIMEOUT`` (10 minutes). All are enforced here, on the server.

Factors: each row records how many factors its sign-in showed; the rules of
what that allows live in :mod:`hubweb.session_factors`. A session
ended by a lifetime or by those rules is deleted at its next request, which
says why; a POST from it is sent to sign-in (:func:`init_app`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import g, request, url_for
from flask.sessions import SessionInterface, SessionMixin
from itsdangerous import BadData, URLSafeTimedSerializer
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import contains_eager
from werkzeug.datastructures import CallbackDict

from .extensions import client_ip, db
from .models import Authenticator, User, UserSession
from .session_factors import why_short
from .session_states import (  # noqa: F401 - the states are re-exported from here
    ANONYMOUS,
    ENDED,
    PENDING,
    SESSION_EXPIRED,
    SIGN_IN_EXPIRED,
    SIGNED_IN,
    session_data,
)
from .timeutil import utcnow

#: The keys an anonymous session may keep in a signed cookie instead of a row.
COOKIE_KEYS = frozenset({"csrf_token", "_flashes", "next"})
#: The longest signed cookie value sent; browsers keep at least 4,096 bytes a
#: cookie (RFC 6265 section 6.1), name and attributes included.
COOKIE_MAX_BYTES = 3072
_COOKIE_SALT = "hubweb.anonymous-session"
#: The INSERT of a new session row, on the table (no ORM entity), built once: a
#: statement made per request with ``.values(...)`` costs about 0.8 ms of
#: building and cache-key work more, after the hash of the password step.
_INSERT = sa.insert(UserSession.__table__)


try:
    from psycopg.pq import TransactionStatus

    _PG_IDLE = TransactionStatus.IDLE
except ImportError:  # no PostgreSQL driver: SQLite only
    _PG_IDLE = None

#: The session lookup, built once: building a statement and its cache key costs
#: more than running it on SQLite. The account's factor rows come in the same
#: statement: the session check (what the account requires now) reads them on
#: every request.
_LOOKUP = (
    sa.select(UserSession, User)
    .outerjoin(User, User.id == UserSession.user_id)
    .outerjoin(Authenticator, Authenticator.user_id == User.id)
    .options(contains_eager(User.authenticators))
    .where(UserSession.id == sa.bindparam("session_id"))
)


def token_hash(token: str) -> str:
    """Return the SHA-256 hex digest (64 characters) of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


class ServerSession(CallbackDict, SessionMixin):
    """The session of one request: a dict of data plus who it belongs to.

    :ivar record: the :class:`UserSession` row, or ``None`` before first save.
    :ivar user: the :class:`User` of a ``pending`` or ``signed_in`` session.
    """

    def __init__(self, data=None, record: UserSession | None = None, user=None):
        def on_update(self):
            self.modified = True

        super().__init__(data or {}, on_update)
        self.record = record
        self.user: User | None = user
        self.state: str = record.state if record else ANONYMOUS
        #: Factors this session has shown: 0 anonymous, 1 password, 2 password
        #: and a second factor.
        self.factors: int = record.factors if record else 0
        self.modified = False
        self.new_token: str | None = None
        self.old_id: str | None = None
        #: True when the data came from a signed cookie (anonymous, no row).
        self.from_cookie = False
        #: True when the request's cookie leads nowhere (unknown, expired or
        #: forged): the reply deletes it unless it sets a new one.
        self.stale_cookie = False

    @property
    def id(self) -> str | None:
        """The stored id (token hash) of this session, or ``None`` if unsaved."""
        return self.record.id if self.record else None

    def start(self, user: User, state: str, factors: int) -> None:
        """Begin a new session for ``user`` in ``state``, under a fresh token.

        :param factors: the factors shown so far: 1 (password) or 2 (and a
            second factor).

        The old session row is deleted on save and its data dropped, so no
        token seen before sign-in (session fixation) stays valid after it.
        """
        if self.record is not None and self.old_id is None:
            self.old_id = self.record.id
        self.record = None
        self.clear()
        self.user, self.state, self.factors = user, state, factors
        self.new_token = secrets.token_urlsafe(32)
        self.modified = True

    def end(self) -> None:
        """Forget this session: its row is deleted and the cookie cleared."""
        if self.record is not None and self.old_id is None:
            self.old_id = self.record.id
        self.record = None
        self.clear()
        self.user, self.state, self.new_token = None, ANONYMOUS, None
        self.factors = 0
        self.modified = False


class ServerSessionInterface(SessionInterface):
    """Flask session interface backed by the ``sessions`` table."""

    def get_cookie_name(self, app) -> str:
        """``__Host-hubweb`` on https (Secure, host-only), else ``hubweb_session``."""
        return "__Host-hubweb" if secure_cookies(app) else "hubweb_session"

    def open_session(self, app, request) -> ServerSession:
        token = request.cookies.get(self.get_cookie_name(app))
        if token and "." in token:  # signed data; a token (token_urlsafe) has no "."
            return _from_cookie(app, token)
        if not token:
            return ServerSession()
        if len(token) > 128:
            return _stale()
        try:
            row = _lookup(token)
        except OperationalError:
            # The database is down: the request gets a clear 503 from the
            # error handlers (see hubweb.errors), not a bare 500 from here.
            db.session.rollback()
            g.database_down = True
            return ServerSession()
        if row is None:
            return _stale()
        record, user = row
        # Detached, so that a view's commit or rollback never expires it: the
        # row may be deleted meanwhile (signed out from another device).
        db.session.expunge(record)
        why = _why_ended(app, record, user)
        if why is not None:
            return _ended(record, why)
        return ServerSession(session_data(record), record, user)

    def save_session(self, app, session: ServerSession, response) -> None:
        if g.get("database_down") or g.get("password_busy"):
            return  # a refused password check changes nothing (hubweb.errors.password_busy)
        try:
            self._save(app, session, response)
        except SQLAlchemyError as exc:
            # The database went away after the view answered: the person gets
            # the 503 page, not a redirect that claims success (nor a 500).
            from .errors import database_down_reply

            db.session.rollback()
            database_down_reply(response, exc)

    def _save(self, app, session: ServerSession, response) -> None:
        name = self.get_cookie_name(app)
        now = utcnow()
        if session.old_id is not None:
            db.session.execute(sa.delete(UserSession).where(UserSession.id == session.old_id))
        if (session.record is None and not session.new_token and session.modified
                and session and COOKIE_KEYS.issuperset(session)):
            # Anonymous, with nothing but what a signed cookie may carry, unless
            # it is too long for one (a very long "next" address): then a row.
            value = _serializer(app).dumps(dict(session))
            if len(value) <= COOKIE_MAX_BYTES:
                if session.old_id is not None:
                    db.session.commit()
                response.set_cookie(name, value, **cookie_options(app))
                response.vary.add("Cookie")
                return
        if session.record is None and (session.new_token or (session.modified and session)):
            token = session.new_token or secrets.token_urlsafe(32)
            values = {
                "id": token_hash(token),
                "user_id": session.user.id if session.user else None,
                "state": session.state,
                "factors": session.factors,
                "data": json.dumps(dict(session)),
                "created_at": now,
                "last_seen_at": now,
                "ip": client_ip()[:64],
                "user_agent": user_agent(),
            }
            # A Core INSERT: the row is never read back, so the ORM's unit of
            # work would be pure overhead on the sign-in path; the statement is
            # built once (:data:`_INSERT`), not per request with its values.
            db.session.flush()  # the pending changes first, as an ORM statement would
            db.session.execute(_INSERT, values)
            db.session.commit()
            session.record = UserSession(**values)
            response.set_cookie(name, token, **cookie_options(app))
            response.vary.add("Cookie")
            return
        if session.record is None:
            if session.old_id is not None:
                db.session.commit()
            if (session.old_id is not None or session.stale_cookie
                    or (session.from_cookie and session.modified)):
                response.delete_cookie(name, **cookie_options(app))
            return
        values = {}
        if session.modified:
            values["data"] = json.dumps(dict(session))
        interval = timedelta(seconds=app.config["SESSION_TOUCH_INTERVAL"])
        if now - session.record.last_seen_at >= interval:
            values["last_seen_at"] = now
        if values:
            db.session.execute(
                sa.update(UserSession).where(UserSession.id == session.record.id).values(**values)
            )
            db.session.commit()

    def is_null_session(self, obj) -> bool:
        return False


def _lookup(token: str):
    """The ``(UserSession, User)`` row of ``token``, or ``None``.

    Run once more when the first try found its pooled connection dead (the
    database restarted): SQLAlchemy has then invalidated the pool, and a read
    is safe to repeat (:mod:`hubweb.pool`: connections in use are not pinged).

    :raises OperationalError: the database is unavailable.
    """
    params = {"session_id": token_hash(token)}
    try:
        return _read(params)
    except OperationalError as exc:
        if not exc.connection_invalidated:
            raise
        db.session.rollback()
    return _read(params)


def _read(params: dict):
    """Run the lookup; on PostgreSQL outside a transaction (autocommit), so that
    a request that only reads costs one round trip, not ``BEGIN``, the select
    and the ``ROLLBACK`` that returns the connection (psycopg sends nothing for
    a rollback with no transaction open). Under READ COMMITTED, PostgreSQL's
    default and hubweb's, every statement sees the data committed before it
    starts, in a transaction or not, so the lookup sees what it saw before; a
    view's writes open their own transaction as before."""
    conn = db.session.connection()
    raw = conn.connection.dbapi_connection if conn.dialect.name == "postgresql" else None
    if raw is None or raw.info.transaction_status != _PG_IDLE:
        return db.session.execute(_LOOKUP, params).unique().one_or_none()
    raw.autocommit = True
    try:
        return db.session.execute(_LOOKUP, params).unique().one_or_none()
    finally:
        if not raw.closed:
            raw.autocommit = False


def _why_ended(app, record: UserSession, user: User | None) -> str | None:
    """Why the session of ``record`` is over, as a message for the person
    ("" when there is nothing to say), or ``None`` while it may go on: past a
    lifetime, or short of what the account requires
    (:func:`hubweb.session_factors.why_short`)."""


    if _expired(app, record):
        return {SIGNED_IN: SESSION_EXPIRED, PENDING: SIGN_IN_EXPIRED}.get(
            record.state, "")
    return why_short(record, user) if user is not None else None


def _ended(record: UserSession, why: str) -> ServerSession:
    """Delete the row of a session that is over; an empty session that says why
    (on the next page) and deletes the cookie. Marks the request (``g``) so a
    POST is sent to sign-in instead of failing its CSRF check."""
    db.session.execute(sa.delete(UserSession).where(UserSession.id == record.id))
    db.session.commit()
    fresh = _stale()
    if why:
        fresh["_flashes"] = [["info", why]]
        g.session_ended = True
    return fresh


def init_app(app) -> None:
    """Send a form posted by a session that just ended (see :func:`_ended`) to
    sign-in: its CSRF token died with the session, and "sign in again" says
    more than "the form expired". Registered before CSRFProtect's check."""
    from .htmx import redirect_to

    @app.before_request
    def _session_ended():
        if g.get("session_ended") and request.method not in ("GET", "HEAD", "OPTIONS"):
            return redirect_to(url_for("auth.sign_in"))
        return None


def _stale() -> ServerSession:
    """An empty session for a request whose cookie leads nowhere; saving it
    deletes that cookie, so later requests do not look it up again."""
    session = ServerSession()
    session.stale_cookie = True
    return session


def _serializer(app) -> URLSafeTimedSerializer:
    """The signer of anonymous session cookies: itsdangerous, HMAC-SHA256 keyed
    by ``SECRET_KEY`` with a salt of its own (so no other value the app signs
    fits), and a timestamp for the age check."""
    return URLSafeTimedSerializer(app.secret_key, salt=_COOKIE_SALT,
                                  signer_kwargs={"digest_method": hashlib.sha256})


def _from_cookie(app, value: str) -> ServerSession:
    """The anonymous session in a signed cookie, or an empty one when the
    signature is wrong, the cookie was last signed more than
    ``SESSION_IDLE_TIMEOUT`` seconds ago, or it holds anything but
    :data:`COOKIE_KEYS`. One signed over ``SESSION_TOUCH_INTERVAL`` ago is
    marked modified, so the reply signs it again."""
    signed_at = None
    try:
        data, signed_at = _serializer(app).loads(
            value, max_age=app.config["SESSION_IDLE_TIMEOUT"], return_timestamp=True)
    except BadData:  # a wrong or expired signature, or a payload that does not decode
        data = None
    if not _cookie_data_ok(data):
        return _stale()
    session = ServerSession(data)
    session.from_cookie = True
    if data and signed_at is not None:
        # Signed again (a fresh timestamp) at most once a touch interval, so the
        # idle timeout counts from the last visit, as "last seen" does for rows.
        age = (utcnow() - signed_at).total_seconds()
        session.modified = age >= app.config["SESSION_TOUCH_INTERVAL"]
    return session


def _cookie_data_ok(data) -> bool:
    """True when ``data`` has only :data:`COOKIE_KEYS`, each of the shape the app
    writes: ``csrf_token`` and ``next`` strings, ``_flashes`` a list of
    ``[category, message]`` string pairs. Anything else is ignored, whoever
    signed it, so it can never reach a view."""
    if not isinstance(data, dict) or not COOKIE_KEYS.issuperset(data):
        return False
    if not all(isinstance(data[k], str) for k in ("csrf_token", "next") if k in data):
        return False
    flashes = data.get("_flashes", [])
    return isinstance(flashes, list) and all(
        isinstance(f, list) and len(f) == 2 and all(isinstance(x, str) for x in f)
        for f in flashes)


def secure_cookies(app) -> bool:
    """True when ``BASE_URL`` is https: cookies are then ``Secure`` with a ``__Host-`` name."""
    return str(app.config["BASE_URL"]).startswith("https://")


def cookie_options(app) -> dict:
    """The attributes of the portal's cookies: ``Path=/``, no ``Domain``, ``HttpOnly``,
    ``SameSite=Lax``, ``Secure`` on https."""
    return {"path": "/", "httponly": True, "samesite": "Lax", "secure": secure_cookies(app)}


def user_agent() -> str:
    """The request's User-Agent, at most 512 characters, without NUL (PostgreSQL
    text cannot hold it)."""
    return (request.headers.get("User-Agent") or "").replace("\x00", "")[:512]


def _expired(app, record: UserSession) -> bool:
    now = utcnow()
    cfg = app.config
    if record.state == PENDING:
        return now - record.created_at > timedelta(seconds=cfg["PENDING_SIGN_IN_TIMEOUT"])
    if now - record.last_seen_at > timedelta(seconds=cfg["SESSION_IDLE_TIMEOUT"]):
        return True
    return now - record.created_at > timedelta(seconds=cfg["SESSION_ABSOLUTE_TIMEOUT"])


def end_user_sessions(user_id: int, keep: str | None = None) -> int:
    """Delete every session of a user except the one whose id is ``keep``.

    :param user_id: the account's id.
    :param keep: a session id (token hash) to spare, usually the current one.
    :return: the number of sessions ended. The caller commits.
    """
    stmt = sa.delete(UserSession).where(UserSession.user_id == user_id)
    if keep is not None:
        stmt = stmt.where(UserSession.id != keep)
    return db.session.execute(stmt).rowcount


def purge_expired(app) -> int:
    """Delete every session past its idle, absolute or pending lifetime.

    :return: the number of rows deleted. Run from cron via ``flask sessions purge``.
    """
    cfg, now = app.config, utcnow()
    idle = now - timedelta(seconds=cfg["SESSION_IDLE_TIMEOUT"])
    absolute = now - timedelta(seconds=cfg["SESSION_ABSOLUTE_TIMEOUT"])
    pending = now - timedelta(seconds=cfg["PENDING_SIGN_IN_TIMEOUT"])
    result = db.session.execute(
        sa.delete(UserSession).where(
            sa.or_(
                UserSession.last_seen_at < idle,
                UserSession.created_at < absolute,
                sa.and_(UserSession.state == PENDING, UserSession.created_at < pending),
            )
        )
    )
    db.session.commit()
    return result.rowcount
