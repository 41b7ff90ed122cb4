"""The second step by SMS: signing in and recovering a password with SMS 2SV on."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from hubweb.extensions import db
from hubweb.models import UserSession
from tests.support.accounts import PASSWORD, csrf_token
from tests.support.sms import (
    COOKIE,
    EMAIL,
    HX,
    MASKED,
    PHONE,
    code_of,
    emails,
    enter_sign_in_code,
    event_kinds,
    last_sms_code,
    post,
    resend_sign_in_code,
    same_step,
    sign_in_password,
    sms_list,
    start_second_step,
    text,
    token_of,
    user_row,
)

NEW_PASSWORD = "tangerine lighthouse ceremony velvet"

#: What a half-signed-in session may reach: the second step (code, "Resend code",
#: and the switch to the authenticator app), sign-out, static files and the
#: development outbox.
PENDING_ALLOWED = {"auth.verify", "auth.verify_resend", "auth.verify_method", "auth.sign_out",
                   "static", "outbox.index"}
DUMMY = {"token": "dummy-token-value", "sid": "dummy-session", "flow": "sms", "step": "code",
         "filename": "style.css", "browser_id": 1, "key_id": 1}


def code_input(body: str) -> str:
    return re.search(r'<input[^>]*\bname="code"[^>]*>', body)[0]


def assert_contract_code_field(body: str) -> None:
    tag = code_input(body)
    assert 'type="text"' in tag and 'type="number"' not in tag
    assert 'inputmode="numeric"' in tag and 'autocomplete="one-time-code"' in tag
    assert re.search(r"\sautofocus[\s>=/]", tag), tag


def other_code(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


# --- the half-signed-in state ------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_right_password_gives_only_a_half_signed_in_session(app, client, with_sms, outbox,
                                                            clock, htmx):
    r = sign_in_password(client, htmx=htmx)
    if htmx:
        assert r.status_code == 200 and r.headers["HX-Redirect"] == "/sign-in/verify"
    else:
        assert r.status_code == 303 and r.headers["Location"] == "/sign-in/verify"
    with app.app_context():
        [row] = db.session.scalars(sa.select(UserSession))
        assert (row.user_id, row.state) == (with_sms, "pending")
    assert sms_list(outbox) == []  # sent when the step begins, not before
    assert "sign_in" not in event_kinds(app, with_sms)


def test_half_signed_in_session_reaches_nothing_but_the_second_step(app, client, with_sms,
                                                                     outbox, clock):
    token = start_second_step(client)
    adapter = app.url_map.bind("localhost")
    checked = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in PENDING_ALLOWED:
            continue
        path = adapter.build(rule.endpoint, {name: DUMMY[name] for name in rule.arguments})
        for method in sorted({"GET", "POST"} & rule.methods):
            for htmx in (False, True):
                headers = HX if htmx else {}
                if method == "GET":
                    r = client.get(path, headers=headers)
                else:
                    r = client.post(path, data={"csrf_token": token, "email": EMAIL,
                                                "password": PASSWORD, "code": "123456",
                                                "phone": "+447400999999"}, headers=headers)
                where = (method, path, htmx, r.status_code)
                if htmx:
                    assert r.status_code == 200, where
                    assert r.headers.get("HX-Redirect") == "/sign-in/verify", where
                else:
                    assert r.status_code in (302, 303), where
                    assert r.headers["Location"] == "/sign-in/verify", where
                checked.add(rule.endpoint)
    assert {"views.home", "settings.account", "settings.two_step_start", "auth.sign_in",
            "auth.register", "auth.reset_password"} <= checked
    # Still half signed in, and none of it sent anything or changed the account.
    assert client.get("/sign-in/verify").status_code == 200
    assert len(sms_list(outbox)) == 1
    assert user_row(app, with_sms)["sms_phone"] == PHONE


def test_half_signed_in_state_lasts_at_most_ten_minutes(app, client, with_sms, outbox, clock):
    token = start_second_step(client)
    clock.shift(360)
    assert resend_sign_in_code(client, token).status_code == 200
    code = last_sms_code(outbox)  # valid until 11:00
    clock.shift(239)  # 9:59
    assert client.get("/sign-in/verify").status_code == 200
    clock.shift(2)  # 10:01
    r = client.get("/sign-in/verify")
    assert r.status_code in (302, 303) and r.headers["Location"] == "/sign-in"
    r = enter_sign_in_code(client, csrf_token(client, "/sign-in"), code)
    assert r.headers.get("Location") == "/sign-in"
    assert client.get("/").headers["Location"] == "/sign-in"
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(UserSession)) <= 1
        assert db.session.scalar(
            sa.select(sa.func.count()).select_from(UserSession)
            .where(UserSession.user_id == with_sms)) == 0


def test_one_sms_when_the_step_begins_and_none_on_reload(app, client, with_sms, outbox, clock):
    sign_in_password(client)
    assert sms_list(outbox) == []
    page = client.get("/sign-in/verify")
    [sms] = sms_list(outbox)
    assert sms.recipient == PHONE
    body = text(page)
    assert MASKED in body and "7400" not in re.sub(r'value="[^"]*"', "", body)
    assert ">Resend code</button>" in body
    assert_contract_code_field(page.get_data(as_text=True))
    for seconds in (0, 5, 120):
        clock.shift(seconds)
        assert client.get("/sign-in/verify").status_code == 200
    assert len(sms_list(outbox)) == 1


def test_resend_code_after_the_cooldown(app, client, with_sms, outbox, clock):
    token = start_second_step(client)
    first = last_sms_code(outbox)
    clock.shift(30)
    r = resend_sign_in_code(client, token)
    assert r.status_code == 429
    assert "A code was sent a moment ago. Wait 30 seconds before asking for another." in text(r)
    clock.shift(29)
    r = post(client, "/sign-in/verify/resend", token=token, htmx=True)
    assert r.status_code == 429 and "Wait 1 second before" in text(r)
    assert "<html" not in text(r)
    assert len(sms_list(outbox)) == 1
    clock.shift(1)
    r = post(client, "/sign-in/verify/resend", token=token, htmx=True)
    assert r.status_code == 200 and "<html" not in text(r)
    assert f"We sent a new code to {MASKED}." in text(r)
    assert len(sms_list(outbox)) == 2
    second = last_sms_code(outbox)
    if second != first:  # the older code is void
        assert enter_sign_in_code(client, token, first).status_code == 422
    r = enter_sign_in_code(client, token, second)
    assert r.status_code == 303 and r.headers["Location"] == "/"


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_right_code_makes_a_full_session_under_a_new_cookie(app, client, with_sms, outbox,
                                                           clock, htmx):
    token = start_second_step(client)
    pending_cookie = client.get_cookie(COOKIE).value
    code = last_sms_code(outbox)
    r = enter_sign_in_code(client, token, other_code(code), htmx=htmx)
    assert r.status_code == 422
    assert "That code is not right. Check it and try again." in text(r)
    assert client.get_cookie(COOKIE).value == pending_cookie
    r = enter_sign_in_code(client, token, code, htmx=htmx)
    if htmx:
        assert r.status_code == 200 and r.headers["HX-Redirect"] == "/"
    else:
        assert r.status_code == 303 and r.headers["Location"] == "/"
    full_cookie = client.get_cookie(COOKIE).value
    assert full_cookie != pending_cookie
    assert EMAIL in text(client.get("/"))
    assert client.get("/settings/account").status_code == 200
    assert event_kinds(app, with_sms)[-1] == "sign_in"
    assert user_row(app, with_sms)["factor_failures"] == 0
    # The pending cookie is worthless now.
    replay = app.test_client()
    replay.set_cookie(COOKIE, pending_cookie)
    assert replay.get("/settings/account").headers["Location"].startswith("/sign-in")
    assert replay.get("/sign-in/verify").headers["Location"] == "/sign-in"
    with app.app_context():
        states = db.session.scalars(
            sa.select(UserSession.state).where(UserSession.user_id == with_sms)).all()
    assert states == ["signed_in"]


def test_the_second_step_keeps_where_the_person_was_going(app, client, with_sms, outbox, clock):
    assert client.get("/settings/account").headers["Location"] == "/sign-in"
    token = start_second_step(client)
    r = enter_sign_in_code(client, token, last_sms_code(outbox))
    assert r.status_code == 303 and r.headers["Location"] == "/settings/account"


def test_sign_out_from_the_second_step(app, client, with_sms, outbox, clock):
    token = start_second_step(client)
    code = last_sms_code(outbox)
    r = post(client, "/sign-out", token=token)
    assert r.status_code == 303 and r.headers["Location"] == "/sign-in"
    assert client.get("/sign-in/verify").headers["Location"] == "/sign-in"
    r = enter_sign_in_code(client, csrf_token(client, "/sign-in"), code)
    assert r.headers["Location"] == "/sign-in"
    assert client.get("/").headers["Location"] == "/sign-in"


def test_code_fields_follow_the_contract_everywhere(app, client, make_user, auth, outbox, clock):
    make_user()
    auth.sign_in()
    token = csrf_token(client, "/settings/account")
    for step, data in [("start", {}), ("password", {"password": PASSWORD}),
                       ("phone", {"phone": "+447400123456"})]:
        r = post(client, f"/settings/two-step/sms/{step}", data, token=token, htmx=True)
    assert_contract_code_field(r.get_data(as_text=True))


# --- password recovery ------------------------------------------------------------------


def reset_link(client, outbox) -> str:
    r = post(client, "/forgot-password", {"email": EMAIL},
             token=csrf_token(client, "/forgot-password"))
    assert r.status_code == 200
    return outbox.last_link(EMAIL)


def test_recovery_asks_for_a_code_and_never_turns_two_step_off(app, client, with_sms, outbox,
                                                              clock):
    before = user_row(app, with_sms)
    link = reset_link(client, outbox)
    assert link.startswith("/reset-password/")
    page = client.get(link)
    assert page.status_code == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    body = text(page)
    assert MASKED in body and 'name="new_password"' not in body
    assert_contract_code_field(page.get_data(as_text=True))
    [sms] = sms_list(outbox)
    assert sms.recipient == PHONE
    code, token = code_of(sms.body), token_of(page)
    assert client.get(link).status_code == 200 and len(sms_list(outbox)) == 1  # reload

    # The new password cannot be set before the code.
    r = same_step(client, post(client, link, {"new_password": NEW_PASSWORD}, token=token),
                  link)
    assert r.status_code == 422 and 'name="code"' in text(r)
    r = same_step(client, post(client, link, {"code": other_code(code)}, token=token), link)
    assert r.status_code == 422 and "That code is not right." in text(r)
    assert user_row(app, with_sms)["password_hash"] == before["password_hash"]

    # As htmx here; test_recovery_code_as_plain_post_answers_303 checks the plain form.
    r = post(client, link, {"code": code}, token=token, htmx=True)
    assert r.status_code == 200 and r.headers["HX-Redirect"] == link
    page = client.get(link)
    assert 'name="new_password"' in text(page) and 'name="code"' not in text(page)
    r = post(client, link, {"new_password": NEW_PASSWORD}, token=token_of(page))
    assert r.status_code == 303 and r.headers["Location"] == "/sign-in"

    after = user_row(app, with_sms)
    assert after["password_hash"] != before["password_hash"]
    assert after["sms_phone"] == PHONE and after["sms_enabled_at"] == before["sms_enabled_at"]
    assert "reset_done" in event_kinds(app, with_sms)
    assert len(emails(outbox, "Your password was changed")) == 1
    # Signing in with the new password still needs the second step.
    r = sign_in_password(client, password=NEW_PASSWORD)
    assert r.headers["Location"] == "/sign-in/verify"


def test_recovery_resend_code(app, client, with_sms, outbox, clock):
    link = reset_link(client, outbox)
    token = token_of(client.get(link))
    first = last_sms_code(outbox)
    r = post(client, link + "/resend", token=token, htmx=True)
    assert r.status_code == 429 and "Wait 1 minute before asking for another." in text(r)
    clock.shift(61)
    r = post(client, link + "/resend", token=token, htmx=True)
    assert r.status_code == 200 and "<html" not in text(r)
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert f"We sent a new code to {MASKED}." in text(r)
    assert len(sms_list(outbox)) == 2
    second = last_sms_code(outbox)
    if second != first:
        assert same_step(client, post(client, link, {"code": first}, token=token),
                         link).status_code == 422
    r = post(client, link, {"code": second}, token=token, htmx=True)
    assert r.headers["HX-Redirect"] == link
    assert 'name="new_password"' in text(client.get(link))


def test_recovery_code_as_plain_post_answers_303(app, client, with_sms, outbox, clock):
    link = reset_link(client, outbox)
    page = client.get(link)
    r = post(client, link, {"code": last_sms_code(outbox)}, token=token_of(page))
    assert r.headers["Location"] == link and r.headers["Referrer-Policy"] == "no-referrer"
    assert r.status_code == 303


def test_a_sign_in_code_does_not_work_for_recovery(app, client, with_sms, outbox, clock):
    start_second_step(client)
    sign_in_code = last_sms_code(outbox)
    other = app.test_client()
    link = reset_link(other, outbox)
    page = other.get(link)  # within the cooldown: no recovery code is sent yet
    assert "A code was sent a moment ago." in text(page)
    r = same_step(other, post(other, link, {"code": sign_in_code}, token=token_of(page)), link)
    assert r.status_code == 422 and 'name="new_password"' not in text(r)
    assert 'name="code"' in text(other.get(link))
