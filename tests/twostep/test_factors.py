"""The registry of second factors: its order, the base-factor rules, the
number rule, and how a result is answered over HTTP."""

from __future__ import annotations

import pytest

from hubweb.extensions import db
from hubweb.models import User
from hubweb.replies import http_status
from hubweb.twostep import factors, messages, smscodes
from hubweb.twostep.result import Problem, Result
from tests.support.authenticator import set_up
from tests.support.sms import set_sms

PHONE = "+447400123456"


def keys(found) -> list[str]:
    return [factor.key for factor in found]


def test_the_registry_offers_keys_then_the_app_before_sms_and_sms_is_the_base():
    assert keys(factors.FACTORS) == ["webauthn", "app", "sms", "recovery"]
    assert factors.base().key == "sms"
    # the settings section
    assert keys(factors.in_set_up_order()) == ["sms", "webauthn", "app", "recovery"]
    assert [f.key for f in factors.FACTORS if f.requires_base] == ["webauthn", "app",
                                                                    "recovery"]
    assert factors.get("webauthn").switch_label == "Use security key"
    assert factors.get("app").switch_label == "Use authenticator app"
    assert factors.get("sms").switch_label == "Use SMS"
    with pytest.raises(KeyError):
        factors.get("email")


@pytest.mark.parametrize(("before", "expected"), [("", []), ("sms", ["sms"]),
                                                  ("app", ["app", "sms"])])
def test_a_person_has_the_factors_that_are_on_in_registry_order(app, make_user, before,
                                                               expected):
    uid = make_user()
    set_up(app, uid, before)
    with app.app_context():
        user = db.session.get(User, uid)
        assert keys(factors.available(user)) == expected
        assert factors.may_enable(user, factors.get("sms"))
        assert factors.may_enable(user, factors.get("app")) is bool(before)


def test_turning_the_base_off_turns_every_factor_off(app, with_sms_and_app):
    uid = with_sms_and_app
    with app.app_context():
        user = db.session.get(User, uid)
        assert keys(factors.disable(user, factors.base())) == ["webauthn", "app", "sms",
                                                                "recovery"]
        db.session.commit()
        user = db.session.get(User, uid)
        assert (user.sms_phone, user.totp_secret, user.two_step_enabled) == (None, None, False)
        assert factors.available(user) == []


def test_turning_another_factor_off_keeps_the_base(app, with_sms_and_app):
    uid = with_sms_and_app
    with app.app_context():
        user = db.session.get(User, uid)
        assert keys(factors.disable(user, factors.get("app"))) == ["app"]
        db.session.commit()
        user = db.session.get(User, uid)
        assert (user.sms_phone, user.totp_enabled) == (PHONE, False)
        assert keys(factors.available(user)) == ["sms"]


def test_one_number_serves_at_most_five_accounts(app, make_user):
    ids = [make_user(f"user{n}@example.com") for n in range(6)]
    for uid in ids[:5]:
        set_sms(app, uid, PHONE)
    with app.app_context():
        sixth, first = db.session.get(User, ids[5]), db.session.get(User, ids[0])
        assert smscodes.number_problem(sixth, PHONE) == messages.PHONE_IN_USE
        assert smscodes.number_problem(sixth, "+447400123457") is None
        assert smscodes.number_problem(first, PHONE) == messages.PHONE_SAME
        assert smscodes.number_problem(first, "+447400123457") is None  # 4 others


def test_enabling_sms_keeps_the_time_it_was_first_turned_on(app, make_user):
    uid = make_user()
    with app.app_context():
        user = db.session.get(User, uid)
        smscodes.enable(user, PHONE)
        first = user.sms_enabled_at
        smscodes.enable(user, "+447400123457")
        assert (user.sms_phone, user.sms_enabled_at, user.sms_enabled) == (
            "+447400123457", first, True)


@pytest.mark.parametrize(("result", "status"), [
    (Result(), 200),
    (Result(Problem.SEND_FAILED), 503),
    (Result(Problem.COOLDOWN, 30), 429),
    (Result(Problem.THROTTLED, 60), 429),
    (Result(Problem.WRONG, 60), 429),
    (Result(Problem.WRONG), 422),
    (Result(Problem.FORMAT), 422),
    (Result(Problem.REPLAYED), 422),
])
def test_the_web_layer_answers_a_result_with_one_status(result, status):
    assert http_status(result) == status


def test_a_result_holds_no_http():
    assert not hasattr(Result(), "status")
    assert smscodes.Result is Result and smscodes.Problem is Problem
