"""The one-time codes sent by SMS, their send limits and the account throttle."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from hubweb.extensions import db
from hubweb.models import User
from hubweb.twostep import smscodes
from hubweb.twostep.models import SmsCode
from tests.support.accounts import PASSWORD, csrf_token
from tests.support.clock import CLOCK_START
from tests.support.sms import (
    EMAIL,
    OTHER_PHONE,
    PHONE,
    PHONE_INPUT,
    code_rows,
    emails,
    enter_sign_in_code,
    last_sms_code,
    post,
    resend_sign_in_code,
    same_step,
    settle,
    sign_in_password,
    sms_list,
    start_second_step,
    text,
    token_of,
    user_row,
)

WRONG = "That code is not right. Check it and try again."
EXPIRED = ('That code has expired or was replaced by a newer one. '
           'Choose "Resend code" for a new one.')
TOO_MANY = 'Too many wrong entries for this code. Choose "Resend code" for a new one.'
FORMAT = "Enter the 6-digit code."
ALERT_SUBJECT = "Several wrong verification codes were entered"


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def failures(app, user_id) -> int:
    return user_row(app, user_id)["factor_failures"]


# --- the code and its message -----------------------------------------------------------


def test_sms_text_names_portal_code_lifetime_and_ends_with_the_origin_bound_line(
        app, client, with_sms, outbox, clock):
    start_second_step(client)
    [sms] = sms_list(outbox)
    code = re.search(r"#(\d+)$", sms.body)[1]
    assert re.fullmatch(r"\d{6}", code)
    first, *_, last = sms.body.splitlines()
    assert "Business Hub" in first and code in first
    assert "expires in 5 minutes" in sms.body
    assert "Do not share it with anyone" in sms.body
    assert last == f"@127.0.0.1 #{code}"


@pytest.mark.settings(BASE_URL="https://hub.example.org:8443", PORTAL_NAME="Acme Hub",
                      ALLOW_CONSOLE_BACKENDS=True)
def test_origin_bound_line_uses_the_host_of_base_url(app, client, with_sms, outbox, clock):
    start_second_step(client)
    body = sms_list(outbox)[0].body
    assert body.startswith("Acme Hub: ")
    assert re.search(r"\n@hub\.example\.org #\d{6}\Z", body)


def test_codes_come_from_secrets_and_keep_six_digits(app, client, with_sms, outbox, clock,
                                                     monkeypatch):
    import secrets

    real = secrets.randbelow
    monkeypatch.setattr(secrets, "randbelow", lambda n: 7 if n == 10**6 else real(n))
    start_second_step(client)
    assert sms_list(outbox)[0].body.endswith("#000007")


def test_codes_are_stored_only_as_a_keyed_hash_and_never_logged(app, client, with_sms, outbox,
                                                               clock, caplog):
    caplog.set_level(logging.DEBUG)
    token = start_second_step(client)
    code = last_sms_code(outbox)
    [row] = code_rows(app, with_sms)
    assert re.fullmatch(r"[0-9a-f]{64}", row["code_hash"])
    assert not any(code in str(value) for value in row.values())
    assert row["code_hash"] != hashlib.sha256(code.encode()).hexdigest()
    assert (row["purpose"], row["phone"], row["attempts"]) == ("sign_in", PHONE, 0)
    assert (row["expires_at"] - row["created_at"]).total_seconds() == 300
    enter_sign_in_code(client, token, other_code(code))
    enter_sign_in_code(client, token, code)
    # Not even the console backend, the development stand-in for the gateway, logs
    # the code or the full number: both are in the development outbox only.
    leaks = [r for r in caplog.records if code in r.getMessage() or PHONE in r.getMessage()]
    assert leaks == []


def test_a_code_is_single_use(app, client, with_sms, outbox, clock):
    token = start_second_step(client)
    code = last_sms_code(outbox)
    assert enter_sign_in_code(client, token, code).status_code == 303
    with app.app_context():
        user = db.session.get(User, with_sms)
        assert smscodes.check_code(user, PHONE, "sign_in", code).problem is (
            smscodes.Problem.EXPIRED)
    post(client, "/sign-out", token=csrf_token(client, "/"))
    clock.shift(30)
    # The code was entered right, so the next sign-in gets its own code at once
    # (no cooldown after a right code); the used one stays refused.
    token = start_second_step(client)
    assert len(sms_list(outbox)) == 2
    if last_sms_code(outbox) != code:
        r = enter_sign_in_code(client, token, code)
        assert r.status_code == 422 and WRONG in text(r)


@pytest.fixture(params=["UTC", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Chatham"])
def tz(request, monkeypatch):
    monkeypatch.setenv("TZ", request.param)
    time.tzset()
    at = datetime.fromtimestamp(CLOCK_START, ZoneInfo(request.param))
    offset = at.utcoffset().total_seconds()
    assert (request.param == "UTC") == (offset == 0)
    assert time.localtime(CLOCK_START).tm_gmtoff == offset  # the zone really is in force
    yield request.param
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize("elapsed, accepted", [(299, True), (301, False)], ids=["4:59", "5:01"])
def test_a_code_is_valid_five_minutes(app, client, with_sms, outbox, clock, tz, elapsed, accepted):
    token = start_second_step(client)
    code = last_sms_code(outbox)
    clock.shift(elapsed)
    r = enter_sign_in_code(client, token, code)
    if accepted:
        assert r.status_code == 303 and r.headers["Location"] == "/"
    else:
        assert r.status_code == 422 and EXPIRED in text(r)
        assert failures(app, with_sms) == 0
        assert client.get("/").headers["Location"] == "/sign-in/verify"


@pytest.mark.parametrize("column, value, purpose, phone", [
    ("purpose", "recovery", "recovery", PHONE),
    ("phone", OTHER_PHONE, "sign_in", OTHER_PHONE),
    ("user_id", "other", "sign_in", PHONE),
])
def test_a_code_is_bound_to_purpose_number_and_user(app, make_user, with_sms, outbox, clock,
                                                    column, value, purpose, phone):
    """Even with the row re-labelled, the HMAC context refuses the code elsewhere."""
    other_id = make_user("bob@example.com")
    with app.app_context():
        user = db.session.get(User, with_sms)
        assert smscodes.send_code(user, PHONE, "sign_in").ok
        code = last_sms_code(outbox)
        value = other_id if value == "other" else value
        db.session.execute(sa.update(SmsCode).values({column: value}))
        db.session.commit()
        owner = db.session.get(User, other_id if column == "user_id" else with_sms)
        result = smscodes.check_code(owner, phone, purpose, code)
        assert result.problem is smscodes.Problem.WRONG
        db.session.execute(sa.update(SmsCode).values({column: {
            "purpose": "sign_in", "phone": PHONE, "user_id": with_sms}[column]}))
        db.session.commit()
        assert smscodes.check_code(user, PHONE, "sign_in", code).ok  # the code itself is fine


def test_a_code_for_one_number_is_not_found_for_another(app, with_sms, outbox, clock):
    with app.app_context():
        user = db.session.get(User, with_sms)
        assert smscodes.send_code(user, PHONE, "setup").ok
        code = last_sms_code(outbox)
        assert smscodes.check_code(user, OTHER_PHONE, "setup", code).problem is (
            smscodes.Problem.NO_CODE)
        assert smscodes.check_code(user, PHONE, "change_phone", code).problem is (
            smscodes.Problem.NO_CODE)


def test_a_new_code_voids_the_older_ones(app, client, with_sms, outbox, clock):
    token = start_second_step(client)
    first = last_sms_code(outbox)
    clock.shift(61)
    resend_sign_in_code(client, token)
    second = last_sms_code(outbox)
    rows = code_rows(app, with_sms)
    # Voided: it expired when the new one was sent; ``used_at`` marks only a right entry.
    assert [r["expires_at"] == rows[1]["created_at"] for r in rows] == [True, False]
    assert [r["used_at"] for r in rows] == [None, None]
    if first != second:
        r = enter_sign_in_code(client, token, first)
        assert r.status_code == 422
    assert enter_sign_in_code(client, token, second).status_code == 303


# --- what people type -------------------------------------------------------------------

FULL_WIDTH = str.maketrans("0123456789", "\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17"
                                         "\uff18\uff19")
ARABIC_INDIC = str.maketrans("0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666"
                                           "\u0667\u0668\u0669")


@pytest.mark.parametrize("typed", [
    lambda c: f"  {c[:3]} {c[3:]}  ",
    lambda c: f"\t{c[:2]}\t{c[2:4]}\t{c[4:]}\t",
    lambda c: f"{c[:3]}\u00a0{c[3:]}",
    lambda c: f"{c[:3]}\u202f{c[3:]}\u2007",
    lambda c: c.translate(FULL_WIDTH),
    lambda c: f"{c[:3].translate(FULL_WIDTH)}\u3000{c[3:]}",
    lambda c: c.translate(ARABIC_INDIC),
], ids=["spaces", "tabs", "nbsp", "narrow-nbsp", "full-width", "mixed", "arabic-indic"])
def test_typed_code_ignores_spaces_and_reads_unicode_digits(app, client, with_sms, outbox, clock,
                                                            typed):
    token = start_second_step(client)
    r = enter_sign_in_code(client, token, typed(last_sms_code(outbox)))
    assert r.status_code == 303 and r.headers["Location"] == "/"


def test_malformed_codes_are_refused_without_counting(app, client, with_sms, outbox, clock):
    token = start_second_step(client)
    code = last_sms_code(outbox)
    for typed in [code[:5], code + "1", f"{code[:3]}-{code[3:]}", f"{code[:5]}x",
                  f"{code[:3]}.{code[3:]}", "\u00b9\u00b2\u00b3456", "", "      "]:
        r = enter_sign_in_code(client, token, typed)
        assert r.status_code == 422 and FORMAT in text(r), typed
    assert failures(app, with_sms) == 0 and code_rows(app, with_sms)[0]["attempts"] == 0
    assert enter_sign_in_code(client, token, code).status_code == 303


def test_leading_zeros_are_kept(app, client, with_sms, outbox, clock, monkeypatch):
    monkeypatch.setattr(smscodes, "generate_code", lambda: "012345")
    token = start_second_step(client)
    assert sms_list(outbox)[0].body.endswith("\n@127.0.0.1 #012345")
    assert "is 012345." in sms_list(outbox)[0].body
    r = enter_sign_in_code(client, token, "12345")
    assert r.status_code == 422 and FORMAT in text(r)
    r = enter_sign_in_code(client, token, "０12345")
    assert r.status_code == 303


# --- send limits --------------------------------------------------------------------------


def test_one_send_per_minute_in_set_up_too(app, client, make_user, auth, outbox, clock):
    make_user()
    auth.sign_in()
    token = csrf_token(client, "/settings/account")
    post(client, "/settings/two-step/sms/start", token=token, htmx=True)
    post(client, "/settings/two-step/sms/password", {"password": PASSWORD}, token=token,
         htmx=True)
    post(client, "/settings/two-step/sms/phone", {"phone": PHONE_INPUT}, token=token, htmx=True)
    clock.shift(15)
    r = post(client, "/settings/two-step/sms/resend", token=token, htmx=True)
    assert r.status_code == 429
    assert "A code was sent a moment ago. Wait 45 seconds before asking for another." in text(r)
    assert r.headers["Retry-After"] == "45"
    r = post(client, "/settings/two-step/sms/phone", {"phone": "+44 7400 999999"},
             token=token, htmx=True)
    assert r.status_code == 429 and "Wait 45 seconds" in text(r)
    assert len(sms_list(outbox)) == 1


SOON = "A code was sent a moment ago. Wait {} before asking for another."
IN_A_ROW = "Several codes were sent in a row. Wait {} before asking for another."


def test_resends_wait_60_seconds_then_2_then_5_minutes(app, client, with_sms, outbox, clock):
    """The resend cooldown grows; each refusal is a 429 whose
    Retry-After is the wait its words state (RFC 6585 section 4)."""
    token = start_second_step(client)  # t=0, the 1st code

    def resend():
        return post(client, "/sign-in/verify/resend", token=token, htmx=True)

    for wait, words, later in [(60, SOON.format("59 seconds"), "59"),
                               (120, IN_A_ROW.format("2 minutes"), "120"),
                               (300, IN_A_ROW.format("5 minutes"), "300")]:
        clock.shift(1)
        r = resend()
        assert r.status_code == 429 and words in text(r) and r.headers["Retry-After"] == later
        clock.shift(wait - 2)
        r = resend()
        assert r.status_code == 429 and r.headers["Retry-After"] == "1"
        assert (SOON if wait == 60 else IN_A_ROW).format("1 second") in text(r)
        clock.shift(1)
        assert resend().status_code == 200
    # Sent at 0:00, 1:00, 3:00 and 8:00, within the 10 minutes of a half sign-in;
    # later waits stay 5 minutes (test_sms_budgets).
    first = code_rows(app, with_sms)[0]["created_at"]
    assert [(r["created_at"] - first).total_seconds() for r in code_rows(app, with_sms)] == [
        0, 60, 180, 480]
    assert len(sms_list(outbox)) == 4


def set_up_until_send(app, email):
    """Sign in as ``email`` and ask for a set-up code to :data:`PHONE`."""
    client = app.test_client()
    post(client, "/sign-in", {"email": email, "password": PASSWORD},
         token=csrf_token(client, "/sign-in"))
    token = csrf_token(client, "/settings/account")
    for step, data in [("start", {}), ("password", {"password": PASSWORD}),
                       ("phone", {"phone": PHONE_INPUT})]:
        # Without JavaScript each step answers 303 to the page that shows it.
        r = settle(client, post(client, f"/settings/two-step/sms/{step}", data, token=token))
    return r


def test_at_most_five_sends_per_hour_per_number(app, make_user, outbox, clock):
    for i in range(5):
        make_user(f"user{i}@example.com")
        assert set_up_until_send(app, f"user{i}@example.com").status_code == 200
    make_user("sixth@example.com")
    clock.shift(600)
    r = set_up_until_send(app, "sixth@example.com")
    assert r.status_code == 429
    assert "Too many codes were sent to this number. Wait 50 minutes and try again." in text(r)
    assert len(sms_list(outbox, PHONE)) == 5
    clock.shift(3000)
    assert set_up_until_send(app, "sixth@example.com").status_code == 200
    assert len(sms_list(outbox, PHONE)) == 6


# --- wrong entries ------------------------------------------------------------------------


def test_four_wrong_entries_leave_the_code_usable(app, client, with_sms, outbox, clock):
    token = start_second_step(client)
    code = last_sms_code(outbox)
    for _ in range(4):
        r = enter_sign_in_code(client, token, other_code(code))
        assert r.status_code == 422 and WRONG in text(r)
    assert failures(app, with_sms) == 4
    assert enter_sign_in_code(client, token, code).status_code == 303
    assert failures(app, with_sms) == 0


def test_account_throttle_doubles_to_an_hour_and_only_a_success_resets_it(
        app, with_sms, outbox, clock):
    """Five wrong entries void a code and start the wait: 1, 2, 4 ... minutes, at most 1 h.

    Neither a new code nor a new sign-in resets the count; the 10th failure
    emails the owner; only a right code resets it. Each wait is checked to the
    second: refused (even the right code, and not counted) 1 s before its end.
    """

    def fresh_sign_in():
        client = app.test_client()
        token = start_second_step(client)
        return client, token, last_sms_code(outbox)

    def fail(client, token, code, count):
        r = enter_sign_in_code(client, token, other_code(code))
        assert failures(app, with_sms) == count
        return r

    def right_code_refused(client, token, code, words="1 second", seconds=1):
        count = failures(app, with_sms)
        r = enter_sign_in_code(client, token, code)
        assert r.status_code == 429
        assert f"Too many wrong codes. Wait {words} before trying again." in text(r)
        # The header says what the message says (RFC 6585 section 4).
        assert r.headers["Retry-After"] == str(seconds)
        assert failures(app, with_sms) == count

    a, token_a, code = fresh_sign_in()  # t=0, first code
    for count in range(1, 5):
        r = fail(a, token_a, code, count)
        assert r.status_code == 422 and WRONG in text(r)
    r = fail(a, token_a, code, 5)  # the code is void and the account waits 1 minute
    assert r.status_code == 429 and TOO_MANY in text(r)
    clock.shift(30)
    right_code_refused(a, token_a, code, "30 seconds", 30)
    clock.shift(30)  # t=60: the wait is over, the code stays void
    r = enter_sign_in_code(a, token_a, code)
    assert r.status_code == 422 and TOO_MANY in text(r)
    assert failures(app, with_sms) == 5

    # A new code does not reset the count.
    assert resend_sign_in_code(a, token_a).status_code == 200
    code = last_sms_code(outbox)
    assert fail(a, token_a, code, 6).status_code == 429  # 2 minutes
    clock.shift(5)  # 115 s left: the words and the header both say 2 minutes
    right_code_refused(a, token_a, code, "2 minutes", 120)
    clock.shift(114)
    right_code_refused(a, token_a, code)
    clock.shift(1)  # t=180
    fail(a, token_a, code, 7)  # 4 minutes
    clock.shift(239)
    right_code_refused(a, token_a, code)
    clock.shift(1)  # t=420; that code has expired
    assert resend_sign_in_code(a, token_a).status_code == 200
    code = last_sms_code(outbox)
    fail(a, token_a, code, 8)  # 8 minutes
    clock.shift(479)  # t=899: the half-signed-in session of t=0 is over

    # Nor does a new sign-in attempt.
    assert a.get("/sign-in/verify").headers["Location"] == "/sign-in"
    b, token_b, code = fresh_sign_in()
    right_code_refused(b, token_b, code)
    clock.shift(1)
    fail(b, token_b, code, 9)  # 16 minutes
    assert emails(outbox, ALERT_SUBJECT) == []
    clock.shift(959)
    c, token_c, code = fresh_sign_in()
    right_code_refused(c, token_c, code)
    clock.shift(1)  # t=1860
    fail(c, token_c, code, 10)  # 32 minutes, and the owner is told
    [alert] = emails(outbox, ALERT_SUBJECT)
    assert "10 wrong verification codes in a row" in alert.body
    clock.shift(1919)
    d, token_d, code = fresh_sign_in()
    right_code_refused(d, token_d, code)
    clock.shift(1)  # t=3780
    fail(d, token_d, code, 11)  # 64 minutes, capped at 60
    clock.shift(3599)
    e, token_e, code = fresh_sign_in()
    right_code_refused(e, token_e, code)
    clock.shift(1)  # t=7380
    fail(e, token_e, code, 12)  # still 60 minutes
    clock.shift(3599)
    f, token_f, code = fresh_sign_in()
    right_code_refused(f, token_f, code)
    assert len(emails(outbox, ALERT_SUBJECT)) == 1

    # Only a success resets the count.
    clock.shift(1)  # t=10980
    assert enter_sign_in_code(f, token_f, code).status_code == 303
    row = user_row(app, with_sms)
    assert row["factor_failures"] == 0 and row["factor_failed_at"] is None
    clock.shift(61)
    g, token_g, code = fresh_sign_in()
    r = fail(g, token_g, code, 1)
    assert r.status_code == 422 and WRONG in text(r)


def test_failures_of_every_flow_count_on_the_same_account(app, client, with_sms, outbox, clock):
    token = start_second_step(client)
    code = last_sms_code(outbox)
    for _ in range(3):
        enter_sign_in_code(client, token, other_code(code))
    other = app.test_client()
    post(other, "/forgot-password", {"email": EMAIL},
         token=csrf_token(other, "/forgot-password"))
    link = outbox.last_link(EMAIL)
    clock.shift(61)
    page = other.get(link)
    recovery = last_sms_code(outbox)
    reset_token = token_of(page)
    post(other, link, {"code": other_code(recovery)}, token=reset_token)
    r = same_step(other, post(other, link, {"code": other_code(recovery)}, token=reset_token),
                  link)
    assert failures(app, with_sms) == 5
    assert r.status_code == 429
    r = sign_in_password(app.test_client())
    assert r.status_code == 303


def test_claims_on_a_number_do_not_lock_its_owner_out(app, with_sms, make_user, outbox, clock):
    """Strangers asking for set-up codes to Alice's number use up the number's
    hourly limit for set-ups, but Alice still gets her sign-in and recovery
    codes: those go to a number she has proved she holds."""
    for i in range(5):
        make_user(f"stranger{i}@example.com")
        assert set_up_until_send(app, f"stranger{i}@example.com").status_code == 200
    clock.shift(60)
    make_user("sixth@example.com")
    assert set_up_until_send(app, "sixth@example.com").status_code == 429  # flood stopped
    assert len(sms_list(outbox, PHONE)) == 5
    start_second_step(app.test_client())  # Alice signs in: her code is sent
    assert len(sms_list(outbox, PHONE)) == 6
    with app.test_request_context():
        user = db.session.get(User, with_sms)
        # Only her own 60-second cooldown applies, to her sign-in and recovery codes alike.
        assert smscodes.send_limit(user, PHONE, "recovery").problem is (
            smscodes.Problem.COOLDOWN)
        clock.shift(60)
        assert smscodes.send_limit(user, PHONE, "sign_in").ok
        assert smscodes.send_limit(user, PHONE, "recovery").ok
        assert smscodes.send_limit(user, PHONE, "change_phone").problem is (
            smscodes.Problem.PHONE_LIMIT)
