"""The authenticator app, settings side: "Get secret key", the key panel, the pending key,
confirming, turning the app off, the operator's reset and keys at rest.

Sign-in, recovery and code verification are in tests/auth/test_second_step_app.py.
"""

from __future__ import annotations

import base64
import logging
import sqlite3
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from hubweb import create_app
from hubweb.extensions import db
from hubweb.models import UserSession
from hubweb.twostep.keys import KeyBox, KeyBoxError, parse_otpauth_uri
from tests.support.accounts import PASSWORD, csrf_token
from tests.support.authenticator import (
    EMAIL,
    PHONE,
    both_on,
    click,
    decode_qr,
    email_subjects,
    enable_sms,
    event_kinds,
    forms_without_csrf,
    get_secret_key,
    is_fragment,
    oath,
    page,
    pbm_of_png,
    png_of,
    post,
    secret_panel,
    settle,
    user_row,
    verify,
    wrong_code,
)
from tests.support.database import base_config

NEEDS_SMS = "Set up two-step verification by SMS first"
APP_ON = "Your authenticator app is on."
TEST_KEY = "k2pGmHc1bq2Vb0Ij2d3LhS2Jbm0bXy6Vq8n2d3tqPaE="  # base_config's ENCRYPTION_KEYS
OLD_KEY = "nTqN6v0yJ1z8mJdJZbJ0m4vVx3yJ9Q2rY7H1s0Lw1cU="
NEW_KEY = "Zt6kP3s0mQeV9yX1cB7nR2wL5aH8jD4fG0uI6oK3pE8="



# --- the rule: SMS first ------------------------------------------------------------

def test_get_secret_key_is_disabled_until_sms_is_on(app, client, auth, make_user):
    uid = make_user()
    auth.sign_in()
    doc = page(client.get("/settings/account"))
    section = doc.by_id("two-step-verification")
    assert NEEDS_SMS in " ".join(section.text.split())
    button = doc.button("Get secret key")
    assert "disabled" in button.attrs and button.attrs["type"] == "button"
    assert button.form is None  # nothing to submit

    # Posting the flow anyway is refused, at every step, and nothing changes.
    token = csrf_token(client, "/settings/account")
    for path, data in [("/settings/two-step/app/start", {}),
                       ("/settings/two-step/app/password", {"password": PASSWORD}),
                       ("/settings/two-step/app/code", {"code": "123456"})]:
        for htmx in (True, False):
            # Without JavaScript: 303 to the page, which says so (post/redirect/get).
            assert settle(client, post(client, path, data, token=token,
                                       htmx=htmx)).status_code == 409
    user = user_row(app, uid)
    assert user.totp_pending_secret is None and user.totp_secret is None
    assert "totp-secret" not in client.get("/settings/account").get_data(as_text=True)
    assert event_kinds(app, uid) == ["sign_in"]


# --- set-up: the panel --------------------------------------------------------------

def check_panel(panel, email=EMAIL, issuer="Business Hub"):
    """Everything the secret key panel must show, with real values."""
    secret = panel.secret
    assert len(secret) == 32 and secret == secret.upper() and " " not in secret
    assert "=" not in secret and set(secret) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert len(base64.b32decode(secret)) == 20
    assert panel.grouped == " ".join(secret[i:i + 4] for i in range(0, 32, 4))
    assert panel.qr.startswith("data:image/png;base64,")
    assert panel.uri.startswith("otpauth://totp/")
    # Read back with the standard library, not the project's parser: each part
    # percent-encoded exactly once, so one unquote gives the exact text.
    parts = urlsplit(panel.uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    assert unquote(parts.path) == f"/{issuer}:{email}"
    assert parts.path.count(":") == 1 and "#" not in panel.uri and " " not in panel.uri
    assert parse_qsl(parts.query, strict_parsing=True) == [
        ("secret", secret), ("issuer", issuer), ("algorithm", "SHA1"), ("digits", "6"),
        ("period", "30")]
    assert parse_otpauth_uri(panel.uri)["account"] == email
    words = panel.doc.words
    assert ("Add the key to your app Scan the QR code or type the key, then enter the code "
            "your app shows. The key works on several devices; prefer one other than the "
            "phone that gets your SMS codes.") in words
    # "Copy key" is added by app.js where the browser can copy (tests/e2e); the
    # page itself has no button that would do nothing without JavaScript.
    assert not panel.doc.buttons("Copy key")
    img = panel.doc.by_id("totp-qr")
    assert img.attrs["alt"] and img.attrs["width"] == img.attrs["height"]
    code = panel.doc.find("input", name="code")
    assert len(code) == 1 and code[0].attrs["type"] == "text"
    assert code[0].attrs["inputmode"] == "numeric"
    assert code[0].attrs["autocomplete"] == "one-time-code"
    assert code[0].form is panel.doc.button("Confirm").form
    assert panel.response.headers["Cache-Control"] == "no-store"


def test_set_up_with_htmx(app, client, auth, make_user, outbox):
    uid = make_user()
    auth.sign_in()
    enable_sms(client, outbox)
    settings = client.get("/settings/account")
    assert page(settings).action_of("Get secret key") == "/settings/two-step/app/start"
    assert "disabled" not in page(settings).button("Get secret key").attrs

    r = click(client, settings, "Get secret key")
    assert r.status_code == 200 and is_fragment(r)
    doc = page(r)
    # The inside of the section, which the page's #two-step takes (innerHTML);
    # its forms inherit that target, and send the CSRF token as a header.
    assert doc.by_id("two-step-verification") is None and doc.by_id("two-step") is None
    assert "Enter your current password" in doc.words
    assert doc.find("input", name="password")[0].attrs["autocomplete"] == "current-password"
    assert doc.button("Continue").form.attrs["hx-post"] == "/settings/two-step/app/password"
    assert "hx-target" not in doc.button("Continue").form.attrs
    assert doc.find("input", name="csrf_token") == []
    section = page(settings).by_id("two-step")
    assert section.attrs["hx-target:inherited"] == "#two-step"
    assert section.attrs["hx-swap:inherited"] == "innerHTML"

    wrong = click(client, r, "Continue", {"password": "not my password at all"})
    assert wrong.status_code == 422 and is_fragment(wrong)
    assert "That is not your current password." in page(wrong).words
    assert "totp-secret" not in wrong.get_data(as_text=True)
    assert user_row(app, uid).totp_pending_secret is None

    r = click(client, wrong, "Continue", {"password": PASSWORD})
    assert r.status_code == 200 and is_fragment(r)
    panel = secret_panel(r)
    check_panel(panel)

    r = click(client, r, "Confirm", {"code": oath(panel.secret)})
    assert r.status_code == 200 and is_fragment(r)
    doc = page(r)
    assert APP_ON in doc.words
    assert doc.action_of("Disable authenticator app") == "/settings/two-step/app_disable/start"
    assert doc.action_of("Get secret key") == "/settings/two-step/app/start"
    assert user_row(app, uid).totp_enabled


def test_set_up_with_plain_forms(app, client, auth, make_user, outbox):
    uid = make_user()
    auth.sign_in()
    enable_sms(client, outbox)
    r = click(client, "/settings/account", "Get secret key", htmx=False)
    assert r.status_code == 200 and "<html" in r.get_data(as_text=True)
    assert "Enter your current password" in page(r).words
    assert forms_without_csrf(page(r)) == []
    r = click(client, r, "Continue", {"password": "wrong password here"}, htmx=False)
    assert r.status_code == 422 and "<html" in r.get_data(as_text=True)
    r = click(client, r, "Continue", {"password": PASSWORD}, htmx=False)
    assert r.status_code == 200 and "<html" in r.get_data(as_text=True)
    assert forms_without_csrf(page(r)) == []
    panel = secret_panel(r)
    check_panel(panel)
    r = click(client, r, "Confirm", {"code": oath(panel.secret)}, htmx=False)
    assert r.status_code == 200 and "<html" in r.get_data(as_text=True)
    assert APP_ON in page(r).words
    assert forms_without_csrf(page(r)) == []
    assert user_row(app, uid).totp_enabled


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_cancel_in_the_key_panel(app, client, auth, make_user, outbox, htmx):
    """ "Cancel" sits in the code form's button row but belongs (``form=``) to its
    own form, which posts (and ``hx-post``s) to cancel: it ends set-up without
    asking for a code, and never sends the code field."""
    uid = make_user()
    auth.sign_in()
    enable_sms(client, outbox)
    panel = get_secret_key(client, htmx=htmx)
    cancel = panel.doc.button("Cancel")
    assert cancel.form is not panel.doc.button("Confirm").form
    cancel_url = "/settings/two-step/cancel"
    assert cancel.form.attrs["action"] == cancel.form.attrs["hx-post"] == cancel_url
    assert not [e for e in panel.doc.find("input") if e.form is cancel.form
                and e.attrs.get("name") != "csrf_token"]
    r = click(client, panel.response, "Cancel", htmx=htmx)
    assert r.status_code == 200 and is_fragment(r) == htmx
    assert "totp-secret" not in r.get_data(as_text=True)
    assert page(r).button("Get secret key")
    assert not user_row(app, uid).totp_enabled
    r = click(client, "/settings/account", "Get secret key", htmx=htmx)
    assert "Enter your current password" in page(r).words  # the password again


def test_the_key_never_leaves_the_panel(app, client, auth, make_user, outbox, caplog,
                                        clock):
    """No cookie, hidden field, requested URL, log line, email or session row holds it."""
    caplog.set_level(logging.DEBUG)
    uid = make_user()
    replies = [auth.sign_in()]
    enable_sms(client, outbox)
    panel = get_secret_key(client)
    secret = panel.secret
    variants = {secret, panel.grouped, secret.lower(), panel.grouped.replace(" ", "-")}
    replies += [panel.response, client.get("/settings/account")]
    replies.append(click(client, panel.response, "Confirm",
                         {"code": wrong_code(secret, clock.now())}))
    replies.append(click(client, replies[-2], "Confirm", {"code": "12 34"}, htmx=False))
    assert secret_panel(replies[-1]).secret == secret
    replies.append(click(client, replies[-1], "Confirm", {"code": oath(secret, clock.now())},
                         htmx=False))
    assert APP_ON in page(replies[-1]).words

    for r in [*replies, *(h for reply in replies for h in reply.history)]:
        cookies = " ".join(r.headers.getlist("Set-Cookie"))
        assert not any(v in cookies for v in variants)
        assert not any(v in r.headers.get("Location", "") for v in variants)
        body = r.get_data(as_text=True)
        if secret in body:
            assert r.headers["Cache-Control"] == "no-store"
        doc = page(r)
        for hidden in doc.find("input", type="hidden"):
            assert not any(v in hidden.attrs.get("value", "") for v in variants)
        for el in doc.elements:
            for name in ("src", "href", "action", "hx-get", "hx-post", "formaction"):
                value = el.attrs.get(name, "")
                if el.attrs.get("id") == "totp-uri" or value.startswith("data:"):
                    continue  # the otpauth link (not fetched) and the inline QR code
                assert secret not in value, (el.tag, name)
    for record in caplog.records:
        assert not any(v in record.getMessage() for v in variants), record.getMessage()
    for message in outbox.messages():
        assert secret not in message.body and secret not in message.html
    with app.app_context():
        for row in db.session.scalars(sa.select(UserSession)):
            assert secret not in row.data
    assert user_row(app, uid).totp_enabled


# --- the URI and the QR code --------------------------------------------------------

@pytest.mark.parametrize("email", [
    "a+b@example.com", "x#y@example.com", "q?r&s%t@example.com", "jürgen@exämple.de",
])
def test_qr_decodes_to_the_uri_for_awkward_emails(client, auth, make_user, outbox,
                                                  tmp_path, email):
    # email-validator accepts all four; "name with space@..." it refuses, so no
    # account can have it (the URI itself is covered in twostep/test_keys_qr.py).
    make_user(email)
    auth.sign_in(email)
    enable_sms(client, outbox)
    panel = get_secret_key(client)
    check_panel(panel, email=email)
    assert panel.uri == ("otpauth://totp/Business%20Hub:"
                         + "".join(c if (c.isalnum() and c.isascii()) or c in "_.-~" else
                                   "".join(f"%{b:02X}" for b in c.encode()) for c in email)
                         + f"?secret={panel.secret}&issuer=Business%20Hub"
                         "&algorithm=SHA1&digits=6&period=30")
    assert decode_qr(panel.qr, tmp_path) == panel.uri


@pytest.mark.parametrize("email", [EMAIL, "a" * 64 + "@" + "b" * 60 + ".example.com"])
def test_qr_is_shown_at_4_px_per_module_or_more(client, auth, make_user, outbox, tmp_path,
                                               email):
    make_user(email)
    auth.sign_in(email)
    enable_sms(client, outbox)
    panel = get_secret_key(client)
    img = panel.doc.by_id("totp-qr")
    # One pixel per module (quiet zone included), shown at width x height CSS px.
    modules = len(pbm_of_png(png_of(panel.qr), tmp_path))
    shown = int(img.attrs["width"])
    assert int(img.attrs["height"]) == shown
    assert shown / modules >= 4, (shown, modules)
    assert decode_qr(panel.qr, tmp_path) == panel.uri


@pytest.mark.settings(TOTP_ISSUER="Acme Corp")
def test_issuer_setting(client, auth, make_user, outbox, tmp_path):
    make_user()
    auth.sign_in()
    enable_sms(client, outbox)
    panel = get_secret_key(client)
    check_panel(panel, issuer="Acme Corp")
    assert panel.uri.startswith("otpauth://totp/Acme%20Corp:alice%40example.com?")
    assert "&issuer=Acme%20Corp&" in panel.uri
    assert decode_qr(panel.qr, tmp_path) == panel.uri


def test_issuer_from_the_environment(monkeypatch, tmp_path):
    from hubweb.config import ConfigError

    config = base_config(tmp_path, tmp_path / "unused.sqlite3")
    monkeypatch.setenv("HUBWEB_TOTP_ISSUER", "Acme Corp")
    assert create_app(config).config["TOTP_ISSUER"] == "Acme Corp"
    monkeypatch.setenv("HUBWEB_TOTP_ISSUER", "Acme:Corp")
    with pytest.raises(ConfigError, match="HUBWEB_TOTP_ISSUER"):
        create_app(config)


# --- the pending key ----------------------------------------------------------------

def test_pending_key_is_kept_encrypted_and_stable(app, client, auth, make_user, outbox,
                                                  clock):
    uid = make_user()
    auth.sign_in()
    enable_sms(client, outbox)
    panel = get_secret_key(client)
    token = user_row(app, uid).totp_pending_secret
    assert token.startswith("gAAAAA") and panel.secret not in token
    assert Fernet(TEST_KEY).decrypt(token.encode()).decode() == panel.secret
    assert user_row(app, uid).totp_secret is None  # not on before a right code

    reload = client.get("/settings/account")
    assert reload.headers["Cache-Control"] == "no-store"
    assert secret_panel(reload).secret == panel.secret
    wrong = click(client, panel.response, "Confirm", {"code": "12345"})
    assert wrong.status_code == 422 and secret_panel(wrong).secret == panel.secret
    assert "Enter the 6-digit code." in page(wrong).words
    wrong = click(client, wrong, "Confirm", {"code": wrong_code(panel.secret, clock.now())})
    assert wrong.status_code == 422 and secret_panel(wrong).secret == panel.secret
    assert "That code is not right." in page(wrong).words
    assert wrong.headers["Cache-Control"] == "no-store"
    assert user_row(app, uid).totp_pending_secret == token
    assert user_row(app, uid).factor_failures == 1
    # Leaving and asking again within 15 minutes: still the same key.
    click(client, wrong, "Cancel")
    assert get_secret_key(client).secret == panel.secret


def test_pending_key_expires_after_15_minutes(app, client, auth, make_user, outbox, clock):
    uid = make_user()
    auth.sign_in()
    enable_sms(client, outbox)
    first = get_secret_key(client).secret
    clock.shift(14 * 60 + 59)  # the password (10 minutes) is needed again, not a new key
    assert "totp-secret" not in client.get("/settings/account").get_data(as_text=True)
    again = get_secret_key(client)
    assert again.secret == first
    clock.shift(2)  # 15:01 after the key was made
    r = click(client, again.response, "Confirm", {"code": oath(first, clock.now())})
    assert r.status_code == 409
    assert "The secret key expired after 15 minutes. Get a new secret key." in page(r).words
    assert not user_row(app, uid).totp_enabled
    fresh = get_secret_key(client)
    assert fresh.secret != first
    r = click(client, fresh.response, "Confirm", {"code": oath(fresh.secret, clock.now())})
    assert APP_ON in page(r).words


def test_abandoned_set_up_leaves_the_active_key(app, client, auth, make_user, outbox, clock):
    uid = make_user()
    old = both_on(client, auth, outbox, clock)
    auth.sign_in()
    clock.shift(30)
    assert verify(client, oath(old, clock.now())).status_code == 303
    new = get_secret_key(client)
    assert new.secret != old
    r = click(client, new.response, "Cancel")
    assert "totp-secret" not in r.get_data(as_text=True)
    assert page(r).button("Disable authenticator app")
    assert KeyBox([TEST_KEY]).decrypt(user_row(app, uid).totp_secret) == old

    auth.sign_out()
    auth.sign_in()
    clock.shift(30)
    refused = verify(client, oath(new.secret, clock.now()))
    assert refused.status_code == 422
    assert verify(client, oath(old, clock.now())).status_code == 303  # old key still works

    # Only a right code from the new key replaces the old one.
    panel = get_secret_key(client)
    clock.shift(30)
    r = click(client, panel.response, "Confirm", {"code": oath(panel.secret, clock.now())})
    assert ("Your authenticator app now uses the new key. The old key no longer works."
            in page(r).words)
    assert event_kinds(app, uid)[-1] == "app_replaced"
    auth.sign_out()
    auth.sign_in()
    clock.shift(30)
    assert verify(client, oath(old, clock.now())).status_code == 422
    assert verify(client, oath(panel.secret, clock.now())).status_code == 303


# --- confirming ---------------------------------------------------------------------

def test_confirming_turns_the_app_on(app, client, auth, make_user, outbox):
    """End to end with oathtool on the real clock (no time travel)."""
    uid = make_user()
    auth.sign_in()
    enable_sms(client, outbox)
    panel = get_secret_key(client)
    code = oath(panel.secret)
    r = click(client, panel.response, "Confirm", {"code": code})
    assert APP_ON in page(r).words
    user = user_row(app, uid)
    assert user.totp_enabled_at is not None and user.sms_enabled
    assert user.totp_secret != panel.secret and panel.secret not in user.totp_secret
    assert KeyBox([TEST_KEY]).decrypt(user.totp_secret) == panel.secret
    assert user.totp_pending_secret is None and user.totp_pending_at is None
    assert event_kinds(app, uid)[-1] == "app_enabled"
    assert email_subjects(outbox)[0] == "An authenticator app was set up for your account"

    # The code that confirmed set-up cannot then sign in.
    auth.sign_out()
    auth.sign_in()
    r = verify(client, code)
    assert r.status_code == 422
    assert "That code was already used." in page(r).words
    assert user_row(app, uid).factor_failures == 1


# --- turning it off -----------------------------------------------------------------

def test_disable_authenticator_app(app, client, auth, make_user, outbox, clock):
    uid = make_user()
    secret = both_on(client, auth, outbox, clock)
    auth.sign_in()
    clock.shift(30)
    assert verify(client, oath(secret, clock.now())).status_code == 303
    r = click(client, "/settings/account", "Disable authenticator app")
    assert r.status_code == 200 and "Enter your current password" in page(r).words
    wrong = click(client, r, "Continue", {"password": "wrong password here"})
    assert wrong.status_code == 422 and user_row(app, uid).totp_enabled
    r = click(client, wrong, "Continue", {"password": PASSWORD})
    assert "Your authenticator app is off. Two-step verification by SMS stays on." \
        in page(r).words
    user = user_row(app, uid)
    assert not user.totp_enabled and user.totp_secret is None and user.sms_phone == PHONE
    assert user.sms_enabled
    assert event_kinds(app, uid)[-1] == "app_disabled"
    assert email_subjects(outbox)[0] == "Your authenticator app was turned off"
    assert page(r).action_of("Get secret key") == "/settings/two-step/app/start"

    auth.sign_out()
    clock.shift(61)
    auth.sign_in()
    r = client.get("/sign-in/verify")
    assert not page(r).buttons("Use SMS") and not page(r).buttons("Use authenticator app")
    assert "we sent by text message" in page(r).words


def test_disable_two_step_turns_both_off(app, client, auth, make_user, outbox, clock):
    uid = make_user()
    secret = both_on(client, auth, outbox, clock)
    auth.sign_in()
    clock.shift(30)
    assert verify(client, oath(secret, clock.now())).status_code == 303
    r = click(client, "/settings/account", "Disable two-step verification")
    r = click(client, r, "Continue", {"password": PASSWORD})
    assert "Two-step verification is off." in page(r).words
    user = user_row(app, uid)
    assert not user.sms_enabled and not user.totp_enabled
    assert user.totp_secret is None and user.sms_phone is None
    assert event_kinds(app, uid)[-1] == "two_step_disabled"
    assert email_subjects(outbox)[0] == "Two-step verification was turned off"
    auth.sign_out()
    assert auth.sign_in().headers["Location"] == "/"


# --- the operator's reset -----------------------------------------------------------

def test_operator_reset_2sv(app, client, auth, runner, make_user, outbox, clock):
    uid = make_user()
    secret = both_on(client, auth, outbox, clock)
    auth.sign_in()
    clock.shift(30)
    assert verify(client, oath(secret, clock.now())).status_code == 303
    result = runner.invoke(args=["users", "reset-2sv", "ALICE@example.com", "--yes"])
    assert result.exit_code == 0, result.output
    assert "Two-step verification is now off for alice@example.com." in result.output
    user = user_row(app, uid)
    assert not user.sms_enabled and not user.totp_enabled and user.totp_secret is None
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(UserSession)
                                 .where(UserSession.user_id == uid)) == 0
    assert client.get("/settings/account").headers["Location"].startswith("/sign-in")
    assert event_kinds(app, uid)[-1] == "two_step_reset_by_operator"
    assert (email_subjects(outbox)[0]
            == "Two-step verification was turned off by an administrator")
    r = auth.sign_in()  # the password alone now
    assert r.status_code == 303 and r.headers["Location"] == "/settings/account"
    assert client.get("/settings/account").status_code == 200

    again = runner.invoke(args=["users", "reset-2sv", EMAIL, "--yes"])
    assert again.exit_code != 0 and "already off" in again.output
    unknown = runner.invoke(args=["users", "reset-2sv", "nobody@example.com", "--yes"])
    assert unknown.exit_code != 0 and "No account for nobody@example.com." in unknown.output


# --- keys at rest -------------------------------------------------------------------

def _app_with_keys(app, keys):
    """Another app on the same database (SQLite file or PostgreSQL) with other keys."""
    config = {**base_config(None, "unused"), "DATABASE_URL": app.config["DATABASE_URL"],
              "ENCRYPTION_KEYS": keys}
    return create_app(config)


@pytest.mark.settings(ENCRYPTION_KEYS=[OLD_KEY])
def test_encryption_keys_rotate(app, client, auth, make_user, outbox, clock, tmp_path):
    from tests.support.accounts import Auth

    uid = make_user()
    secret = both_on(client, auth, outbox, clock)
    auth.sign_in()
    clock.shift(30)
    assert verify(client, oath(secret, clock.now())).status_code == 303
    pending = get_secret_key(client).secret  # a pending key is rotated too
    stored = user_row(app, uid).totp_secret
    assert KeyBox([OLD_KEY]).decrypt(stored) == secret

    # A copy of the database alone does not reveal the key.
    url = app.config["DATABASE_URL"]
    if url.startswith("sqlite:///"):
        # Every byte on disk: the file and its write-ahead log (WAL mode, where
        # commits live until a checkpoint); then a copy as SQLite's backup makes it.
        path = Path(url.removeprefix("sqlite:///"))
        raw = b"".join(f.read_bytes() for f in (path, Path(f"{path}-wal")) if f.exists())
        assert secret.encode() not in raw and base64.b32decode(secret) not in raw
        copy = tmp_path / "copy.sqlite3"
        with sqlite3.connect(path) as source, sqlite3.connect(copy) as target:
            source.backup(target)
        with sqlite3.connect(copy) as con:
            (token,) = con.execute("SELECT secret FROM authenticators WHERE user_id = ? "
                                   "AND kind = 'app' AND enabled_at IS NOT NULL",
                                   (uid,)).fetchone()
    else:  # PostgreSQL: read the row as a copy would hold it
        engine = sa.create_engine(url)
        with engine.connect() as con:
            rows = con.execute(sa.text("SELECT * FROM authenticators")).all()
            token = con.execute(sa.text("SELECT secret FROM authenticators WHERE user_id = :i "
                                        "AND kind = 'app' AND enabled_at IS NOT NULL"),
                                {"i": uid}).scalar_one()
        engine.dispose()
        assert all(secret not in str(value) for row in rows for value in row)
    with pytest.raises(KeyBoxError):
        KeyBox([Fernet.generate_key().decode()]).decrypt(token)

    both = _app_with_keys(app, [NEW_KEY, OLD_KEY])
    c2 = both.test_client()
    Auth(c2).sign_in()
    clock.shift(30)
    assert verify(c2, oath(secret, clock.now())).status_code == 303  # old key still opens

    result = both.test_cli_runner().invoke(args=["keys", "rotate"])
    assert result.exit_code == 0, result.output
    assert "Re-encrypted 2 keys with the newest key." in result.output
    user = user_row(both, uid)
    assert KeyBox([NEW_KEY]).decrypt(user.totp_secret) == secret
    assert KeyBox([NEW_KEY]).decrypt(user.totp_pending_secret) == pending
    with pytest.raises(KeyBoxError):
        KeyBox([OLD_KEY]).decrypt(user.totp_secret)

    new_only = _app_with_keys(app, [NEW_KEY])
    c3 = new_only.test_client()
    Auth(c3).sign_in()
    clock.shift(30)
    assert verify(c3, oath(secret, clock.now())).status_code == 303
    for other in (both, new_only):
        with other.app_context():
            db.engine.dispose()
