"""Setting up two-step verification by SMS, changing the number, disabling.

Every flow runs through the real forms, as htmx requests (fragments of the
``#two-step-verification`` section) and as plain POSTs (whole pages).
"""

from __future__ import annotations

import re

import pytest

from tests.support.accounts import PASSWORD, csrf_token
from tests.support.authenticator import Doc, forms_without_csrf
from tests.support.sms import (
    EMAIL,
    MASKED,
    OTHER_MASKED,
    OTHER_PHONE,
    OTHER_SHOWN,
    PHONE,
    PHONE_INPUT,
    SHOWN,
    SMS_OFF,
    SMS_ON,
    code_rows,
    emails,
    enable_sms,
    event_kinds,
    last_sms_code,
    post,
    set_sms,
    settle,
    sign_in_with_sms,
    sms_list,
    start_second_step,
    text,
    user_row,
)

SECTION = '<section class="card" id="two-step-verification"'
BASE = "/settings/two-step"


def flow_until_code(client, token, phone=PHONE_INPUT, *, htmx=True, flow="sms"):
    for step, data in [("start", {}), ("password", {"password": PASSWORD}),
                       ("phone", {"phone": phone})]:
        r = settle(client, post(client, f"{BASE}/{flow}/{step}", data, token=token, htmx=htmx))
    return r


# --- set-up ---------------------------------------------------------------------------


def test_setup_with_htmx_swaps_fragments_and_turns_sms_on(app, client, signed_in, outbox, clock):
    page = text(client.get("/settings/account"))
    assert SMS_OFF in page and ">Set up</button>" in page
    token = csrf_token(client, "/settings/account")

    def step(path, data=None):
        # The reply is the inside of the section, for the page's #two-step (its
        # forms inherit hx-target and hx-swap from there), without hidden CSRF
        # fields: htmx sends the token in a header.
        r = post(client, f"{BASE}/sms/{path}", data, token=token, htmx=True)
        body = text(r)
        assert "<html" not in body and "<section" not in body, body
        # (Out of band, a reply to a change also prepends the new activity row.)
        own = re.sub(r"<hx-partial .*?</hx-partial>", "", body)
        assert "hx-target" not in own and 'name="csrf_token"' not in body, body
        assert "HX-Request" in r.headers["Vary"]
        return r, body

    r, body = step("start")
    assert r.status_code == 200
    assert "Enter your current password" in body and ">Continue</button>" in body
    assert 'autocomplete="current-password"' in body
    assert f'method="post" action="{BASE}/sms/password" hx-post="{BASE}/sms/password"' in body

    r, body = step("password", {"password": PASSWORD})
    assert r.status_code == 200
    assert 'name="phone"' in body and ">Send code</button>" in body
    assert f'action="{BASE}/sms/phone" hx-post="{BASE}/sms/phone"' in body
    assert sms_list(outbox) == []

    r, body = step("phone", {"phone": PHONE_INPUT})
    assert r.status_code == 200
    # The code step shows the number in full: what the person typed.
    assert SHOWN in body and MASKED not in body and ">Resend code</button>" in body
    assert 'name="code"' in body and f'action="{BASE}/sms/code"' in body
    [sms] = sms_list(outbox)
    assert sms.recipient == PHONE
    assert user_row(app, signed_in)["sms_phone"] is None  # nothing on before the code

    r, body = step("code", {"code": last_sms_code(outbox)})
    assert r.status_code == 200
    assert "Two-step verification by SMS is on." in body and SMS_ON in body
    assert MASKED in body
    assert ">Change phone number</button>" in body
    assert ">Disable two-step verification</button>" in body

    row = user_row(app, signed_in)
    assert row["sms_phone"] == PHONE and row["sms_enabled_at"] is not None
    assert event_kinds(app, signed_in)[-1] == "sms_enabled"
    [mail] = emails(outbox, "Two-step verification is on")
    assert MASKED in mail.body and "123456" not in mail.body
    assert SMS_ON in text(client.get("/settings/account"))


def test_setup_as_plain_posts_answers_whole_pages(app, client, signed_in, outbox, clock):
    token = csrf_token(client, "/settings/account")
    for path, data, expect in [
        ("start", {}, "Enter your current password"),
        ("password", {"password": PASSWORD}, ">Send code</button>"),
        ("phone", {"phone": PHONE_INPUT}, ">Resend code</button>"),
    ]:
        # Post/redirect/get: the step is shown by a GET.
        posted = post(client, f"{BASE}/sms/{path}", data, token=token)
        assert posted.status_code == 303
        assert posted.headers["Location"] == "/settings/account"
        r = settle(client, posted)
        body = text(r)
        assert r.status_code == 200, body
        assert body.lstrip().lower().startswith("<!doctype html>") and "<html" in body
        assert SECTION in body and expect in body
        assert 'id="change-password"' in body  # the other sections: the whole page
        assert forms_without_csrf(Doc(r.get_data(as_text=True))) == []  # posts without JS
    r = settle(client, post(client, f"{BASE}/sms/code", {"code": last_sms_code(outbox)},
                            token=token))
    assert r.status_code == 200 and "<html" in text(r)
    assert "Two-step verification by SMS is on." in text(r) and SMS_ON in text(r)
    assert user_row(app, signed_in)["sms_phone"] == PHONE
    assert event_kinds(app, signed_in).count("sms_enabled") == 1
    assert len(emails(outbox, "Two-step verification is on")) == 1


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_wrong_current_password_is_refused_with_422(app, client, signed_in, outbox, htmx):
    token = csrf_token(client, "/settings/account")
    post(client, f"{BASE}/sms/start", token=token, htmx=htmx)
    r = settle(client, post(client, f"{BASE}/sms/password",
                            {"password": "not my password at all"}, token=token, htmx=htmx))
    assert r.status_code == 422
    assert "That is not your current password." in text(r)
    assert "Enter your current password" in text(r)
    # No step was unlocked: the phone step asks for the password again.
    r = settle(client, post(client, f"{BASE}/sms/phone", {"phone": PHONE_INPUT}, token=token,
                            htmx=htmx))
    assert r.status_code == 409
    assert "For your security, enter your current password again." in text(r)
    assert sms_list(outbox) == [] and code_rows(app) == []


@pytest.mark.parametrize("leave_after", ["password", "phone", "cancel"])
def test_leaving_half_way_changes_nothing(app, client, signed_in, outbox, clock, leave_after):
    before = user_row(app, signed_in)
    events_before = event_kinds(app, signed_in)
    token = csrf_token(client, "/settings/account")
    post(client, f"{BASE}/sms/start", token=token, htmx=True)
    post(client, f"{BASE}/sms/password", {"password": PASSWORD}, token=token, htmx=True)
    if leave_after != "password":
        post(client, f"{BASE}/sms/phone", {"phone": PHONE_INPUT}, token=token, htmx=True)
    if leave_after == "cancel":
        r = post(client, f"{BASE}/cancel", token=token, htmx=True)
        assert r.status_code == 200 and SMS_OFF in text(r)
        # The code sent before "Cancel" no longer turns anything on.
        r = post(client, f"{BASE}/sms/code", {"code": last_sms_code(outbox)},
                 token=token, htmx=True)
        assert r.status_code == 409
    client.get("/")  # the person goes elsewhere
    assert user_row(app, signed_in) == before
    assert event_kinds(app, signed_in) == events_before
    page = text(client.get("/settings/account"))
    # Coming back, a flow left open resumes where it was.
    resumed = {"password": 'name="phone"', "phone": SHOWN, "cancel": SMS_OFF}
    assert resumed[leave_after] in page
    assert emails(outbox, "Two-step verification is on") == []


def test_re_authentication_lasts_ten_minutes(app, client, signed_in, outbox, clock):
    token = csrf_token(client, "/settings/account")
    post(client, f"{BASE}/sms/start", token=token, htmx=True)
    post(client, f"{BASE}/sms/password", {"password": PASSWORD}, token=token, htmx=True)
    clock.shift(599)
    r = post(client, f"{BASE}/sms/phone", {"phone": PHONE_INPUT}, token=token, htmx=True)
    assert r.status_code == 200 and SHOWN in text(r)
    clock.shift(2)  # 10:01 after the password; the code itself is 2 s old and valid
    r = post(client, f"{BASE}/sms/code", {"code": last_sms_code(outbox)},
             token=token, htmx=True)
    assert r.status_code == 409
    body = text(r)
    assert "For your security, enter your current password again." in body
    assert "Enter your current password" in body and ">Continue</button>" in body
    assert user_row(app, signed_in)["sms_phone"] is None


# --- phone numbers ----------------------------------------------------------------------


@pytest.mark.settings(PHONE_DEFAULT_REGION="GB")
@pytest.mark.parametrize("typed", ["07400 123456", "+44 (0)7400 123456", "0044 7400 123456"])
def test_national_and_international_forms_store_e164(app, client, signed_in, outbox, clock, typed):
    assert enable_sms(client, app, outbox, typed) == PHONE
    assert user_row(app, signed_in)["sms_phone"] == "+447400123456"


@pytest.mark.settings(PHONE_DEFAULT_REGION="GB")
@pytest.mark.parametrize("typed, message", [
    ("020 7946 0018", "This number cannot receive text messages. Enter a mobile number."),
    ("07400 12", "This is not a valid phone number. Check it and try again."),
    ("call me maybe", "This is not a valid phone number. Check it and try again."),
])
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_refused_numbers_get_a_clear_message(app, client, signed_in, outbox, typed, message, htmx):
    r = flow_until_code(client, csrf_token(client, "/settings/account"), typed, htmx=htmx)
    assert r.status_code == 422
    assert message in text(r) and 'name="phone"' in text(r)
    assert ("<html" in text(r)) is not htmx
    assert sms_list(outbox) == [] and code_rows(app) == []
    assert user_row(app, signed_in)["sms_phone"] is None


def test_without_default_region_a_national_number_needs_the_country_code(
        app, client, signed_in, outbox):
    assert app.config["PHONE_DEFAULT_REGION"] is None
    r = flow_until_code(client, csrf_token(client, "/settings/account"), "07400 123456")
    assert r.status_code == 422
    assert ("Enter the number with + and the country code, for example +44 7400 123456."
            in text(r))
    assert sms_list(outbox) == []


def test_one_number_serves_at_most_five_accounts(app, make_user, outbox, clock):
    others = [make_user(f"user{i}@example.com") for i in range(5)]
    for user_id in others[:4]:
        set_sms(app, user_id, PHONE)
    sixth = app.test_client()
    # The fifth account still gets the number, through the real flow.
    fifth = app.test_client()
    post(fifth, "/sign-in", {"email": "user4@example.com", "password": PASSWORD},
         token=csrf_token(fifth, "/sign-in"))
    assert enable_sms(fifth, app, outbox) == PHONE
    make_user("sixth@example.com")
    post(sixth, "/sign-in", {"email": "sixth@example.com", "password": PASSWORD},
         token=csrf_token(sixth, "/sign-in"))
    sent = len(sms_list(outbox))
    r = flow_until_code(sixth, csrf_token(sixth, "/settings/account"))
    assert r.status_code == 422
    assert ("This number already serves 5 accounts, the most one number may serve. "
            "Use another mobile number.") in text(r)
    assert len(sms_list(outbox)) == sent
    # Another number is fine.
    r = post(sixth, f"{BASE}/sms/phone", {"phone": "+44 7400 999999"},
             token=csrf_token(sixth, "/settings/account"), htmx=True)
    assert r.status_code == 200 and sms_list(outbox)[0].recipient == "+447400999999"


def test_the_fifth_place_taken_meanwhile_refuses_the_code(app, make_user, outbox, clock):
    ids = [make_user(f"user{i}@example.com") for i in range(4)]
    for user_id in ids:
        set_sms(app, user_id, PHONE)
    late = make_user("late@example.com")
    client = app.test_client()
    post(client, "/sign-in", {"email": "late@example.com", "password": PASSWORD},
         token=csrf_token(client, "/sign-in"))
    token = csrf_token(client, "/settings/account")
    assert flow_until_code(client, token).status_code == 200
    code = last_sms_code(outbox)
    set_sms(app, make_user("quick@example.com"), PHONE)  # the fifth place goes meanwhile
    r = post(client, f"{BASE}/sms/code", {"code": code}, token=token, htmx=True)
    assert r.status_code == 409 and "This number already serves 5 accounts" in text(r)
    assert user_row(app, late)["sms_phone"] is None


# --- change phone number ------------------------------------------------------------------


def test_change_phone_number(app, client, signed_in, outbox, clock):
    enable_sms(client, app, outbox)
    token = csrf_token(client, "/settings/account")
    r = post(client, f"{BASE}/phone/start", token=token, htmx=True)
    assert r.status_code == 200 and "Enter your current password" in text(r)
    r = post(client, f"{BASE}/phone/password", {"password": "wrong password, sorry"},
             token=token, htmx=True)
    assert r.status_code == 422
    post(client, f"{BASE}/phone/password", {"password": PASSWORD}, token=token, htmx=True)
    clock.shift(61)
    r = post(client, f"{BASE}/phone/phone", {"phone": "+44 7400 654321"},
             token=token, htmx=True)
    assert r.status_code == 200 and OTHER_SHOWN in text(r)
    assert sms_list(outbox)[0].recipient == OTHER_PHONE
    wrong = "000000" if last_sms_code(outbox) != "000000" else "111111"
    r = post(client, f"{BASE}/phone/code", {"code": wrong}, token=token, htmx=True)
    assert r.status_code == 422 and user_row(app, signed_in)["sms_phone"] == PHONE

    # Until the new number is confirmed, sign-in codes still go to the old one.
    clock.shift(61)
    other = app.test_client()
    sign_in_with_sms(other, outbox, phone=PHONE)
    assert sms_list(outbox)[0].recipient == PHONE
    # That sign-in code voided the change code (a new code voids the older ones):
    # "Resend code" sends a fresh one to the new number.
    clock.shift(61)
    r = post(client, f"{BASE}/phone/resend", token=token, htmx=True)
    assert r.status_code == 200 and "We sent a new code to " + OTHER_SHOWN in text(r)
    r = post(client, f"{BASE}/phone/code", {"code": last_sms_code(outbox, OTHER_PHONE)},
             token=token, htmx=True)
    assert r.status_code == 200
    assert "Your phone number for two-step verification has been changed." in text(r)
    assert OTHER_MASKED in text(r)
    row = user_row(app, signed_in)
    assert row["sms_phone"] == OTHER_PHONE and row["sms_enabled_at"] is not None
    assert event_kinds(app, signed_in)[-1] == "phone_changed"
    [mail] = emails(outbox, "Your phone number for two-step verification changed")
    assert OTHER_MASKED in mail.body

    # From now on sign-in codes go to the new number.
    clock.shift(61)
    third = app.test_client()
    old_count = len(sms_list(outbox, PHONE))
    sign_in_with_sms(third, outbox, phone=OTHER_PHONE)
    assert len(sms_list(outbox, PHONE)) == old_count


def test_change_to_the_same_number_is_refused(app, client, signed_in, outbox, clock):
    enable_sms(client, app, outbox)
    clock.shift(61)
    r = flow_until_code(client, csrf_token(client, "/settings/account"), flow="phone")
    assert r.status_code == 422
    assert "This is already your number for two-step verification." in text(r)


# --- disable ----------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_disable_two_step_verification(app, client, signed_in, outbox, clock, htmx):
    other = app.test_client()  # a second session of the same account
    post(other, "/sign-in", {"email": EMAIL, "password": PASSWORD},
         token=csrf_token(other, "/sign-in"))
    assert other.get("/settings/account").status_code == 200
    enable_sms(client, app, outbox)
    token = csrf_token(client, "/settings/account")
    r = settle(client, post(client, f"{BASE}/disable/start", token=token, htmx=htmx))
    body = text(r)
    assert r.status_code == 200
    assert "makes your account less secure" in body
    assert "Enter your current password" in body and ">Continue</button>" in body
    r = settle(client, post(client, f"{BASE}/disable/password",
                            {"password": "a wrong password here"}, token=token, htmx=htmx))
    assert r.status_code == 422 and user_row(app, signed_in)["sms_phone"] == PHONE
    r = settle(client, post(client, f"{BASE}/disable/password", {"password": PASSWORD},
                            token=token, htmx=htmx))
    assert r.status_code == 200
    assert "Two-step verification is off." in text(r) and SMS_OFF in text(r)
    row = user_row(app, signed_in)
    assert row["sms_phone"] is None and row["sms_enabled_at"] is None
    assert event_kinds(app, signed_in)[-1] == "two_step_disabled"
    assert len(emails(outbox, "Two-step verification was turned off")) == 1
    # The other session is over; this one goes on.
    r = other.get("/settings/account")
    assert r.status_code in (302, 303) and r.headers["Location"].startswith("/sign-in")
    assert client.get("/settings/account").status_code == 200
    # Signing in now needs only the password.
    client.post("/sign-out", data={"csrf_token": token})
    r = post(client, "/sign-in", {"email": EMAIL, "password": PASSWORD},
             token=csrf_token(client, "/sign-in"))
    assert r.headers["Location"] == "/"


def test_disable_ends_a_half_signed_in_session_too(app, client, signed_in, outbox, clock):
    enable_sms(client, app, outbox)
    clock.shift(61)
    pending = app.test_client()
    start_second_step(pending)
    code = last_sms_code(outbox)
    token = csrf_token(client, "/settings/account")
    post(client, f"{BASE}/disable/start", token=token, htmx=True)
    post(client, f"{BASE}/disable/password", {"password": PASSWORD}, token=token, htmx=True)
    r = pending.post("/sign-in/verify", data={"code": code,
                                               "csrf_token": csrf_token(pending, "/sign-in")})
    assert r.status_code == 302 and r.headers["Location"] == "/sign-in"
    assert pending.get("/settings/account").headers["Location"].startswith("/sign-in")
