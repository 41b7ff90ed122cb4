"""Settings: defaults, the ``HUBWEB_*`` environment, and checks at start-up.

Every setting in ../shared/CONTRACT.md is read with Flask's
``from_prefixed_env("HUBWEB")`` (``HUBWEB_X`` sets config ``X``; values are
JSON-decoded where they parse). :func:`validate` runs once in the app factory
so that a bad setting stops the start, never a request later.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

DEFAULTS: dict[str, object] = {
    "BASE_URL": "http://127.0.0.1:5000",
    # WebAuthn relying-party id; None: the host of BASE_URL.
    "WEBAUTHN_RP_ID": None,
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
    # Who delivers the smtp backend's mail queue: "inprocess" (a thread in each
    # web process) or "off" (only `flask mail work`). Unset: inprocess, but off
    # under TESTING (tests deliver explicitly).
    "MAIL_SENDER": None,
    "RATELIMIT_STORAGE_URI": "memory://",
    # No X-RateLimit-* headers: each costs the limiter's storage a round trip on
    # every limited request; a 429 still says Retry-After (hubweb.errors).
    "RATELIMIT_HEADERS_ENABLED": False,
    # Redis down: "open" lets requests through (limits then count per process,
    # in memory), "closed" answers 503 on the limited endpoints.
    "RATELIMIT_FAIL": "open",
    # Seconds to connect to and to wait for the limiter's Redis.
    "RATELIMIT_STORAGE_TIMEOUT": 2,
    # Trust X-Forwarded-For and X-Forwarded-Proto from this many proxies (0: none).
    "PROXY_FIX": 0,
    # Connection pool of each process for a server database (not SQLite).
    "DB_POOL_SIZE": 5,
    "DB_MAX_OVERFLOW": 2,
    "DB_POOL_TIMEOUT": 10,
    "DB_POOL_RECYCLE": 1800,
    "DB_CONNECT_TIMEOUT": 5,
    "TOTP_ISSUER": "Business Hub",
    "PHONE_DEFAULT_REGION": None,
    "REQUIRE_EMAIL_CONFIRMATION": True,
    # The console backends publish every email and SMS at /dev/outbox: with an
    # https BASE_URL (a real deployment) they are refused unless this is true.
    "ALLOW_CONSOLE_BACKENDS": False,
    "PORTAL_NAME": "Business Hub",
    # The languages offered, the default first (hubweb.i18n).
    "LANGUAGES": "en,de,fr,es,ru,ar",
    # Argon2id parameters; None means argon2-cffi's defaults (RFC 9106 low-memory).
    "ARGON2_TIME_COST": None,
    "ARGON2_MEMORY_COST": None,
    "ARGON2_PARALLELISM": None,
    # Admission control of password checks, per process (hubweb.admission): at
    # most PASSWORD_CHECKS at once, PASSWORD_QUEUE more waiting PASSWORD_WAIT
    # seconds each, then 503. None: computed from the cores, the memory and
    # the worker and thread counts (hubweb.admission.default_checks).
    "PASSWORD_CHECKS": None,
    "PASSWORD_QUEUE": None,
    "PASSWORD_WAIT": 2.0,
    # Niceness (Linux) of the threads that hash, so pages preempt them; 0: hash
    # in the request thread.
    "PASSWORD_NICENESS": 10,
    # Flask-Login's "remember me" cookie is never set here, but Flask-Login
    # reads it when present, ahead of the session. Under a __Host- name no
    # other host (a sibling subdomain) can plant one to sign people out.
    "REMEMBER_COOKIE_NAME": "__Host-hubweb-remember",
    # Session lifetimes in seconds (NIST SP 800-63B rev 4, AAL2 reauthentication).
    "SESSION_IDLE_TIMEOUT": 3600,
    "SESSION_ABSOLUTE_TIMEOUT": 24 * 3600,
    "SESSION_TOUCH_INTERVAL": 60,
    "PENDING_SIGN_IN_TIMEOUT": 600,
    # Days a browser may skip the second step of sign-in after "Don't ask again
    # on this browser" (hubweb.trusted_browsers); 0 turns the offer off.
    "TRUST_BROWSER_DAYS": 0,
    # Days security events, ended sessions, used links and codes and sent emails
    # are kept before `flask purge` deletes them (GDPR art. 5(1)(e)).
    "RETENTION_DAYS": 90,
    # Flask-WTF: tokens live as long as the server session that holds them.
    "WTF_CSRF_TIME_LIMIT": None,
    "WTF_CSRF_SSL_STRICT": False,
    # No pool_pre_ping: hubweb.pool pings only connections that rested in the pool.
    "SQLALCHEMY_ENGINE_OPTIONS": {},
    "MAX_CONTENT_LENGTH": 1024 * 1024,
}

_CHOICES = {
    "SMS_BACKEND": ("console", "http", "twilio"),
    "MAIL_BACKEND": ("console", "smtp"),
    "MAIL_SENDER": ("inprocess", "off"),
    "RATELIMIT_FAIL": ("open", "closed"),
}


#: Settings whose value is text even when it looks like JSON (``12345``, ``null``).
TEXT_SETTINGS = (
    "SECRET_KEY", "DATABASE_URL", "BASE_URL", "SMS_HTTP_URL", "SMS_HTTP_TOKEN",
    "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_FROM", "MAIL_SERVER",
    "MAIL_USERNAME", "MAIL_PASSWORD", "MAIL_DEFAULT_SENDER", "MAIL_SENDER",
    "RATELIMIT_STORAGE_URI",
    "RATELIMIT_KEY_PREFIX", "TOTP_ISSUER", "PHONE_DEFAULT_REGION", "PORTAL_NAME",
    "WEBAUTHN_RP_ID",
)


class ConfigError(RuntimeError):
    """A setting is missing or invalid; raised by :func:`validate` at start-up."""


def _instance_secret(path: Path, make) -> str:
    """Read a secret from the instance folder, creating it (mode 0600) once.

    Workers starting together race to create it: each writes a complete
    temporary file (mode 0600) and hard-links it into place, which succeeds
    for exactly one; every worker then reads that one file, so none fails with
    ``FileExistsError``, reads a half-written file, or keeps a secret of its own.
    """
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(make() + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path.read_text().strip()


def load(app, overrides: dict | None) -> None:
    """Fill ``app.config``: defaults, then ``HUBWEB_*``, then ``overrides``.

    Secrets not given are generated once into the instance folder, so that a
    restart keeps CSRF tokens, pending SMS codes and encrypted TOTP keys valid.
    """
    app.config.update(DEFAULTS)
    app.config.from_prefixed_env("HUBWEB")
    for name in TEXT_SETTINGS:
        # JSON decoding would turn a password "1e3" into 1000.0 and "null" into
        # None: a text setting keeps the text unless it decoded to a JSON string.
        raw = os.environ.get(f"HUBWEB_{name}")
        if raw is not None and not isinstance(app.config.get(name), str):
            app.config[name] = raw
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


def validate(cfg) -> None:
    """Check every setting once, raising :class:`ConfigError` with a clear text.

    :raises ConfigError: on an unknown backend, a bad URL, an issuer with ``:``
        (it separates issuer and account in the otpauth label, Google
        Authenticator Key Uri Format), a bad Fernet key, or a missing credential.
    """
    if cfg["MAIL_SENDER"] is None:
        cfg["MAIL_SENDER"] = "off" if cfg.get("TESTING") else "inprocess"
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
    _validate_sms_lengths(cfg, base.hostname)
    _validate_rp_id(cfg, base.hostname)
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
    _validate_languages(cfg)
    _validate_region(cfg)
    _validate_backends(cfg)
    _validate_console(cfg)
    for name in ("REQUIRE_EMAIL_CONFIRMATION", "MAIL_USE_TLS", "MAIL_USE_SSL",
                 "ALLOW_CONSOLE_BACKENDS"):
        if not isinstance(cfg[name], bool):
            raise ConfigError(f"HUBWEB_{name} must be true or false; got {cfg[name]!r}")
    port = cfg["MAIL_PORT"]
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConfigError(f"HUBWEB_MAIL_PORT must be a number from 1 to 65535; got {port!r}")
    # Used only when a mail or SMS is sent: check them now, not at that request.
    _number(cfg, "MAIL_TIMEOUT", 0.1, integer=False)
    _number(cfg, "SMS_HTTP_TIMEOUT", 0.1, integer=False)
    _number(cfg, "PROXY_FIX", 0)
    _validate_trust_days(cfg)
    # At least a day: the SMS send limits read a day of sent codes.
    _number(cfg, "RETENTION_DAYS", 1)
    _validate_database(cfg)
    _validate_limiter(cfg)
    _validate_password_admission(cfg)


def _validate_sms_lengths(cfg, host: str) -> None:
    """Keep the SMS code message within one SMS in every language: the host of
    ``BASE_URL`` (its origin-bound last line ``@host #code``) and the portal name
    it names have a longest length (:data:`hubweb.twostep.sms.MAX_HOST`,
    :data:`~hubweb.twostep.sms.MAX_PORTAL`).

    :raises ConfigError: when either is longer.
    """
    from .twostep.sms import MAX_HOST, MAX_PORTAL, gsm_septets

    if len(host) > MAX_HOST:
        raise ConfigError(
            f"HUBWEB_BASE_URL's host may have at most {MAX_HOST} characters (the SMS code "
            f"line names it, and each SMS must fit one message); got {host!r}"
        )
    portal = cfg["PORTAL_NAME"]
    septets = gsm_septets(portal) if isinstance(portal, str) and portal.strip() else None
    if septets is None or septets > MAX_PORTAL:
        raise ConfigError(
            f"HUBWEB_PORTAL_NAME must be non-empty text of at most {MAX_PORTAL} characters "
            "of the GSM 7-bit alphabet (it is named in each SMS, which must fit one "
            f"message; characters outside it would make every SMS UCS-2); got {portal!r}"
        )


def _validate_languages(cfg) -> None:
    """Parse ``HUBWEB_LANGUAGES`` into a list of tags (see :func:`hubweb.i18n.parse_languages`).

    :raises ConfigError: on an empty list or a tag hubweb has no catalog for.
    """
    from .i18n import parse_languages

    try:
        cfg["LANGUAGES"] = parse_languages(cfg["LANGUAGES"])
    except ValueError as exc:
        raise ConfigError(f"HUBWEB_LANGUAGES {exc}") from exc


#: The longest a browser may stay trusted, in days (hubweb.trusted_browsers).
MAX_TRUST_BROWSER_DAYS = 30


def _validate_trust_days(cfg) -> None:
    """Check ``HUBWEB_TRUST_BROWSER_DAYS``: a whole number from 0 (off) to
    :data:`MAX_TRUST_BROWSER_DAYS` (30).

    :raises ConfigError: on anything else (text, a fraction, a negative number, over 30).
    """
    value = cfg["TRUST_BROWSER_DAYS"]
    if isinstance(value, bool) or not isinstance(value, int) \
            or not 0 <= value <= MAX_TRUST_BROWSER_DAYS:
        raise ConfigError(
            f"HUBWEB_TRUST_BROWSER_DAYS must be a whole number of days from 0 (off) to "
            f"{MAX_TRUST_BROWSER_DAYS}; got {value!r}")


def _validate_rp_id(cfg, host: str) -> None:
    """``WEBAUTHN_RP_ID``: none (the base URL's host) or that host or a parent
    domain of it (:func:`rp_id_problem`)."""
    rp_id = cfg.get("WEBAUTHN_RP_ID")
    if rp_id in (None, ""):
        cfg["WEBAUTHN_RP_ID"] = None
        return
    problem = rp_id_problem(str(rp_id), host) if isinstance(rp_id, str) else "text"
    if problem:
        raise ConfigError(f"HUBWEB_WEBAUTHN_RP_ID must be {problem}; got {rp_id!r}")


def rp_id_problem(rp_id: str, host: str) -> str | None:
    """Why ``rp_id`` cannot serve a portal at ``host``, or ``None``.

    The RP id must be the host or a parent domain of it (WebAuthn Level 3
    section 5.1.3 step 8, "registrable domain suffix"); a parent must have at
    least two labels (no bare top-level domain; the public suffix list is not
    consulted, so ``co.uk`` would pass and browsers would then refuse it).
    """
    rp_id, host = rp_id.lower(), host.lower()
    if rp_id == host:
        return None
    if any(c in rp_id for c in ":/@ "):
        return "a host name only, without scheme, port or path"
    if not host.endswith("." + rp_id) or "." not in rp_id.strip("."):
        return "the host of HUBWEB_BASE_URL or a parent domain of it (two labels or more)"
    return None


def _number(cfg, name: str, minimum: float, integer: bool = True) -> None:
    """Check that setting ``name`` is a number (an integer) of at least ``minimum``."""
    value = cfg[name]
    kinds = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or value < minimum:
        kind = "a whole number" if integer else "a number"
        raise ConfigError(f"HUBWEB_{name} must be {kind} of at least {minimum}; got {value!r}")


def _validate_database(cfg) -> None:
    """Check the database URL; give a server database its connection pool settings.

    SQLite gets SQLAlchemy's own pool; a server database (PostgreSQL through
    psycopg 3) a bounded pool per process, so that ``workers x (DB_POOL_SIZE +
    DB_MAX_OVERFLOW)`` connections at most reach the server, and a connect
    timeout, so a database that does not answer fails a request instead of
    holding it. Keys given in ``SQLALCHEMY_ENGINE_OPTIONS`` win.
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(cfg["SQLALCHEMY_DATABASE_URI"])
    except ArgumentError as exc:
        raise ConfigError(
            "HUBWEB_DATABASE_URL must be an SQLAlchemy URL such as "
            "postgresql+psycopg://user@host/db"
        ) from exc
    _number(cfg, "DB_POOL_SIZE", 1)
    _number(cfg, "DB_MAX_OVERFLOW", 0)
    _number(cfg, "DB_POOL_TIMEOUT", 1)
    _number(cfg, "DB_POOL_RECYCLE", -1)
    _number(cfg, "DB_CONNECT_TIMEOUT", 1)
    explicit = dict(cfg["SQLALCHEMY_ENGINE_OPTIONS"] or {})
    if url.get_backend_name() == "sqlite":
        cfg["SQLALCHEMY_ENGINE_OPTIONS"] = explicit
        return
    options = {
        "pool_size": cfg["DB_POOL_SIZE"],
        "max_overflow": cfg["DB_MAX_OVERFLOW"],
        "pool_timeout": cfg["DB_POOL_TIMEOUT"],
        "pool_recycle": cfg["DB_POOL_RECYCLE"],
    }
    if url.get_backend_name() == "postgresql":
        options["connect_args"] = {"connect_timeout": cfg["DB_CONNECT_TIMEOUT"]}
    cfg["SQLALCHEMY_ENGINE_OPTIONS"] = {**options, **explicit}


def _validate_password_admission(cfg) -> None:
    """Fill in and check the admission control of password checks (:mod:`hubweb.admission`).

    ``PASSWORD_CHECKS`` (N) unset: :func:`hubweb.admission.default_checks` with
    the hash memory of ``ARGON2_MEMORY_COST``; ``PASSWORD_QUEUE`` (Q) unset:
    :func:`hubweb.admission.default_queue`.

    :raises ConfigError: N not a whole number of at least 1, Q not one of at
        least 0, ``PASSWORD_WAIT`` not a number of seconds from 0.1 to 30 (it
        holds a request thread, and gunicorn's worker timeout is 30 s), or
        ``PASSWORD_NICENESS`` not a whole number from 0 to 19 (setpriority(2)).
    """
    from .admission import default_checks, default_queue

    if cfg.get("PASSWORD_CHECKS") is None:
        memory_kib = cfg.get("ARGON2_MEMORY_COST") or 65536
        cfg["PASSWORD_CHECKS"] = default_checks(hash_mib=memory_kib / 1024)
    _number(cfg, "PASSWORD_CHECKS", 1)
    if cfg.get("PASSWORD_QUEUE") is None:
        cfg["PASSWORD_QUEUE"] = default_queue(cfg["PASSWORD_CHECKS"])
    _number(cfg, "PASSWORD_QUEUE", 0)
    _number(cfg, "PASSWORD_WAIT", 0.1, integer=False)
    if cfg["PASSWORD_WAIT"] > 30:
        raise ConfigError(
            f"HUBWEB_PASSWORD_WAIT must be at most 30 seconds; got {cfg['PASSWORD_WAIT']!r}")
    niceness = cfg["PASSWORD_NICENESS"]
    if isinstance(niceness, bool) or not isinstance(niceness, int) or not 0 <= niceness <= 19:
        raise ConfigError(
            f"HUBWEB_PASSWORD_NICENESS must be a whole number from 0 to 19; got {niceness!r}")


def _validate_limiter(cfg) -> None:
    """Map ``RATELIMIT_FAIL`` and ``RATELIMIT_STORAGE_TIMEOUT`` to Flask-Limiter's settings.

    ``open``: a storage error is swallowed and Flask-Limiter falls back to
    in-memory storage (``RATELIMIT_IN_MEMORY_FALLBACK_ENABLED``), so the limits
    still hold, per process, until Redis answers again (it re-checks with
    back-off). ``closed``: the error reaches the app, which answers 503 on the
    limited endpoints (see :func:`hubweb.create_app`).
    """
    fail_open = cfg["RATELIMIT_FAIL"] == "open"
    cfg["RATELIMIT_SWALLOW_ERRORS"] = fail_open
    cfg["RATELIMIT_IN_MEMORY_FALLBACK_ENABLED"] = fail_open
    _number(cfg, "RATELIMIT_STORAGE_TIMEOUT", 0.1, integer=False)
    prefix = cfg.get("RATELIMIT_KEY_PREFIX")
    prefix = cfg["RATELIMIT_KEY_PREFIX"] = "" if prefix is None else str(prefix)
    options = dict(cfg.get("RATELIMIT_STORAGE_OPTIONS") or {})
    if str(cfg["RATELIMIT_STORAGE_URI"]).startswith("redis"):
        timeout = cfg["RATELIMIT_STORAGE_TIMEOUT"]
        options.setdefault("socket_connect_timeout", timeout)
        options.setdefault("socket_timeout", timeout)
        if prefix:
            # limits' own key prefix too: its reset() deletes "<key_prefix>:*", so
            # without this a reset by one portal would clear every portal's counts
            # in a shared Redis.
            options.setdefault("key_prefix", f"LIMITS:{prefix}")
    cfg["RATELIMIT_STORAGE_OPTIONS"] = options


def _validate_console(cfg) -> None:
    """Refuse the development backends on what looks like a real deployment.

    The ``console`` mail and SMS backends show every message, reset links and
    codes included, on the development outbox page to anyone: with an https
    ``BASE_URL`` that would hand out every second factor.
    """
    console = [n for n in ("MAIL_BACKEND", "SMS_BACKEND") if cfg[n] == "console"]
    https = str(cfg["BASE_URL"]).startswith("https://")
    if console and https and cfg["ALLOW_CONSOLE_BACKENDS"] is not True:
        names = " and ".join(f"HUBWEB_{n}=console" for n in console)
        raise ConfigError(
            f"{names} publishes every message (reset links, SMS codes) on the development "
            "outbox page; refused with an https HUBWEB_BASE_URL. Configure "
            "HUBWEB_MAIL_BACKEND=smtp and HUBWEB_SMS_BACKEND=http or twilio, or set "
            "HUBWEB_ALLOW_CONSOLE_BACKENDS=true for a demonstration."
        )


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

