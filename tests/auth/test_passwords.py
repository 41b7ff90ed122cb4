"""Passwords: the policy (NIST SP 800-63B rev 4, 3.1.1.2) and argon2id hashing."""

from __future__ import annotations

import re
import string
import unicodedata

import argon2
import pytest
from argon2 import PasswordHasher
from zxcvbn import zxcvbn

from hubweb import passwords
from hubweb.passwords import check_policy, hash_password, needs_rehash, verify_password
from tests.support.accounts import PASSWORD, csrf_token, get_user

STRONG_12 = "vK7#qp2!Zm9w"
STRONG_128 = "".join(string.ascii_letters[(i * 7) % 52] + str(i % 10) for i in range(64))
EMAIL = "jane.doe@example.com"


# -- the policy -----------------------------------------------------------------------------


def test_eleven_characters_are_refused():
    result = check_policy(STRONG_12[:11])
    assert not result.ok
    assert result.problems == ["Use at least 12 characters."]


def test_twelve_strong_characters_are_accepted():
    assert len(STRONG_12) == 12
    assert check_policy(STRONG_12, EMAIL).ok


def test_128_characters_are_accepted_and_129_refused():
    assert len(STRONG_128) == 128
    assert check_policy(STRONG_128, EMAIL).ok
    result = check_policy(STRONG_128 + "x", EMAIL)
    assert not result.ok
    assert result.problems == ["Use at most 128 characters."]


@pytest.mark.parametrize("password", [
    "我的密码是非常安全的东西",  # 12 CJK characters
    "ключ-от-сарая-42",
    "🐱🐶🐭🐹🐰🦊🐻🐼🐨🐯🦁🐮",  # 12 emoji: 48 bytes of UTF-8, still 12 characters
])
def test_any_unicode_is_accepted_and_counted_in_characters(password):
    assert check_policy(password, EMAIL).ok


def test_no_composition_rules():
    """Lower-case words only, no digits or symbols: fine when hard to guess."""
    assert check_policy(PASSWORD, EMAIL).ok


@pytest.mark.parametrize("password", [
    EMAIL, "Jane.Doe@Example.COM", EMAIL + "!", EMAIL[::-1],
])
def test_password_derived_from_the_email_is_refused_with_zxcvbn_advice(password):
    context = [EMAIL, "jane", "doe", "example", "com"]
    # Without the email as context zxcvbn would accept it: the context matters.
    assert zxcvbn(password, max_length=128)["score"] >= passwords.MIN_SCORE
    assert check_policy(password).ok
    result = check_policy(password, EMAIL)
    assert not result.ok
    assert result.problems[0] == "This password is too easy to guess."
    feedback = zxcvbn(password, user_inputs=context, max_length=128)["feedback"]
    advice = [feedback["warning"], *feedback["suggestions"]]
    advice = [a for a in advice if a]
    assert advice, "zxcvbn gave no advice to pass on"
    for sentence in advice:
        assert sentence in result.problems


def test_common_password_gets_zxcvbn_warning():
    result = check_policy("password1234", EMAIL)
    assert not result.ok
    assert "This is a very common password." in result.problems


def test_register_page_shows_the_policy_advice(client):
    token = csrf_token(client, "/register")
    reply = client.post("/register", data={"csrf_token": token, "email": EMAIL,
                                           "password": EMAIL})
    assert reply.status_code == 422
    html = reply.get_data(as_text=True)
    assert "This password is too easy to guess." in html
    assert "Add another word or two." in html


# -- hashing --------------------------------------------------------------------------------


def test_hash_is_argon2id_and_verifies(app):
    with app.app_context():
        stored = hash_password(PASSWORD)
        assert stored.startswith("$argon2id$v=19$")
        assert verify_password(stored, PASSWORD)
        assert not verify_password(stored, PASSWORD + " ")
        assert not verify_password(stored, PASSWORD.upper())


def test_unicode_is_normalised_nfkc(app):
    ligature = "\ufb01nancial ledger tango"  # "ﬁ" (U+FB01), one character
    plain = "financial ledger tango"
    composed = "caf\u00e9 au lait tango"  # é as one code point
    decomposed = unicodedata.normalize("NFD", composed)  # e + combining acute
    assert ligature != plain and composed != decomposed
    with app.app_context():
        assert verify_password(hash_password(ligature), plain)
        assert verify_password(hash_password(plain), ligature)
        assert verify_password(hash_password(decomposed), composed)
        assert verify_password(hash_password(composed), decomposed)
        assert not verify_password(hash_password(plain), "flnancial ledger tango")


def test_long_passwords_are_never_truncated(app):
    first = "a" * 99 + "b"
    second = "a" * 99 + "c"
    with app.app_context():
        stored = hash_password(first)
        assert verify_password(stored, first)
        assert not verify_password(stored, second)
        longest = hash_password(STRONG_128)
        assert not verify_password(longest, STRONG_128[:-1] + "!")
        # Past bcrypt's 72 bytes too: multi-byte characters.
        emoji = "🐱" * 30
        assert not verify_password(hash_password(emoji + "a"), emoji + "b")


def test_malformed_stored_hash_is_false_not_an_error(app):
    with app.app_context():
        assert verify_password("not a hash", PASSWORD) is False
        assert verify_password("$argon2id$v=19$m=1024,t=1,p=1$broken", PASSWORD) is False


def test_unknown_account_verifies_against_the_dummy_hash(app, monkeypatch):
    """verify_password(None, ...) is False and costs a real argon2 verify.

    It verifies the dummy hash, made with the current parameters, so it takes
    as long as a real account's check.
    """
    calls = []
    real_verify = PasswordHasher.verify

    def counting(self, hash, password):  # noqa: A002 - argon2's own parameter name
        calls.append(hash)
        return real_verify(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counting)
    with app.app_context():
        real = hash_password(PASSWORD)
        assert verify_password(None, PASSWORD) is False
        # Not even the dummy hash's own password lets an unknown email in.
        assert verify_password(None, "dummy password for timing") is False
        dummy = app.extensions["hubweb.dummy_hash"]
        assert calls == [dummy, dummy]
        assert not needs_rehash(dummy)  # same parameters as real hashes
        assert (argon2.extract_parameters(dummy) == argon2.extract_parameters(real))
        calls.clear()
        assert verify_password(real, PASSWORD) is True
        assert calls == [real]


# -- parameters and rehashing ---------------------------------------------------------------


def _use_params(app, **params) -> None:
    """Change the argon2 settings of a running app (the hasher is rebuilt)."""
    app.config.update({f"ARGON2_{k.upper()}": v for k, v in params.items()})
    app.extensions.pop("hubweb.hasher", None)
    app.extensions.pop("hubweb.dummy_hash", None)


def test_needs_rehash_when_the_parameters_change(app):
    with app.app_context():
        stored = hash_password(PASSWORD)
        assert not needs_rehash(stored)
        _use_params(app, time_cost=2)
        assert needs_rehash(stored)
        assert verify_password(stored, PASSWORD)  # old hashes still verify
        assert not needs_rehash(hash_password(PASSWORD))


def test_sign_in_rehashes_with_the_new_parameters(app, client, make_user, auth):
    user_id = make_user()
    before = get_user(app, user_id).password_hash
    assert argon2.extract_parameters(before).time_cost == 1
    _use_params(app, time_cost=2, memory_cost=2048)
    assert auth.sign_in().status_code == 303
    after = get_user(app, user_id).password_hash
    params = argon2.extract_parameters(after)
    assert (params.time_cost, params.memory_cost) == (2, 2048)
    with app.app_context():
        assert verify_password(after, PASSWORD)


def test_wrong_password_does_not_rehash(app, make_user, auth):
    user_id = make_user()
    before = get_user(app, user_id).password_hash
    _use_params(app, time_cost=2)
    assert auth.sign_in(password="wrong horse battery staple").status_code == 422
    assert get_user(app, user_id).password_hash == before


@pytest.mark.settings(ARGON2_TIME_COST=None, ARGON2_MEMORY_COST=None, ARGON2_PARALLELISM=None)
def test_default_parameters_are_rfc_9106_low_memory(app):
    with app.app_context():
        stored = hash_password(PASSWORD)
    params = argon2.extract_parameters(stored)
    expected = argon2.profiles.RFC_9106_LOW_MEMORY
    assert params.type is argon2.Type.ID
    assert (params.time_cost, params.memory_cost, params.parallelism) == (
        expected.time_cost, expected.memory_cost, expected.parallelism)
    assert re.match(r"\$argon2id\$v=19\$m=65536,t=3,p=4\$", stored)
