"""hubweb: a self-hosted account portal with two-step verification."""

from __future__ import annotations

import logging
from pathlib import Path

from flask import Flask, session

from . import config, errors, headers, htmx, logredact
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
    logging.basicConfig(level=logging.INFO)
    logredact.install()

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(app.root_path).parent / "migrations"),
                     render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.session_protection = None  # the server-side session is the protection
    app.session_interface = ServerSessionInterface()

    @login_manager.request_loader
    def _load_user(_request):
        return session.user if session.state == SIGNED_IN else None

    from . import auth, cli, outbox, settings, views
    from .twostep import models as _twostep_models  # noqa: F401 - register the tables

    app.register_blueprint(views.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(settings.bp)
    if outbox.enabled(app):
        app.register_blueprint(outbox.bp)
    cli.init_app(app)
    htmx.init_app(app)
    headers.init_app(app)
    errors.init_app(app)

    from .twostep.phone import mask_phone

    app.add_template_filter(mask_phone, "mask_phone")

    @app.context_processor
    def _globals():
        return {"dev_outbox": outbox.enabled(app), "portal": app.config["PORTAL_NAME"]}

    return app
