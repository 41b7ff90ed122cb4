"""hubweb: a self-hosted account portal with two-step verification."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, g, make_response, session
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from . import admission, config, errors, headers, htmx, i18n, logredact, pool, replies, sessions
from .extensions import csrf, db, limiter, login_manager, migrate
from .sessions import SIGNED_IN, ServerSessionInterface


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app: settings, extensions, blueprints, hooks.

    :param test_config: overrides applied after the ``HUBWEB_*`` environment.
    :raises config.ConfigError: on a bad setting, so a misconfigured portal
        refuses to start instead of failing at request time.
    """
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder="../templates",
        static_folder="../static",
    )
    config.load(app, test_config)
    config.validate(app.config)
    logging.getLogger("hubweb").setLevel(logging.INFO)
    logredact.install()

    i18n.init_app(app)
    admission.init_app(app)
    db.init_app(app)
    with app.app_context():
        pool.install(db.engine)
    _init_db_teardown(app)
    migrate.init_app(app, db, directory=str(Path(app.root_path).parent / "migrations"),
                     render_as_batch=True, compare_type=True)

    @app.before_request
    def _database_down():
        # The session could not be loaded (see hubweb.sessions): a clear 503,
        # not a signed-in person treated as signed out or a CSRF failure. First
        # of the request hooks, so before CSRFProtect's and the limiter's.
        if g.get("database_down"):
            return errors.error_reply(503)
        return None

    app.before_request(errors.refuse_unbounded_body)
    sessions.init_app(app)  # before CSRFProtect's check: see hubweb.sessions
    csrf.init_app(app)
    _init_limiter(app)
    login_manager.init_app(app)
    login_manager.session_protection = None  # the server-side session is the protection
    app.session_interface = ServerSessionInterface()

    @login_manager.request_loader
    def _load_user(_request):
        return session.user if session.state == SIGNED_IN else None

    from . import auth, cli, mailsender, outbox, settings, views
    from .twostep import models as _twostep_models  # noqa: F401 - register the tables

    app.register_blueprint(views.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(settings.bp)
    if outbox.enabled(app):
        app.register_blueprint(outbox.bp)
    _drop_idle_limiter_check(app)
    cli.init_app(app)
    mailsender.init_app(app)
    htmx.init_app(app)
    headers.init_app(app)
    replies.init_app(app)
    errors.init_app(app)

    from .twostep.phone import mask_phone

    app.add_template_filter(mask_phone, "mask_phone")

    @app.context_processor
    def _globals():
        return {"dev_outbox": outbox.enabled(app), "portal": app.config["PORTAL_NAME"]}

    hops = app.config["PROXY_FIX"]
    if hops:
        # Trust X-Forwarded-For/-Proto only as set by the last `hops` proxies.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    return app


def _init_db_teardown(app: Flask) -> None:
    """End each request's database session even when its connection died.

    Flask-SQLAlchemy's own teardown rolls back; on a connection the server
    closed (a PostgreSQL restart) that rollback raises, the error escapes the
    WSGI app and gunicorn answers a bare 500 for a request that had already
    produced its reply. Teardown functions run last-registered first, so this
    one runs before Flask-SQLAlchemy's and leaves it nothing to do.
    """

    @app.teardown_appcontext
    def _end_db_session(_exc):
        try:
            db.session.remove()
        except SQLAlchemyError as exc:
            db.session.registry.clear()  # drop the broken session; the pool reconnects
            app.logger.warning("database session ended with an error: %s", exc)


def _drop_idle_limiter_check(app: Flask) -> None:
    """Remove Flask-Limiter's before-request check when it has nothing to check.

    Every limit here is a decorator on its view (``@limiter.limit``), and a
    decorated limit is checked by its decorator, not by the before-request hook
    (Flask-Limiter 4.1, ``_check_request_limit(in_middleware=True)`` resolves no
    decorated limits). The hook checks only application, default, blueprint,
    meta and in-memory-fallback limits, of which hubweb sets none; yet it costs
    every request a resolution of them. It stays whenever any is set (or when
    Flask-Limiter's attributes are not where 4.1 keeps them).
    """
    manager = limiter.limit_manager
    holders = ((manager, "application_limits"), (manager, "default_limits"),
               (manager, "_blueprint_limits"), (limiter, "_meta_limits"),
               (limiter, "_in_memory_fallback"))
    if any(getattr(obj, name, True) for obj, name in holders):
        return
    hooks = app.before_request_funcs.get(None, [])
    if limiter._check_request_limit in hooks:
        hooks.remove(limiter._check_request_limit)


def _init_limiter(app: Flask) -> None:
    """Initialise Flask-Limiter for ``app``, failing open or closed as configured.

    One :data:`~hubweb.extensions.limiter` serves every app made in a process,
    and Flask-Limiter 4.1 keeps some settings of the first ``init_app`` (error
    swallowing, in-memory fallback, key prefix, storage options) and whether it
    found the storage dead. Production makes one app per process; tests make
    many with different settings, so those are reset here first.
    """
    limiter.enabled = True
    limiter._swallow_errors = None
    limiter._in_memory_fallback_enabled = False
    limiter._fallback_limiter = None
    limiter._storage_dead = False
    limiter._key_prefix = ""
    limiter._storage_options = {}
    limiter._headers_enabled = None
    limiter.init_app(app)

    from limits.errors import StorageError
    from redis.exceptions import RedisError

    def _storage_down(exc):
        # Only with RATELIMIT_FAIL=closed does a storage error get here (open
        # swallows it), and only on the endpoints that have a limit.
        app.logger.error("rate limit storage unavailable: %s", exc)
        reply = make_response(errors.error_reply(503))
        reply.headers["Retry-After"] = "30"
        return reply

    app.register_error_handler(RedisError, _storage_down)
    app.register_error_handler(StorageError, _storage_down)
