"""The peer of ``make bench`` figure 8: a small Flask-Security app, built as its docs show.

Never part of the portal: it runs only in the benchmark's own virtual environment
(``artifacts/bench/peer-venv``, made by :mod:`bench.peer` from ``requirements.txt``
beside this file, the current releases from PyPI), served by
``gunicorn -c bench/peer/gunicorn.conf.py app:app`` from this folder.

What it is, and why (the comparison of issue 17):

- Flask-Security with its SQLAlchemy datastore (``fsqla_v3`` models, Flask-SQLAlchemy),
  the database in ``PEER_DATABASE_URL`` (a SQLite file, like the portal's in the
  same run).
- Passwords: Flask-Security's default ``argon2`` scheme through libpass, which takes
  argon2-cffi's defaults (argon2id, t=3, m=65536 KiB, p=4, 16-byte salt, 32-byte
  hash) when argon2-cffi is installed; the benchmark checks the stored hash's
  parameters and times this app's verify against a plain ``argon2-cffi`` one
  (``python app.py verify-check``). As shipped, the password is first HMAC-SHA512'd
  with ``SECURITY_PASSWORD_SALT`` (argon2 is not in ``PASSWORD_SINGLE_HASH``).
- Two-factor on (``SECURITY_TWO_FACTOR``, methods ``authenticator`` and ``sms``, not
  required): an account that has not set it up signs in with its password alone.
- ``SECURITY_CONFIRMABLE`` (the seeded account is confirmed) and
  ``SECURITY_TRACKABLE`` (a sign-in writes last/current login time, address and
  count: the peer's counterpart of the portal's "Signed in" event).
- CSRF as Flask-Security ships it: Flask-WTF's token in every form, kept in Flask's
  signed cookie session (the peer's session lives in that cookie; the user row is
  loaded by ``fs_uniquifier`` on each request).
- ``GET /`` behind ``@auth_required()``: a small page with the account's address
  and a sign-out link, the counterpart of the portal's signed-in ``/``.

Command line (in the peer's environment, from this folder):
``python app.py seed EMAIL PASSWORD`` creates the tables and a confirmed account
and prints its stored hash; ``python app.py verify-check PASSWORD ROUNDS`` prints,
as JSON, the medians of this app's ``verify_password`` and of
``argon2.PasswordHasher().verify`` of the same hash, timed in turns (ABBA).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime

from flask import Flask, render_template
from flask_security import (
    Security,
    SQLAlchemyUserDatastore,
    auth_required,
    hash_password,
)
from flask_security.models import fsqla_v3 as fsqla
from flask_sqlalchemy import SQLAlchemy

app = Flask(__name__)
app.config.update(
    SECRET_KEY=os.environ.get("PEER_SECRET_KEY", "bench-peer-secret-key-not-for-production"),
    SECURITY_PASSWORD_SALT=os.environ.get("PEER_PASSWORD_SALT", "bench-peer-password-salt"),
    SQLALCHEMY_DATABASE_URI=os.environ.get("PEER_DATABASE_URL", "sqlite:///peer.sqlite3"),
    SECURITY_PASSWORD_HASH="argon2",
    SECURITY_TWO_FACTOR=True,
    SECURITY_TWO_FACTOR_ENABLED_METHODS=["authenticator", "sms"],
    SECURITY_TWO_FACTOR_REQUIRED=False,
    SECURITY_TOTP_SECRETS={"1": os.environ.get("PEER_TOTP_SECRET",
                                               "bench-peer-totp-secret-not-for-production")},
    SECURITY_TOTP_ISSUER="peer",
    SECURITY_SMS_SERVICE="Dummy",
    SECURITY_CONFIRMABLE=True,
    SECURITY_TRACKABLE=True,
    # No email is sent in the benchmark (sign-in sends none); Flask-Mail must not try.
    MAIL_SUPPRESS_SEND=True,
    MAIL_DEFAULT_SENDER="peer@example.com",
    SESSION_COOKIE_SAMESITE="Lax",
)
db = SQLAlchemy(app)
fsqla.FsModels.set_db_info(db)


class Role(db.Model, fsqla.FsRoleMixin):
    pass


class User(db.Model, fsqla.FsUserMixin):
    pass


class WebAuthn(db.Model, fsqla.FsWebAuthnMixin):  # fsqla_v3's User refers to it
    pass


user_datastore = SQLAlchemyUserDatastore(db, User, Role)
security = Security(app, user_datastore)


@app.get("/")
@auth_required()
def home():
    return render_template("home.html")


def seed(email: str, password: str) -> str:
    """Create the tables and a confirmed account; return its stored password hash."""
    with app.app_context():
        db.create_all()
        user = user_datastore.create_user(
            email=email, password=hash_password(password),
            confirmed_at=datetime.now(UTC).replace(tzinfo=None))
        db.session.commit()
        return user.password


def verify_check(password: str, rounds: int) -> dict:
    """Medians (ms) of this app's ``verify_password`` and a plain argon2-cffi verify, ABBA."""
    from argon2 import PasswordHasher
    from flask_security.utils import get_hmac, verify_password

    with app.test_request_context():
        stored = hash_password(password)
        prehashed = get_hmac(password)
        ph = PasswordHasher()
        app_times, plain_times = [], []

        def app_verify():
            start = time.perf_counter()
            assert verify_password(password, stored)
            app_times.append(time.perf_counter() - start)

        def plain_verify():
            start = time.perf_counter()
            ph.verify(stored, prehashed)
            plain_times.append(time.perf_counter() - start)

        app_verify(), plain_verify()  # warm up
        app_times.clear(), plain_times.clear()
        for i in range(rounds):
            for f in ((app_verify, plain_verify) if i % 2 == 0 else (plain_verify, app_verify)):
                f()
    return {"hash": stored, "app_verify_ms": statistics.median(app_times) * 1000,
            "argon2_verify_ms": statistics.median(plain_times) * 1000, "rounds": rounds}


if __name__ == "__main__":
    if sys.argv[1] == "seed":
        print(seed(sys.argv[2], sys.argv[3]))
    elif sys.argv[1] == "verify-check":
        print(json.dumps(verify_check(sys.argv[2], int(sys.argv[3]))))
    else:
        sys.exit(f"unknown command {sys.argv[1]!r}")
