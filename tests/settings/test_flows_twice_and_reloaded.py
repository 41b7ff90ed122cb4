"""Steps done twice, reloads, what is shown, what changes at once.

- a step sent again after it happened (double click, two tabs, Back
  then resubmit) answers with what is now true, never with an error.
- every multi-step flow resumes where it was after a reload; without
  JavaScript every POST answers 303 to a GET that shows the step, and a
  step's URL opened by GET shows it (no 405).
- the number is shown in full on the code step only.
- the htmx reply to a change carries the new "Recent security
  activity" row, and the sessions list when sessions ended, out of band.

The browser's view of the same rules is in tests/e2e/test_flows.py.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hubweb.extensions import db
from hubweb.models import UserSession
from hubweb.settings import flow_table
from tests.support.accounts import PASSWORD, csrf_token
from tests.support.authenticator import Doc, oath
from tests.support.sms import (
    EMAIL,
    MASKED,
    OTHER_PHONE,
    OTHER_SHOWN,
    PHONE,
    PHONE_INPUT,
    SHOWN,
    SMS_ON,
    emails,
    enter_sign_in_code,
    event_kinds,
    last_sms_code,
    post,
    set_sms,
    settle,
    sms_list,
    start_second_step,
    text,
    token_of,
    user_row,
)

BASE = "/settings/two-step"
STEPS = ("start", "password", "phone", "resend", "code")
FLOWS = ("sms", "phone", "disable", "app", "app_disable")
REFUSALS = ("enter your current password again", "not right", "expired", "already used",
            "wait ")
ACTIVITY_ROWS = '<hx-partial hx-target="#security-activity tbody" hx-swap="afterbegin">'
SESSIONS_OOB = 'id="sessions" aria-labelledby="sessions-heading" hx-swap-oob="true"'


@pytest.fixture
def token(client, signed_in):
    return csrf_token(client, "/settings/account")


def step(client, token, flow, name, data=None, *, htmx=True):
    """One step as a browser ends it: htmx's fragment, or the page after the 303."""
    return settle(client, post(client, f"{BASE}/{flow}/{name}", data, token=token, htmx=htmx))


def until_code(client, token, flow="sms", phone=PHONE_INPUT, *, htmx=True):
    step(client, token, flow, "start", htmx=htmx)
    step(client, token, flow, "password", {"password": PASSWORD}, htmx=htmx)
    return step(client, token, flow, "phone", {"phone": phone}, htmx=htmx)


def until_key(client, token, *, htmx=True) -> str:
    """ "Get secret key" and the password: the key of the panel."""
    step(client, token, "app", "start", htmx=htmx)
    r = step(client, token, "app", "password", {"password": PASSWORD}, htmx=htmx)
    return Doc(r.get_data(as_text=True)).by_id("totp-secret").attrs["data-secret"]


def refused(response) -> bool:
    words = text(response).lower()
    return response.status_code >= 400 or any(r in words for r in REFUSALS)


def session_data(app, user_id) -> str:
    with app.app_context():
        return db.session.scalar(sa.select(UserSession.data)
                                 .where(UserSession.user_id == user_id))


def restore_session_data(app, user_id, data: str) -> None:
    """Put back session data read before a request: what a parallel request of
    the same double click loaded before the first one saved."""
    with app.app_context():
        db.session.execute(sa.update(UserSession).where(UserSession.user_id == user_id)
                           .values(data=data))
        db.session.commit()


# --- a step done twice ends in the truthful state ------------------------------


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_sms_code_confirmed_twice_says_sms_is_on(app, client, signed_in, token, outbox, clock,
                                                 htmx):
    until_code(client, token, htmx=htmx)
    code = last_sms_code(outbox)
    replies = [step(client, token, "sms", "code", {"code": code}, htmx=htmx) for _ in "12"]
    for r in replies:
        assert r.status_code == 200 and not refused(r), text(r)
        assert "Two-step verification by SMS is on." in text(r) and SMS_ON in text(r)
    assert event_kinds(app, signed_in).count("sms_enabled") == 1
    assert len(emails(outbox, "Two-step verification is on")) == 1


@pytest.mark.parametrize("flow", ["sms", "phone"])
def test_a_parallel_second_confirm_answers_with_the_outcome(app, client, signed_in, token,
                                                            outbox, clock, flow):
    """Both requests of a double click loaded the session before either saved."""
    if flow == "phone":
        set_sms(app, signed_in, PHONE)
    until_code(client, token, flow, "+44 7400 654321" if flow == "phone" else PHONE_INPUT)
    code, before = last_sms_code(outbox), session_data(app, signed_in)
    assert step(client, token, flow, "code", {"code": code}).status_code == 200
    restore_session_data(app, signed_in, before)
    r = step(client, token, flow, "code", {"code": code})
    done = {"sms": "Two-step verification by SMS is on.",
            "phone": "Your phone number for two-step verification has been changed."}
    assert r.status_code == 200 and done[flow] in text(r) and not refused(r), text(r)
    assert user_row(app, signed_in)["sms_phone"] == (PHONE if flow == "sms" else OTHER_PHONE)
    kind = "sms_enabled" if flow == "sms" else "phone_changed"
    assert event_kinds(app, signed_in).count(kind) == 1
    assert ACTIVITY_ROWS not in r.get_data(as_text=True)  # nothing new to add


def test_number_changed_twice_says_it_changed(app, client, signed_in, token, outbox, clock):
    set_sms(app, signed_in, PHONE)
    until_code(client, token, "phone", "+44 7400 654321")
    code = last_sms_code(outbox, OTHER_PHONE)
    for _ in "12":
        r = step(client, token, "phone", "code", {"code": code})
        assert r.status_code == 200 and not refused(r), text(r)
        assert "Your phone number for two-step verification has been changed." in text(r)
    assert user_row(app, signed_in)["sms_phone"] == OTHER_PHONE
    assert event_kinds(app, signed_in).count("phone_changed") == 1


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_app_key_confirmed_twice_says_the_app_is_on(app, client, signed_in, token, outbox, clock,
                                                    htmx):
    set_sms(app, signed_in, PHONE)
    key = until_key(client, token, htmx=htmx)
    code = oath(key, clock.now())
    for _ in "12":
        r = step(client, token, "app", "code", {"code": code}, htmx=htmx)
        assert r.status_code == 200 and not refused(r), text(r)
        assert "Your authenticator app is on." in text(r)
    assert user_row(app, signed_in)["totp_enabled_at"] is not None
    assert event_kinds(app, signed_in).count("app_enabled") == 1
    assert len(emails(outbox, "An authenticator app was set up for your account")) == 1


def test_a_parallel_second_app_confirm_answers_the_app_is_on(app, client, signed_in, token,
                                                             outbox, clock):
    set_sms(app, signed_in, PHONE)
    key = until_key(client, token)
    code, before = oath(key, clock.now()), session_data(app, signed_in)
    assert "Your authenticator app is on." in text(step(client, token, "app", "code",
                                                       {"code": code}))
    restore_session_data(app, signed_in, before)
    r = step(client, token, "app", "code", {"code": code})
    assert r.status_code == 200 and "Your authenticator app is on." in text(r), text(r)
    assert not refused(r) and event_kinds(app, signed_in).count("app_enabled") == 1


@pytest.mark.parametrize("flow, done, kind", [
    ("disable", "Two-step verification is off.", "two_step_disabled"),
    ("app_disable", "Your authenticator app is off.", "app_disabled"),
])
@pytest.mark.parametrize("parallel", [False, True], ids=["after", "parallel"])
def test_disabling_twice_says_it_is_off(app, client, signed_in, token, outbox, clock, flow,
                                        done, kind, parallel):
    set_sms(app, signed_in, PHONE)
    if flow == "app_disable":
        key = until_key(client, token)
        step(client, token, "app", "code", {"code": oath(key, clock.now())})
    step(client, token, flow, "start")
    before = session_data(app, signed_in)
    for _ in "12":
        r = step(client, token, flow, "password", {"password": PASSWORD})
        assert r.status_code == 200 and done in text(r) and not refused(r), text(r)
        if parallel:
            restore_session_data(app, signed_in, before)
    assert event_kinds(app, signed_in).count(kind) == 1
    assert len([m for m in outbox.messages("email", EMAIL) if "turned off" in m.subject]) == 1


def test_buttons_of_the_section_are_disabled_while_their_request_is_in_flight(app, client,
                                                                             signed_in):
    """htmx 4's hx-disable, inherited by every form the section swaps in; the
    server rule above is the fix, this only spares the second request."""
    doc = Doc(client.get("/settings/account").get_data(as_text=True))
    assert doc.by_id("two-step").attrs["hx-disable:inherited"] == "findAll button"


def test_send_code_twice_sends_one_sms(app, client, signed_in, token, outbox, clock):
    first = until_code(client, token)
    second = step(client, token, "sms", "phone", {"phone": PHONE_INPUT})
    for r in (first, second):
        assert r.status_code == 200 and 'name="code"' in text(r) and not refused(r)
    assert len(sms_list(outbox)) == 1


def test_resend_twice_says_a_new_code_was_sent(app, client, signed_in, token, outbox, clock):
    until_code(client, token)
    clock.shift(61)
    replies = [step(client, token, "sms", "resend") for _ in "12"]
    for r in replies:
        assert r.status_code == 200 and "We sent a new code to" in text(r), text(r)
    assert len(sms_list(outbox)) == 2


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_sign_in_code_sent_again_goes_where_the_person_is(app, client, make_user, outbox,
                                                          clock, htmx):
    set_sms(app, make_user(), PHONE)
    token = start_second_step(client)
    code = last_sms_code(outbox)
    assert enter_sign_in_code(client, token, code).headers["Location"] == "/"
    r = post(client, "/sign-in/verify", {"code": code}, token=token, htmx=htmx)
    location = r.headers.get("HX-Redirect") if htmx else r.headers["Location"]
    assert r.status_code == (200 if htmx else 303) and location == "/"
    assert client.get("/").status_code == 200  # signed in, once
    assert event_kinds(app, 1).count("sign_in") == 1


def test_reset_code_sent_again_shows_the_new_password_step(app, client, make_user, outbox,
                                                           clock):
    set_sms(app, make_user(), PHONE)
    post(client, "/forgot-password", {"email": EMAIL},
         token=csrf_token(client, "/forgot-password"))
    link = outbox.last_link(EMAIL)
    token = token_of(client.get(link))
    code = last_sms_code(outbox)
    for _ in "12":
        r = post(client, link, {"code": code}, token=token)
        assert r.status_code == 303 and r.headers["Location"] == link
        assert 'name="new_password"' in text(client.get(link))


# --- a reload, Back or Forward never loses a step -------------------------------


def test_each_flow_module_registers_its_flows_and_panels_once(app):
    # Recovery codes' flow is checked twice and reloaded in test_recovery_codes_settings.
    assert sorted(flow_table.FLOWS) == sorted(FLOWS + ("webauthn", "webauthn_remove", "recovery"))
    assert sorted(flow_table.PANELS) == ["code", "codes", "key_add", "phone", "reauth", "secret"]
    with pytest.raises(ValueError, match="'sms' is registered already"):
        flow_table.register(flow_table.FLOWS["sms"])
    with_code = sorted(f.name for f in flow_table.FLOWS.values() if f.confirm)
    assert with_code == ["app", "phone", "recovery", "sms", "webauthn"]


def test_every_step_url_opened_directly_shows_the_settings_page(app, client, signed_in):
    for flow in FLOWS:
        for name in STEPS:
            r = client.get(f"{BASE}/{flow}/{name}")
            assert r.status_code == 303 and r.headers["Location"] == "/settings/account"
    r = client.get(f"{BASE}/cancel")
    assert r.status_code == 303 and r.headers["Location"] == "/settings/account"


def test_second_step_urls_opened_directly_show_the_step(app, client, make_user, outbox,
                                                        clock):
    set_sms(app, make_user(), PHONE)
    start_second_step(client)
    for path in ("/sign-in/verify/resend", "/sign-in/verify/method"):
        r = client.get(path)
        assert r.status_code == 303 and r.headers["Location"] == "/sign-in/verify"
    client.post("/sign-out", data={"csrf_token": token_of(client.get("/sign-in/verify"))})
    post(client, "/forgot-password", {"email": EMAIL},
         token=csrf_token(client, "/forgot-password"))
    link = outbox.last_link(EMAIL)
    for path in (f"{link}/resend", f"{link}/method"):
        r = client.get(path)
        assert r.status_code == 303 and r.headers["Location"] == link
        assert r.headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_sms_set_up_resumes_at_the_code_after_a_reload(app, client, signed_in, token, outbox,
                                                       clock, htmx):
    until_code(client, token, htmx=htmx)
    code = last_sms_code(outbox)
    clock.shift(90)  # the person reads the SMS, then reloads the page
    for _ in "12":
        page = client.get("/settings/account")
        assert page.status_code == 200
        assert 'name="code"' in text(page) and SHOWN in text(page)
    assert len(sms_list(outbox)) == 1  # no new SMS: the code received still works
    r = step(client, token, "sms", "code", {"code": code}, htmx=htmx)
    assert "Two-step verification by SMS is on." in text(r)
    assert user_row(app, signed_in)["sms_phone"] == PHONE


@pytest.mark.parametrize("flow, after_password, shows", [
    ("sms", False, 'id="two-step-password"'),
    ("sms", True, 'name="phone"'),
    ("phone", True, "Enter your new mobile number"),
    ("disable", False, "makes your account less secure"),
    ("app", True, 'id="totp-secret"'),
    ("app_disable", False, "Codes from the app will no longer be accepted"),
])
def test_every_flow_resumes_after_a_reload(app, client, signed_in, token, outbox, clock, flow,
                                           after_password, shows):
    if flow != "sms":
        set_sms(app, signed_in, PHONE)
    if flow == "app_disable":
        key = until_key(client, token)
        step(client, token, "app", "code", {"code": oath(key, clock.now())})
    step(client, token, flow, "start")
    if after_password:
        step(client, token, flow, "password", {"password": PASSWORD})
    assert shows in text(client.get("/settings/account"))
    post(client, f"{BASE}/cancel", token=token, htmx=True)  # "Cancel" ends it
    assert shows not in text(client.get("/settings/account"))


def test_without_javascript_every_post_answers_303_and_the_page_shows_the_step(
        app, client, signed_in, token, outbox, clock):
    def plain(name, data=None, path=None):
        r = post(client, path or f"{BASE}/sms/{name}", data, token=token)
        assert r.status_code == 303 and r.headers["Location"] == "/settings/account", name
        return client.get("/settings/account")

    page = plain("start")
    assert page.status_code == 200 and "Enter your current password" in text(page)
    page = plain("password", {"password": "not the password at all"})
    assert page.status_code == 422 and "That is not your current password." in text(page)
    again = client.get("/settings/account")  # a reload: the error was said once
    assert again.status_code == 200 and "That is not your current password." not in text(again)
    assert "Enter your current password" in text(again)
    page = plain("password", {"password": PASSWORD})
    assert page.status_code == 200 and 'name="phone"' in text(page)
    page = plain("phone", {"phone": "call me maybe"})
    assert page.status_code == 422 and "This is not a valid phone number." in text(page)
    field = Doc(page.get_data(as_text=True)).find("input", name="phone")[0]
    assert field.attrs["value"] == "call me maybe"  # what was typed stays to correct
    page = plain("phone", {"phone": PHONE_INPUT})
    assert page.status_code == 200 and SHOWN in text(page)
    page = plain("code", {"code": "12"})
    assert page.status_code == 422 and "Enter the 6-digit code." in text(page)
    clock.shift(20)  # not a second click of "Send code": the cooldown speaks
    page = plain("resend")
    assert page.status_code == 429 and "Wait" in text(page)
    assert int(page.headers["Retry-After"]) > 0
    r = post(client, f"{BASE}/sms/code", {"code": last_sms_code(outbox)}, token=token)
    assert r.status_code == 303
    assert "Two-step verification by SMS is on." in text(client.get("/settings/account"))
    page = plain(None, path=f"{BASE}/cancel")
    assert page.status_code == 200 and SMS_ON in text(page)


def test_without_javascript_a_refused_sign_in_code_answers_303(app, client, make_user,
                                                               outbox, clock):
    set_sms(app, make_user(), PHONE)
    token = start_second_step(client)
    r = post(client, "/sign-in/verify", {"code": "000000" if last_sms_code(outbox) != "000000"
                                         else "111111"}, token=token)
    assert r.status_code == 303 and r.headers["Location"] == "/sign-in/verify"
    page = client.get("/sign-in/verify")
    assert page.status_code == 422 and "That code is not right." in text(page)
    page = client.get("/sign-in/verify")  # a reload: said once, no new SMS
    assert page.status_code == 200 and "That code is not right." not in text(page)
    assert len(sms_list(outbox)) == 1
    assert enter_sign_in_code(client, token, last_sms_code(outbox)).headers["Location"] == "/"


# --- show what the person typed before relying on it ----------------------------


def test_the_number_is_in_full_on_the_code_step_and_masked_elsewhere(app, client, signed_in, token,
                                                                     outbox, clock):
    r = until_code(client, token)
    assert SHOWN in text(r) and MASKED not in text(r)
    r = step(client, token, "sms", "code", {"code": last_sms_code(outbox)})
    assert MASKED in text(r) and SHOWN not in text(r)
    assert SHOWN not in text(client.get("/settings/account"))
    [mail] = emails(outbox, "Two-step verification is on")
    assert MASKED in mail.body and SHOWN not in mail.body and PHONE not in mail.body
    clock.shift(61)
    r = until_code(client, token, "phone", "+44 7400 654321")
    assert OTHER_SHOWN in text(r)


# --- what changed shows at once -------------------------------------------------


def test_a_change_carries_its_activity_row_out_of_band(app, client, signed_in, token, outbox,
                                                       clock):
    for name, data in [("start", {}), ("password", {"password": PASSWORD}),
                       ("phone", {"phone": PHONE_INPUT})]:
        body = step(client, token, "sms", name, data).get_data(as_text=True)
        assert "hx-partial" not in body and "hx-swap-oob" not in body  # steps stay small
    r = step(client, token, "sms", "code", {"code": last_sms_code(outbox)})
    body = r.get_data(as_text=True)
    partial = body[body.index(ACTIVITY_ROWS):body.index("</hx-partial>")]
    rows = Doc(partial).find("tr")
    assert [row.attrs["data-kind"] for row in rows] == ["sms_enabled"]
    assert "Two-step verification by SMS turned on" in rows[0].words
    assert "hx-swap-oob" not in body  # the sessions did not change


def test_disabling_swaps_the_sessions_list_out_of_band(app, client, signed_in, token, outbox,
                                                       clock):
    other = app.test_client()
    post(other, "/sign-in", {"email": EMAIL, "password": PASSWORD},
         token=csrf_token(other, "/sign-in"))
    set_sms(app, signed_in, PHONE)
    assert text(client.get("/settings/account")).count('aria-label="Sign out ') == 2
    step(client, token, "disable", "start")
    body = step(client, token, "disable", "password", {"password": PASSWORD}).get_data(
        as_text=True)
    assert SESSIONS_OOB in body
    sessions = body[body.index(SESSIONS_OOB):body.index("</section>", body.index(SESSIONS_OOB))]
    assert sessions.count('aria-label="Sign out ') == 1 and "(this session)" in sessions
    assert 'data-kind="two_step_disabled"' in body[body.index(ACTIVITY_ROWS):]


@pytest.mark.parametrize("change", ["password", "one session", "other sessions"])
def test_password_and_session_changes_carry_their_activity_row(app, client, signed_in, token,
                                                               change):
    other = app.test_client()
    post(other, "/sign-in", {"email": EMAIL, "password": PASSWORD},
         token=csrf_token(other, "/sign-in"))
    doc = Doc(client.get("/settings/account").get_data(as_text=True))
    hx = {"HX-Request": "true", "X-CSRFToken": token}
    if change == "password":
        r = client.post("/settings/password", headers=hx, data={
            "password": PASSWORD, "new_password": "a quite different passphrase"})
        kind = "password_changed"
    elif change == "one session":
        forms = [b.form for b in doc.buttons("Sign out") if b.form.attrs.get("hx-post")]
        r = client.post(forms[0].attrs["hx-post"], headers=hx)
        kind = "session_ended"
    else:
        r = client.post("/settings/sessions/sign-out-others", headers=hx)
        kind = "other_sessions_ended"
    body = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in body
    assert f'data-kind="{kind}"' in body[body.index(ACTIVITY_ROWS):]
    assert (SESSIONS_OOB in body) is (change == "password")
