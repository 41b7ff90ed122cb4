"""Security keys at the second step (sign-in and password reset), checked by
py_webauthn against a software authenticator: a right answer signs in; a
wrong origin or RP id, a used or old challenge, a key of another account, a
removed key, no user presence and a counter that does not go up are refused."""

from __future__ import annotations

import json

import pytest

from hubweb.extensions import db
from hubweb.models import Authenticator
from tests.support.accounts import PASSWORD, csrf_token
from tests.support.sms import (
    event_kinds,
    post,
    same_step,
    set_sms,
    sign_in_password,
    text,
)
from tests.support.webauthn import SoftKey, add_key, options_of

VERIFY = "/sign-in/verify"
NOT_VERIFIED = "could not be verified"


@pytest.fixture
def keyed(app, client, auth, signed_in):
    """alice with SMS on and one software key (counter +1 per use), signed out;
    returns ``(user id, key)``."""
    set_sms(app, signed_in)
    key = SoftKey()
    add_key(client, key, "Blue YubiKey")
    auth.sign_out()
    return signed_in, key


def second_step(client, email="alice@example.com") -> tuple[dict, str]:
    """The password, then the second step's page: its request options and CSRF token."""
    r = sign_in_password(client, email)
    assert r.headers["Location"] == VERIFY
    page = client.get(VERIFY)
    assert page.status_code == 200
    return options_of(page.get_data(as_text=True)), csrf_token(client, VERIFY)


def answer(client, token, credential, path=VERIFY):
    return post(client, path, {"method": "webauthn", "credential": credential}, token=token)


def key_row(app, user_id) -> Authenticator:
    with app.app_context():
        return db.session.scalars(db.select(Authenticator).where(
            Authenticator.user_id == user_id, Authenticator.kind == "webauthn")).first()


def test_a_security_key_signs_in(app, client, keyed):
    user_id, key = keyed
    options, token = second_step(client)
    assert options["rpId"] == "127.0.0.1"
    assert options["userVerification"] == "discouraged"
    assert options["timeout"] == 300000
    assert [c["id"] for c in options["allowCredentials"]] == [key_row(app, user_id).lookup]
    r = answer(client, token, key.get(options))
    assert r.status_code == 303 and r.headers["Location"] == "/"
    row = key_row(app, user_id)
    assert row.last_step == 1 and row.last_used_at is not None
    assert "Blue YubiKey" in text(client.get("/settings/account"))


def test_the_key_is_the_default_and_other_methods_stay(client, keyed):
    second_step(client)
    body = text(client.get(VERIFY))
    assert 'id="webauthn-options"' in body
    assert "Security keys need JavaScript" in body  # webauthn.js hides it
    assert "Use SMS" in body and 'name="credential"' in body


def test_without_javascript_the_empty_answer_is_explained(client, keyed):
    _, token = second_step(client)
    r = same_step(client, answer(client, token, ""), VERIFY)
    assert r.status_code == 422 and "Security keys need JavaScript" in text(r)


@pytest.mark.parametrize("misbehave", [
    {"origin": "https://evil.example"}, {"origin": "https://127.0.0.1:5000"},
    {"rp_id": "evil.example"}, {"presence": False},
])
def test_answers_from_elsewhere_or_without_presence_are_refused(app, client, keyed,
                                                                misbehave):
    user_id, key = keyed
    options, token = second_step(client)
    r = same_step(client, answer(client, token, key.get(options, **misbehave)), VERIFY)
    assert r.status_code == 422 and NOT_VERIFIED in text(r)
    assert "127.0.0.1:5000" not in text(r).split("webauthn-options")[0]
    assert key_row(app, user_id).last_used_at is None
    assert client.get("/settings/account").status_code != 200  # not signed in


def test_a_challenge_is_used_once(app, client, auth, keyed):
    _, key = keyed
    options, token = second_step(client)
    credential = key.get(options)
    assert answer(client, token, credential).status_code == 303
    auth.sign_out()
    _, token = second_step(client)
    r = same_step(client, answer(client, token, credential), VERIFY)
    assert r.status_code == 422 and "expired or was used already" in text(r)


def test_a_challenge_expires_after_5_minutes(app, client, keyed, clock):
    _, key = keyed
    options, token = second_step(client)
    clock.shift(301)
    r = same_step(client, answer(client, token, key.get(options)), VERIFY)
    assert r.status_code == 422 and "expired or was used already" in text(r)
    options = options_of(r.get_data(as_text=True))  # the page made a new challenge
    clock.shift(299)
    assert answer(client, csrf_token(client, VERIFY), key.get(options)).status_code == 303


def test_a_counter_that_does_not_go_up_is_refused_and_reported(app, client, auth, outbox,
                                                              keyed):
    user_id, key = keyed
    options, token = second_step(client)
    assert answer(client, token, key.get(options)).status_code == 303
    auth.sign_out()
    options, token = second_step(client)
    r = same_step(client, answer(client, token, key.get(options, advance=False)), VERIFY)
    assert r.status_code == 422 and "may have been copied" in text(r)
    assert event_kinds(app, user_id)[-1] == "key_counter"
    assert outbox.messages("email")[0].subject == "One of your security keys may have been copied"
    assert key_row(app, user_id).last_step == 1


def test_synced_passkeys_without_a_counter_sign_in_again(app, client, auth, signed_in):
    set_sms(app, signed_in)
    key = SoftKey(step=0)
    add_key(client, key, "Phone passkey")
    auth.sign_out()
    for _ in range(2):
        options, token = second_step(client)
        assert answer(client, token, key.get(options)).status_code == 303
        auth.sign_out()
    assert key_row(app, signed_in).last_step == 0


def test_another_accounts_key_is_not_accepted(app, client, auth, make_user, keyed):
    bob = make_user("bob@example.com")
    assert auth.sign_in("bob@example.com").status_code == 303
    set_sms(app, bob, "+447400654321")
    bobs_key = SoftKey()
    add_key(client, bobs_key, "Bob's key")
    auth.sign_out()
    options, token = second_step(client)  # alice
    r = same_step(client, answer(client, token, bobs_key.get(options)), VERIFY)
    assert r.status_code == 422 and "not registered for your account" in text(r)


def test_a_removed_key_is_not_accepted(app, client, auth, keyed):
    user_id, key = keyed
    options, token = second_step(client)
    assert answer(client, token, key.get(options)).status_code == 303
    spare = SoftKey()
    add_key(client, spare, "Spare")
    first = key_row(app, user_id)
    token = csrf_token(client, "/settings/account")
    post(client, f"/settings/security-keys/{first.id}/remove", token=token)
    post(client, "/settings/two-step/webauthn_remove/password", {"password": PASSWORD},
         token=token)
    assert key_row(app, user_id).name == "Spare"
    auth.sign_out()
    options, token = second_step(client)
    r = same_step(client, answer(client, token, key.get(options)), VERIFY)
    assert r.status_code == 422 and "not registered for your account" in text(r)
    r = answer(client, csrf_token(client, VERIFY), spare.get(options_of(text(r))))
    assert r.status_code == 303 and r.headers["Location"] == "/"


def test_a_security_key_passes_the_second_step_of_a_password_reset(app, client, outbox,
                                                                   keyed):
    _, key = keyed
    r = post(client, "/forgot-password", {"email": "alice@example.com"},
             token=csrf_token(client, "/forgot-password"))
    assert r.status_code == 200
    link = outbox.last_link("alice@example.com")
    page = client.get(link)
    assert page.status_code == 200 and 'name="new_password"' not in text(page)
    options = options_of(page.get_data(as_text=True))
    r = answer(client, csrf_token(client, link), key.get(options), path=link)
    assert r.status_code == 303 and r.headers["Location"] == link
    assert 'name="new_password"' in text(client.get(link))


@pytest.mark.parametrize("garbage", [
    "not json", "[]", '{"response": 1}', '{"response": {}}',
    '{"id": 5, "response": {"clientDataJSON": 7}}',
    '{"id": "AAAA", "response": {"clientDataJSON": "e30", "authenticatorData": "", '
    '"signature": ""}}',
    '{"id": "AAAA", "rawId": ["x"], "response": {"clientDataJSON": "!!!"}}',
])
def test_a_malformed_answer_is_a_clear_refusal(app, client, keyed, garbage):
    user_id, key = keyed
    _, token = second_step(client)
    r = same_step(client, answer(client, token, garbage), VERIFY)
    assert r.status_code == 422
    assert "Security keys need JavaScript" in text(r) or "expired or was used" in text(r)
    assert key_row(app, user_id).last_used_at is None


def test_a_malformed_answer_with_a_real_challenge_is_refused(app, client, keyed):
    user_id, key = keyed
    options, token = second_step(client)
    good = json.loads(key.get(options))
    good["response"]["authenticatorData"] = "AAAA"
    r = same_step(client, answer(client, token, json.dumps(good)), VERIFY)
    assert r.status_code == 422 and NOT_VERIFIED in text(r)
