"""Settings: the ``HUBWEB_*`` environment, checks at start-up, secrets in the instance folder.

Every app here is built with its instance folder in a temporary directory
(``Flask.auto_find_instance_path`` is patched), so no test writes into the
project's ``instance/``.
"""

from __future__ import annotations

import os
import stat
import threading
import time

import pytest
from cryptography.fernet import Fernet
from flask import Flask

from hubweb import config, create_app
from hubweb.config import ConfigError

GOOD_KEY = "TeYPj0AXcdUDnS5VP6BN1xByAVhGB885fu3tEsz6Y7s="  # fixed: test ids must not vary


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """No HUBWEB_* from the outside; the instance folder in tmp_path."""
    for name in list(os.environ):
        if name.startswith("HUBWEB_"):
            monkeypatch.delenv(name)
    instance = tmp_path / "instance"
    monkeypatch.setattr(Flask, "auto_find_instance_path", lambda self: str(instance))
    return instance


def make(tmp_path, **overrides) -> Flask:
    settings = {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "ENCRYPTION_KEYS": [GOOD_KEY],
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    settings.update(overrides)
    return create_app({k: v for k, v in settings.items() if v is not ...})


# -- bad settings stop the start ----------------------------------------------------------

BAD = [
    ("TOTP_ISSUER", "Acme:Corp", "without ':'"),
    ("TOTP_ISSUER", "", "non-empty"),
    ("TOTP_ISSUER", "   ", "non-empty"),
    ("SMS_BACKEND", "carrier-pigeon", "one of console, http, twilio"),
    ("MAIL_BACKEND", "sendmail", "one of console, smtp"),
    ("MAIL_SENDER", "thread", "one of inprocess, off"),
    ("BASE_URL", "ftp://portal.example.com", "http(s) URL"),
    ("BASE_URL", "portal.example.com", "http(s) URL"),
    ("BASE_URL", "http://", "http(s) URL"),
    ("BASE_URL", "", "http(s) URL"),
    ("ENCRYPTION_KEYS", ["not-a-fernet-key"], "not a Fernet key"),
    ("ENCRYPTION_KEYS", [GOOD_KEY, "c2hvcnQ="], "not a Fernet key"),
    ("ENCRYPTION_KEYS", "not-a-fernet-key", "not a Fernet key"),
    ("ENCRYPTION_KEYS", {"key": GOOD_KEY}, "JSON list of Fernet keys"),
    ("PHONE_DEFAULT_REGION", "XX", "ISO 3166"),
    ("PHONE_DEFAULT_REGION", "United Kingdom", "ISO 3166"),
    ("PHONE_DEFAULT_REGION", 44, "ISO 3166"),
    ("REQUIRE_EMAIL_CONFIRMATION", "maybe", "true or false"),
    ("MAIL_USE_TLS", "yes", "true or false"),
    ("MAIL_PORT", "twenty-five", "number"),
    ("MAIL_PORT", True, "number"),
    ("MAIL_PORT", 0, "number"),
    ("MAIL_PORT", 70000, "number"),
    ("MAIL_TIMEOUT", "slow", "number"),
    ("MAIL_TIMEOUT", 0, "number"),
    ("SMS_HTTP_TIMEOUT", "slow", "number"),
    ("TRUST_BROWSER_DAYS", 31, "from 0 (off) to 30"),
    ("TRUST_BROWSER_DAYS", -1, "from 0 (off) to 30"),
    ("TRUST_BROWSER_DAYS", 1.5, "whole number of days"),
    ("TRUST_BROWSER_DAYS", "week", "whole number of days"),
    ("TRUST_BROWSER_DAYS", True, "whole number of days"),
]


@pytest.mark.parametrize(("name", "value", "says"), BAD,
                         ids=[f"{n}={v!r}" for n, v, _ in BAD])
def test_bad_setting_stops_the_start_with_a_clear_message(tmp_path, name, value, says):
    with pytest.raises(ConfigError) as info:
        make(tmp_path, **{name: value})
    message = str(info.value)
    assert f"HUBWEB_{name}" in message, message
    assert says in message, message


def test_http_sms_backend_needs_its_url(tmp_path):
    with pytest.raises(ConfigError, match="HUBWEB_SMS_BACKEND=http needs HUBWEB_SMS_HTTP_URL"):
        make(tmp_path, SMS_BACKEND="http")
    app = make(tmp_path, SMS_BACKEND="http", SMS_HTTP_URL="https://sms.example.com/send")
    assert app.config["SMS_HTTP_URL"] == "https://sms.example.com/send"


def test_twilio_backend_names_every_missing_credential(tmp_path):
    with pytest.raises(ConfigError) as info:
        make(tmp_path, SMS_BACKEND="twilio", TWILIO_ACCOUNT_SID="AC123")
    message = str(info.value)
    assert "HUBWEB_TWILIO_AUTH_TOKEN" in message and "HUBWEB_TWILIO_FROM" in message
    assert "HUBWEB_TWILIO_ACCOUNT_SID" not in message
    make(tmp_path, SMS_BACKEND="twilio", TWILIO_ACCOUNT_SID="AC123",
         TWILIO_AUTH_TOKEN="secret", TWILIO_FROM="+15005550006")


def test_good_values_are_accepted_and_normalised(tmp_path):
    app = make(tmp_path, PHONE_DEFAULT_REGION="gb", ENCRYPTION_KEYS=GOOD_KEY,
               BASE_URL="https://portal.example.com", TOTP_ISSUER="Acme Corp",
               ALLOW_CONSOLE_BACKENDS=True)
    assert app.config["PHONE_DEFAULT_REGION"] == "GB"
    assert app.config["ENCRYPTION_KEYS"] == [GOOD_KEY]


@pytest.mark.parametrize("backend", ["MAIL_BACKEND", "SMS_BACKEND"])
def test_console_backends_are_refused_on_an_https_deployment(tmp_path, backend):
    real = {"MAIL_BACKEND": "smtp", "SMS_BACKEND": "http",
            "SMS_HTTP_URL": "https://gateway.example/sms"}
    settings = {**real, backend: "console", "BASE_URL": "https://portal.example.com"}
    with pytest.raises(ConfigError, match=f"HUBWEB_{backend}=console"):
        make(tmp_path, **settings)
    assert make(tmp_path, **settings, ALLOW_CONSOLE_BACKENDS=True)
    assert make(tmp_path, **real, BASE_URL="https://portal.example.com")
    assert make(tmp_path, **{**settings, "BASE_URL": "http://127.0.0.1:5000"})


def test_trusted_browsers_are_off_by_default_and_take_up_to_30_days(tmp_path, monkeypatch):
    assert make(tmp_path).config["TRUST_BROWSER_DAYS"] == 0
    monkeypatch.setenv("HUBWEB_TRUST_BROWSER_DAYS", "30")
    assert make(tmp_path).config["TRUST_BROWSER_DAYS"] == 30
    monkeypatch.setenv("HUBWEB_TRUST_BROWSER_DAYS", "31")
    with pytest.raises(ConfigError, match="HUBWEB_TRUST_BROWSER_DAYS .* got 31"):
        make(tmp_path)


def test_bad_issuer_from_the_environment_stops_the_start(tmp_path, monkeypatch):
    monkeypatch.setenv("HUBWEB_TOTP_ISSUER", "Acme:Corp")
    with pytest.raises(ConfigError, match="HUBWEB_TOTP_ISSUER"):
        make(tmp_path)


# -- the HUBWEB_* environment ---------------------------------------------------------------


def test_environment_is_read(tmp_path, monkeypatch):
    monkeypatch.setenv("HUBWEB_TOTP_ISSUER", "Acme")
    monkeypatch.setenv("HUBWEB_REQUIRE_EMAIL_CONFIRMATION", "false")
    monkeypatch.setenv("HUBWEB_MAIL_PORT", "2525")
    monkeypatch.setenv("HUBWEB_MAIL_USE_TLS", "true")
    monkeypatch.setenv("HUBWEB_PHONE_DEFAULT_REGION", "GB")
    monkeypatch.setenv("HUBWEB_BASE_URL", "https://hub.example.com")
    monkeypatch.setenv("HUBWEB_ALLOW_CONSOLE_BACKENDS", "true")
    app = make(tmp_path)
    cfg = app.config
    assert cfg["TOTP_ISSUER"] == "Acme"
    assert cfg["REQUIRE_EMAIL_CONFIRMATION"] is False  # JSON-decoded, not the text "false"
    assert cfg["MAIL_PORT"] == 2525
    assert cfg["MAIL_USE_TLS"] is True
    assert cfg["PHONE_DEFAULT_REGION"] == "GB"
    assert cfg["BASE_URL"] == "https://hub.example.com"


def test_encryption_keys_from_the_environment_are_a_json_list(tmp_path, monkeypatch):
    old = Fernet.generate_key().decode()
    monkeypatch.setenv("HUBWEB_ENCRYPTION_KEYS", f'["{GOOD_KEY}", "{old}"]')
    app = make(tmp_path, ENCRYPTION_KEYS=...)
    assert app.config["ENCRYPTION_KEYS"] == [GOOD_KEY, old]


def test_factory_settings_win_over_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("HUBWEB_TOTP_ISSUER", "From Env")
    assert make(tmp_path, TOTP_ISSUER="From Test").config["TOTP_ISSUER"] == "From Test"


@pytest.mark.parametrize(("name", "text"), [
    ("MAIL_PASSWORD", "1e3"),
    ("MAIL_PASSWORD", "12345678"),
    ("MAIL_PASSWORD", "null"),
    ("MAIL_PASSWORD", "true"),
    ("MAIL_USERNAME", "42"),
    ("TOTP_ISSUER", "2024"),
    ("TWILIO_FROM", "15005550006"),
    ("SMS_HTTP_TOKEN", "0.50"),
])
def test_text_settings_keep_the_text_that_looks_like_json(tmp_path, monkeypatch, name, text):
    """JSON decoding must not turn a password like "1e3" into 1000.0 or "null" into None."""
    monkeypatch.setenv(f"HUBWEB_{name}", text)
    app = make(tmp_path)
    assert app.config[name] == text


def test_secret_key_from_the_environment_stays_text(tmp_path, monkeypatch):
    monkeypatch.setenv("HUBWEB_SECRET_KEY", "123456789012345678901234567890")
    app = make(tmp_path, SECRET_KEY=...)
    assert app.config["SECRET_KEY"] == "123456789012345678901234567890"


# -- secrets generated once into the instance folder ----------------------------------------


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_secrets_are_generated_once_with_mode_0600_and_reused(tmp_path, isolated):
    first = make(tmp_path, SECRET_KEY=..., ENCRYPTION_KEYS=..., DATABASE_URL=...)
    secret_file, key_file = isolated / "secret_key", isolated / "encryption_key"
    assert _mode(secret_file) == 0o600
    assert _mode(key_file) == 0o600
    assert first.config["SECRET_KEY"] == secret_file.read_text().strip()
    assert len(first.config["SECRET_KEY"]) >= 32
    (key,) = first.config["ENCRYPTION_KEYS"]
    assert key == key_file.read_text().strip()
    Fernet(key)
    assert first.config["DATABASE_URL"] == f"sqlite:///{isolated / 'hubweb.sqlite3'}"

    contents = (secret_file.read_bytes(), key_file.read_bytes())
    second = make(tmp_path, SECRET_KEY=..., ENCRYPTION_KEYS=..., DATABASE_URL=...)
    assert second.config["SECRET_KEY"] == first.config["SECRET_KEY"]
    assert second.config["ENCRYPTION_KEYS"] == first.config["ENCRYPTION_KEYS"]
    assert (secret_file.read_bytes(), key_file.read_bytes()) == contents


def test_given_secrets_are_not_written(tmp_path, isolated):
    make(tmp_path)
    assert not (isolated / "secret_key").exists()
    assert not (isolated / "encryption_key").exists()


def test_secret_mode_is_0600_whatever_the_umask(tmp_path, isolated):
    old = os.umask(0)
    try:
        make(tmp_path, SECRET_KEY=...)
    finally:
        os.umask(old)
    assert _mode(isolated / "secret_key") == 0o600


def test_workers_starting_together_share_one_secret(tmp_path):
    """Several gunicorn workers may start at once: all must end up with the same secret."""
    path = tmp_path / "instance" / "secret_key"
    results, errors = [], []

    def slow_make():
        time.sleep(0.05)  # every worker has seen "no file yet" before any writes it
        return os.urandom(16).hex()

    def worker():
        try:
            results.append(config._instance_secret(path, slow_make))
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(set(results)) == 1, results
    assert results[0] == path.read_text().strip()
    assert _mode(path) == 0o600
