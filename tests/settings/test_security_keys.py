"""Security keys and passkeys, settings side: "Add security key" (name,
browser's answer, checks of origin, RP id and presence), the list, "Remove",
the 10-key limit, names, events, emails, and turning 2SV off."""

from __future__ import annotations

import json

import pytest

from hubweb.extensions import db
from hubweb.models import Authenticator
from tests.support.accounts import PASSWORD, csrf_token
from tests.support.sms import event_kinds, post, set_sms, settle, text
from tests.support.webauthn import SoftKey, add_key, options_of, unb64u

ADDED = "Your security key was added."


@pytest.fixture
def with_keys_allowed(app, signed_in):
    """A signed-in account with SMS 2SV on (so keys may be added); its id."""
    set_sms(app, signed_in)
    return signed_in


def key_rows(app, user_id) -> list[dict]:
    with app.app_context():
        rows = db.session.scalars(db.select(Authenticator).where(
            Authenticator.user_id == user_id, Authenticator.kind == "webauthn")
            .order_by(Authenticator.id)).all()
        return [{"id": r.id, "name": r.name, "lookup": r.lookup, "data": json.loads(r.data),
                 "count": r.last_step, "last_used": r.last_used_at} for r in rows]


def test_add_security_key_stores_the_key_and_tells_the_person(app, client, outbox,
                                                             with_keys_allowed):
    key = SoftKey()
    page = add_key(client, key, "Blue YubiKey")
    assert page.status_code == 200 and ADDED in text(page)
    [row] = key_rows(app, with_keys_allowed)
    assert row["name"] == "Blue YubiKey"
    assert row["lookup"] == row["data"]["credential_id"]
    assert row["data"]["transports"] == ["usb"]
    assert len(unb64u(row["data"]["user_handle"])) == 32
    assert row["count"] == 0
    assert "Blue YubiKey" in text(page) and "Remove" in text(page)
    assert event_kinds(app, with_keys_allowed)[-1] == "key_added"
    assert outbox.messages("email")[0].subject == "A security key was added to your account"


def test_creation_options_follow_the_rules(app, client, with_keys_allowed):
    key = SoftKey()
    add_key(client, key, "First")
    token = csrf_token(client, "/settings/account")
    settle(client, post(client, "/settings/two-step/webauthn/start", token=token))
    panel = settle(client, post(client, "/settings/two-step/webauthn/password",
                                {"password": PASSWORD}, token=token))
    options = options_of(panel.get_data(as_text=True))
    assert options["attestation"] == "none"
    assert options["authenticatorSelection"]["userVerification"] == "discouraged"
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-8, -7, -257]
    assert options["rp"]["id"] == "127.0.0.1"
    assert options["user"]["name"] == "alice@example.com"
    assert "alice" not in options["user"]["id"]
    [row] = key_rows(app, with_keys_allowed)
    assert options["user"]["id"] == row["data"]["user_handle"]  # one handle per account
    assert [c["id"] for c in options["excludeCredentials"]] == [row["data"]["credential_id"]]
    assert options["timeout"] == 300000


@pytest.mark.parametrize("misbehave", [
    {"origin": "https://evil.example"},
    {"origin": "http://127.0.0.1:5001"},
    {"rp_id": "evil.example"},
    {"presence": False},
])
def test_a_key_answer_from_elsewhere_or_without_presence_is_refused(app, client, outbox,
                                                                    with_keys_allowed,
                                                                    misbehave):
    page = add_key(client, SoftKey(), **misbehave)
    assert page.status_code == 422
    body = text(page)
    assert "could not be verified" in body
    assert "127.0.0.1:5000" not in body.split("webauthn-options")[0]  # origin not echoed
    assert key_rows(app, with_keys_allowed) == []
    assert "key_added" not in event_kinds(app, with_keys_allowed)


def test_a_replayed_registration_is_refused(app, client, with_keys_allowed):
    key = SoftKey()
    token = csrf_token(client, "/settings/account")
    settle(client, post(client, "/settings/two-step/webauthn/start", token=token))
    panel = settle(client, post(client, "/settings/two-step/webauthn/password",
                                {"password": PASSWORD}, token=token))
    credential = key.create(options_of(panel.get_data(as_text=True)))
    first = settle(client, post(client, "/settings/two-step/webauthn/code",
                                {"name": "One", "credential": credential}, token=token))
    assert ADDED in text(first)
    twice = settle(client, post(client, "/settings/two-step/webauthn/code",
                                {"name": "One", "credential": credential}, token=token))
    assert twice.status_code == 200 and ADDED in text(twice)  # a double click: same outcome
    settle(client, post(client, "/settings/two-step/webauthn/start", token=token))
    settle(client, post(client, "/settings/two-step/webauthn/password",
                        {"password": PASSWORD}, token=token))
    again = settle(client, post(client, "/settings/two-step/webauthn/code",
                                {"name": "Two", "credential": SoftKey().create(
                                    options_of(panel.get_data(as_text=True)))},
                                token=token))
    assert again.status_code == 422 and "expired or was used already" in text(again)
    assert [r["name"] for r in key_rows(app, with_keys_allowed)] == ["One"]
    assert event_kinds(app, with_keys_allowed).count("key_added") == 1
    # The first answer sent again in a new flow (Back, then resubmit): the key is there.
    settle(client, post(client, "/settings/two-step/webauthn/password",
                        {"password": PASSWORD}, token=token))
    late = settle(client, post(client, "/settings/two-step/webauthn/code",
                               {"name": "One", "credential": credential}, token=token))
    assert late.status_code == 200 and ADDED in text(late)
    assert event_kinds(app, with_keys_allowed).count("key_added") == 1


def test_names_must_be_given_short_and_unique(app, client, with_keys_allowed):
    add_key(client, SoftKey(), "Blue YubiKey")
    for name, words in (("", "Enter a name for the key"),
                        ("x" * 65, "Enter a name for the key"),
                        ("blue yubikey ", "already have a key with this name")):
        page = add_key(client, SoftKey(), name)
        assert page.status_code == 422 and words in text(page), name
    page = add_key(client, SoftKey(), "x" * 64)
    assert ADDED in text(page)
    assert [r["name"] for r in key_rows(app, with_keys_allowed)] == ["Blue YubiKey", "x" * 64]


def test_ten_keys_at_most(app, client, with_keys_allowed):
    for n in range(10):
        assert ADDED in text(add_key(client, SoftKey(), f"Key {n}"))
    page = client.get("/settings/account")
    assert "You have 10 keys, the most an account may have." in text(page)
    assert "/settings/two-step/webauthn/start" not in text(page)
    token = csrf_token(client, "/settings/account")
    r = post(client, "/settings/two-step/webauthn/start", token=token)
    assert settle(client, r).status_code == 409
    assert len(key_rows(app, with_keys_allowed)) == 10


def test_add_security_key_is_offered_only_while_sms_is_on(app, client, signed_in):
    page = text(client.get("/settings/account"))
    assert "Security keys can be added once two-step verification by SMS is on." in page
    token = csrf_token(client, "/settings/account")
    r = settle(client, post(client, "/settings/two-step/webauthn/start", token=token))
    assert r.status_code == 409


def test_without_javascript_the_panel_says_so_and_nothing_is_added(app, client,
                                                                 with_keys_allowed):
    token = csrf_token(client, "/settings/account")
    settle(client, post(client, "/settings/two-step/webauthn/start", token=token))
    settle(client, post(client, "/settings/two-step/webauthn/password",
                        {"password": PASSWORD}, token=token))
    page = settle(client, post(client, "/settings/two-step/webauthn/code",
                               {"name": "Blue", "credential": ""}, token=token))
    assert page.status_code == 422 and "Security keys need JavaScript" in text(page)
    assert key_rows(app, with_keys_allowed) == []


def test_remove_asks_the_password_then_removes_that_key(app, client, outbox,
                                                      with_keys_allowed):
    add_key(client, SoftKey(), "Keep")
    add_key(client, SoftKey(), "Drop")
    keep, drop = key_rows(app, with_keys_allowed)
    token = csrf_token(client, "/settings/account")
    prompt = settle(client, post(client, f"/settings/security-keys/{drop['id']}/remove",
                                 token=token))
    assert "Enter your current password" in text(prompt)
    assert [r["name"] for r in key_rows(app, with_keys_allowed)] == ["Keep", "Drop"]
    wrong = settle(client, post(client, "/settings/two-step/webauthn_remove/password",
                                {"password": "not it"}, token=token))
    assert wrong.status_code == 422
    done = settle(client, post(client, "/settings/two-step/webauthn_remove/password",
                               {"password": PASSWORD}, token=token))
    assert "The security key was removed." in text(done)
    assert [r["name"] for r in key_rows(app, with_keys_allowed)] == ["Keep"]
    assert event_kinds(app, with_keys_allowed)[-1] == "key_removed"
    assert outbox.messages("email")[0].subject == "A security key was removed from your account"
    again = settle(client, post(client, "/settings/two-step/webauthn_remove/password",
                                {"password": PASSWORD}, token=token))
    assert "The security key was removed." in text(again)
    assert event_kinds(app, with_keys_allowed).count("key_removed") == 1


def test_another_accounts_key_cannot_be_removed(app, client, auth, make_user,
                                                 with_keys_allowed):
    add_key(client, SoftKey(), "Mine")
    [mine] = key_rows(app, with_keys_allowed)
    auth.sign_out()
    make_user("bob@example.com")
    assert auth.sign_in("bob@example.com").status_code == 303
    token = csrf_token(client, "/settings/account")
    r = settle(client, post(client, f"/settings/security-keys/{mine['id']}/remove",
                            token=token))
    assert r.status_code == 409
    assert [r["name"] for r in key_rows(app, with_keys_allowed)] == ["Mine"]


def test_turning_two_step_verification_off_removes_every_key(app, client, with_keys_allowed):
    add_key(client, SoftKey(), "One")
    add_key(client, SoftKey(), "Two")
    token = csrf_token(client, "/settings/account")
    settle(client, post(client, "/settings/two-step/disable/start", token=token))
    done = settle(client, post(client, "/settings/two-step/disable/password",
                               {"password": PASSWORD}, token=token))
    assert "Two-step verification is off." in text(done)
    assert key_rows(app, with_keys_allowed) == []
