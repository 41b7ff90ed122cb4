"""Settings: defaults, the ``HUBWEB_*`` environment, and checks at start-up.

Every setting in ../shared/CONTRACT.md is read with Flask's
``from_prefixed_env("HUBWEB")`` (``HUBWEB_X`` sets config ``X``; values are
JSON-decoded where they parse). :func:`validate` runs once in the app factory
so that a bad setting stops the start, never a request later.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

DEFAULTS: dict[str, object] = {
    "BASE_URL": "http://127.0.0.1:5000",
    "SMS_BACKEND": "console",
    "SMS_HTTP_URL": None,
    "SMS_HTTP_TOKEN": None,
    "SMS_HTTP_TIMEOUT": 10,
    "TWILIO_ACCOUNT_SID": None,
    "TWILIO_AUTH_TOKEN": None,
    "TWILIO_FROM": None,
    "MAIL_BACKEND": "console",
    "MAIL_SERVER": "localhost",
    "MAIL_PORT": 25,
    "MAIL_USE_TLS": False,
    "MAIL_USE_SSL": False,
    "MAIL_USERNAME": None,
    "MAIL_PASSWORD": None,
    "MAIL_DEFAULT_SENDER": "no-reply@localhost",
    "MAIL_TIMEOUT": 10,
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_HEADERS_ENABLED": True,
    "TOTP_ISSUER": "Business Hub",
    "PHONE_DEFAULT_REGION": None,
    "REQUIRE_EMAIL_CONFIRMATION": True,
    "PORTAL_NAME": "Business Hub",
    # Argon2id parameters; None means argon2-cffi's defaults (RFC 9106 low-memory).
    "ARGON2_TIME_COST": None,
    "ARGON2_MEMORY_COST": None,
    "ARGON2_PARALLELISM": None,
    # Session lifetimes in seconds (NIST SP 800-63B rev 4, AAL2 reauthentication).
    "SESSION_IDLE_TIMEOUT": 3600,
    "SESSION_ABSOLUTE_TIMEOUT": 24 * 3600,
    "SESSION_TOUCH_INTERVAL": 60,
    "PENDING_SIGN_IN_TIMEOUT": 600,
    # Flask-WTF: tokens live as long as the server session that holds them.
    "WTF_CSRF_TIME_LIMIT": None,
    "WTF_CSRF_SSL_STRICT": False,
    "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
    "MAX_CONTENT_LENGTH": 1024 * 1024,
}

_CHOICES = {
    "SMS_BACKEND": ("console", "http", "twilio"),
    "MAIL_BACKEND": ("console", "smtp"),
}


class ConfigError(RuntimeError):
    """A setting is missing or invalid; raised by :func:`validate` at start-up."""


def _instance_secret(path: Path, make) -> str:
    """Read a secret from the instance folder, creating it (mode 0600) once."""
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = make()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value + "\n")
    return value


def load(app, overrides: dict | None) -> None:
    """Fill ``app.config``: defaults, then ``HUBWEB_*``, then ``overrides``.

    Secrets not given are generated once into the instance folder, so that a
    restart keeps sessions and encrypted TOTP keys valid.
    """
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env("HUBWEB")
    if overrides:
        app.config.update(overrides)
    instance = Path(app.instance_path)
    cfg = app.config
    if not cfg.get("SECRET_KEY"):
        cfg["SECRET_KEY"] = _instance_secret(
            instance / "secret_key", lambda: secrets.token_urlsafe(48)
        )
    if not cfg.get("ENCRYPTION_KEYS"):
        key = _instance_secret(
            instance / "encryption_key", lambda: Fernet.generate_key().decode()
        )
        cfg["ENCRYPTION_KEYS"] = [key]
    if not cfg.get("DATABASE_URL"):
        instance.mkdir(parents=True, exist_ok=True)
        cfg["DATABASE_URL"] = f"sqlite:///{instance / 'hubweb.sqlite3'}"
    cfg["SQLALCHEMY_DATABASE_URI"] = cfg["DATABASE_URL"]
    # Flask-Mail and Flask-Limiter read their own names.
    cfg["MAIL_SUPPRESS_SEND"] = cfg["MAIL_BACKEND"] != "smtp"


def validate(cfg) -> None:
    """Check every setting once, raising :class:`ConfigError` with a clear text.

    :raises ConfigError: on an unknown backend, a bad URL, an issuer with ``:``
        (it separates issuer and account in the otpauth label, Google
        Authenticator Key Uri Format), a bad Fernet key, or a missing credential.
    """
    for name, choices in _CHOICES.items():
        if cfg[name] not in choices:
            raise ConfigError(
                f"HUBWEB_{name} must be one of {', '.join(choices)}; got {cfg[name]!r}"
            )
    base = urlsplit(str(cfg["BASE_URL"]))
    if base.scheme not in ("http", "https") or not base.hostname:
        raise ConfigError(
            f"HUBWEB_BASE_URL must be an http(s) URL; got {cfg['BASE_URL']!r}"
        )
    issuer = cfg["TOTP_ISSUER"]
    if not isinstance(issuer, str) or not issuer.strip() or ":" in issuer:
        raise ConfigError(
            "HUBWEB_TOTP_ISSUER must be non-empty text without ':' "
            f"(it separates issuer and account in authenticator apps); got {issuer!r}"
        )
    keys = cfg["ENCRYPTION_KEYS"]
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(keys, list) or not keys:
        raise ConfigError("HUBWEB_ENCRYPTION_KEYS must be a JSON list of Fernet keys")
    for key in keys:
        try:
            Fernet(key)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                "HUBWEB_ENCRYPTION_KEYS holds a value that is not a Fernet key "
                "(32 url-safe base64-encoded bytes)"
            ) from exc
    cfg["ENCRYPTION_KEYS"] = keys
    _validate_region(cfg)
    _validate_backends(cfg)
    for name in ("REQUIRE_EMAIL_CONFIRMATION", "MAIL_USE_TLS", "MAIL_USE_SSL"):
        if not isinstance(cfg[name], bool):
            raise ConfigError(f"HUBWEB_{name} must be true or false; got {cfg[name]!r}")
    if not isinstance(cfg["MAIL_PORT"], int):
        raise ConfigError(f"HUBWEB_MAIL_PORT must be a number; got {cfg['MAIL_PORT']!r}")


def _validate_region(cfg) -> None:
    region = cfg["PHONE_DEFAULT_REGION"]
    if region is None:
        return
    import phonenumbers

    if not isinstance(region, str) or region.upper() not in (
        phonenumbers.SUPPORTED_REGIONS
    ):
        raise ConfigError(
            "HUBWEB_PHONE_DEFAULT_REGION must be an ISO 3166 region code such as GB; "
            f"got {region!r}"
        )
    cfg["PHONE_DEFAULT_REGION"] = region.upper()


def _validate_backends(cfg) -> None:
    if cfg["SMS_BACKEND"] == "http" and not cfg["SMS_HTTP_URL"]:
        raise ConfigError("HUBWEB_SMS_BACKEND=http needs HUBWEB_SMS_HTTP_URL")
    if cfg["SMS_BACKEND"] == "twilio":
        missing = [
            f"HUBWEB_{n}"
            for n in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM")
            if not cfg[n]
        ]
        if missing:
            raise ConfigError(f"HUBWEB_SMS_BACKEND=twilio needs {', '.join(missing)}")

