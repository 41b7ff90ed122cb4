"""Download your data: the gate, the reply's headers, the document's shape
(docs/export.schema.json) and what it must never hold."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pyotp
import pytest
import sqlalchemy as sa

from hubweb.extensions import db
from hubweb.models import Authenticator, User
from tests.support.account_actions import pass_gate, pass_password
from tests.support.authenticator import APP_SECRET, sign_in_for
from tests.support.pages import text
from tests.support.sms import MASKED, PHONE, event_kinds, sign_in_with_sms

SCHEMA = json.loads((Path(__file__).resolve().parents[2] / "docs" / "export.schema.json")
                    .read_text())
URL = "/settings/account/export/data.json"


def keys_of(value) -> set[str]:
    """Every key of every object in a JSON value."""
    if isinstance(value, dict):
        return set(value).union(*(keys_of(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys_of(v) for v in value))
    return set()


def download(client):
    reply = client.get(URL)
    assert reply.status_code == 200, reply.status_code
    return reply


def test_the_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_without_the_password_nothing_is_given(client, signed_in):
    reply = client.get(URL)
    assert reply.status_code == 303 and reply.headers["Location"] == "/settings/account/export"
    assert "Enter your current password" in text(client.get("/settings/account/export"))


def test_the_file_is_an_attachment_no_cache_keeps(client, signed_in, outbox):
    pass_gate(client, "export")
    reply = download(client)
    assert reply.headers["Content-Disposition"] == 'attachment; filename="account-data.json"'
    assert reply.headers["Cache-Control"] == "no-store"
    assert reply.mimetype == "application/json"
    assert "data_exported" in event_kinds(client.application, signed_in)
    assert outbox.messages("email", "alice@example.com")[0].subject == (
        "Your data was downloaded")


def test_the_document_follows_the_schema_and_holds_the_account(client, signed_in):
    pass_gate(client, "export")
    data = download(client).get_json()
    jsonschema.validate(data, SCHEMA)
    assert data["version"] == 1
    assert data["account"]["email"] == "alice@example.com"
    assert data["two_step"] == {"enabled": False, "methods": []}
    assert [s["current"] for s in data["sessions"]] == [True]
    assert data["sessions"][0]["ip"] == "127.0.0.1"
    kinds = [e["kind"] for e in data["security_events"]]
    assert kinds == ["sign_in"]  # make_user writes no event; the sign-in does
    assert all(e["ip"] == "127.0.0.1" for e in data["security_events"] if e["kind"] == "sign_in")


def test_two_step_set_up_masked_then_full_and_never_a_secret(
        app, client, with_sms_and_app, outbox, clock):
    with app.app_context():
        row = db.session.scalar(sa.select(Authenticator).where(Authenticator.kind == "app"))
        secret_cipher = row.secret
        user = db.session.get(User, with_sms_and_app)
        password_hash = user.password_hash
    sign_in_for(client, outbox, clock, "app")
    clock.shift(30)  # an app code of a later time step than the sign-in's
    pass_gate(client, "export", code=pyotp.TOTP(APP_SECRET).at(clock.now()), method="app")
    body = download(client).get_data(as_text=True)
    data = json.loads(body)
    jsonschema.validate(data, SCHEMA)
    methods = {m["kind"]: m for m in data["two_step"]["methods"]}
    assert set(methods) == {"sms", "app"}
    assert methods["sms"]["phone"] == PHONE
    assert methods["sms"]["phone_masked"] == MASKED
    assert list(methods["sms"]).index("phone_masked") < list(methods["sms"]).index("phone")
    assert methods["app"]["last_used_at"] is not None
    for secret in (APP_SECRET, secret_cipher, password_hash):
        assert secret not in body
    assert not {"secret", "password_hash", "code_hash", "token_hash", "id"} & keys_of(data)
    for sms in outbox.messages("sms"):
        assert sms.body.rsplit("#", 1)[1] not in body
    cookie = client.get_cookie("hubweb_session")
    assert cookie is None or cookie.value not in body


@pytest.mark.parametrize("action", ["export"])
def test_two_step_accounts_pass_the_second_step_first(client, with_sms, outbox, action):
    sign_in_with_sms(client, outbox)
    reply = pass_password(client, action)
    assert reply.headers["Location"] == f"/settings/account/{action}/verify"
    held = client.get(URL)
    assert held.status_code == 303 and held.headers["Location"] == "/settings/account/export"
    page = client.get(held.headers["Location"])
    assert page.status_code == 303
    assert page.headers["Location"] == f"/settings/account/{action}/verify"


@pytest.mark.settings(TRUST_BROWSER_DAYS=7)
def test_trusted_browsers_and_recovery_codes_without_their_secrets(app, client, with_sms,
                                                                    outbox, clock):
    """A trusted browser is listed (when, until, IP, browser), never its cookie's
    token or hash; recovery codes are listed as rows, never a code or its hash."""
    from hubweb.models import TrustedBrowser
    from tests.support.recovery import issue
    from tests.support.trust import sign_in_remembered, trust_cookie

    codes = issue(app, with_sms)
    sign_in_remembered(client, outbox)
    token = trust_cookie(client)
    with app.app_context():
        token_hash = db.session.scalar(sa.select(TrustedBrowser.token_hash))
        lookups = list(db.session.scalars(sa.select(Authenticator.lookup)
                                          .where(Authenticator.kind == "recovery")))
    clock.shift(61)
    pass_gate(client, "export", outbox)
    body = download(client).get_data(as_text=True)
    data = json.loads(body)
    jsonschema.validate(data, SCHEMA)
    [browser] = data["trusted_browsers"]
    assert browser["ip"] == "127.0.0.1" and browser["expires_at"] > browser["created_at"]
    assert [m["kind"] for m in data["two_step"]["methods"]].count("recovery") == 10
    for secret in (token, token_hash, *lookups, *codes, *(c.replace("-", "") for c in codes)):
        assert secret not in body
