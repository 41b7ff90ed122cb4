"""No session keeps access with fewer factors than the
account requires.

Each session records the factors its sign-in showed. Turning two-step
verification on ends every other session that showed the password alone (on
its next request, plain or htmx, with a message saying why) and every
half-signed-in one; the session that made the change stays, as a two-factor
session. After a change of the password or a factor, the done panel says how
many other sessions are signed in and offers to sign them out (OWASP ASVS 5.0
V7.4).
"""

from __future__ import annotations

import html
import re

import pytest
import sqlalchemy as sa

from hubweb.auth import messages as auth_msg
from hubweb.extensions import db
from hubweb.models import User, UserSession
from hubweb.sessions import token_hash
from hubweb.twostep import smscodes
from tests.support.accounts import COOKIE, Auth, csrf_token, opens_settings
from tests.support.authenticator import (
    CHANGES,
    HX,
    change_password,
    change_phone,
    click,
    enable_sms,
    operator_reset_2sv,
    page,
    set_up,
    sign_in_for,
    turn_app_off,
    turn_sms_on,
    turn_two_step_off,
)
from tests.support.sms import last_sms_code, set_sms, sign_in_with_sms, sms_list, start_second_step

TWO_STEP_NOW = auth_msg.SIGN_IN_AGAIN_TWO_STEP
SET_UP_CHANGED = auth_msg.SIGN_IN_AGAIN_CHANGED


def row_of(app, client) -> UserSession | None:
    """The session row behind ``client``'s cookie, or ``None``."""
    token = client.get_cookie(COOKIE)
    if token is None or "." in token.value:
        return None
    with app.app_context():
        row = db.session.get(UserSession, token_hash(token.value))
        if row is not None:
            db.session.expunge(row)
        return row


def words(response) -> str:
    return " ".join(html.unescape(response.get_data(as_text=True)).split())


def two_browsers(app, make_user):
    """Two clients signed in to one account with the password alone."""
    uid = make_user()
    a, b = app.test_client(), app.test_client()
    for c in (a, b):
        assert Auth(c).sign_in().headers["Location"] == "/"
    return uid, a, b


# --- what a session records ---------------------------------------------------------

def test_each_session_records_the_factors_it_showed(app, make_user, outbox):
    uid = make_user()
    password_only = app.test_client()
    Auth(password_only).sign_in()
    assert (row_of(app, password_only).state, row_of(app, password_only).factors) == \
        ("signed_in", 1)

    set_sms(app, uid)
    both = app.test_client()
    start_second_step(both)
    assert (row_of(app, both).state, row_of(app, both).factors) == ("pending", 1)
    r = both.post("/sign-in/verify", data={"code": last_sms_code(outbox),
                                           "csrf_token": csrf_token(both, "/sign-in/verify")})
    assert r.status_code == 303
    assert (row_of(app, both).state, row_of(app, both).factors) == ("signed_in", 2)


# --- turning two-step verification on -----------------------------------------------

def _plain_get(client, _token):
    return client.get("/settings/account")


def _htmx_get(client, _token):
    return client.get("/settings/account", headers=HX)


def _plain_post(client, token):
    return client.post("/settings/sessions/sign-out-others", data={"csrf_token": token})


def _htmx_post(client, token):
    return client.post("/settings/sessions/sign-out-others",
                       headers={**HX, "X-CSRFToken": token})


@pytest.mark.parametrize("next_request", [_plain_get, _htmx_get, _plain_post, _htmx_post],
                         ids=["plain-get", "htmx-get", "plain-post", "htmx-post"])
def test_turning_two_step_on_signs_out_the_password_only_sessions(app, make_user, outbox,
                                                                  next_request):
    uid, a, b = two_browsers(app, make_user)
    b_token = csrf_token(b, "/settings/account")  # b's page, open before the change
    b_row = row_of(app, b)

    r = enable_sms(a, outbox)
    assert "You are not signed in anywhere else." in page(r).words
    assert not page(r).buttons("Sign out of all other sessions")
    # a made the change: kept, and it proved the phone with the set-up code.
    assert (row_of(app, a).state, row_of(app, a).factors) == ("signed_in", 2)

    reply = next_request(b, b_token)
    if "HX-Request" in (reply.request.headers or {}):
        assert reply.status_code == 200 and reply.headers["HX-Redirect"] == "/sign-in"
        assert reply.get_data(as_text=True) == ""
    else:
        assert reply.status_code == 303 and reply.headers["Location"] == "/sign-in"
    with app.app_context():
        assert db.session.get(UserSession, b_row.id) is None  # gone from the server
    assert TWO_STEP_NOW in words(b.get("/sign-in"))
    assert TWO_STEP_NOW not in words(b.get("/sign-in"))  # said once
    assert opens_settings(a)  # b's POST, refused, ended nothing of a's
    assert [r.id for r in rows_of_user(app, uid)] == [row_of(app, a).id]
    # b signs in again: now the password alone is not enough.
    assert Auth(b).sign_in().headers["Location"] == "/sign-in/verify"


def rows_of_user(app, uid) -> list[UserSession]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(UserSession)
                                       .where(UserSession.user_id == uid)))
        db.session.expunge_all()
        return rows


def test_the_other_session_is_ended_at_the_change_not_only_at_its_next_request(
        app, make_user, outbox):
    """Ended in the changing transaction: the row is marked, and it no longer
    counts (nor is listed) as a signed-in session."""
    uid, a, b = two_browsers(app, make_user)
    enable_sms(a, outbox)
    b_row = next(r for r in rows_of_user(app, uid) if r.id != row_of(app, a).id)
    assert b_row.state == "ended"
    section = page(a.get("/settings/account")).by_id("sessions")
    assert section.words.count("(this session)") == 1
    assert len(re.findall(r"<tr>\s*<td[ >]", section_html(a))) == 1


def section_html(client) -> str:
    body = client.get("/settings/account").get_data(as_text=True)
    return re.search(r'<section class="card" id="sessions".*?</section>', body, re.S)[0]


def test_a_password_only_session_that_escaped_the_change_ends_at_its_next_request(
        app, make_user):
    """The guard at lookup: a session with the password alone on an account
    that requires two factors now (a sign-in that committed just after the
    change, here simulated by turning SMS on behind the sessions' back)."""
    uid, _a, b = two_browsers(app, make_user)
    set_sms(app, uid, behind_sessions_back=True)
    reply = b.get("/settings/account", headers=HX)
    assert reply.headers["HX-Redirect"] == "/sign-in"
    assert TWO_STEP_NOW in words(b.get("/sign-in"))
    assert row_of(app, b) is None


def test_a_two_factor_session_is_untouched_by_a_lookup(app, make_user, outbox):
    uid = make_user()
    set_sms(app, uid)
    client = app.test_client()
    sign_in_with_sms(client, outbox)
    for _ in range(3):
        assert opens_settings(client)
    assert row_of(app, client).factors == 2


# --- half-signed-in sessions ---------------------------------------------------------

def test_a_half_signed_in_session_ends_when_the_phone_changes(app, make_user, outbox,
                                                              clock):
    """Its second step would send a code to a number no longer the account's."""
    uid = make_user()
    set_sms(app, uid)
    owner, pending = app.test_client(), app.test_client()
    start_second_step(pending)
    clock.shift(61)
    sign_in_with_sms(owner, outbox)
    clock.shift(61)
    change_phone(owner, outbox)
    assert row_of(app, pending).state == "ended"
    sent = len(sms_list(outbox))

    reply = pending.get("/sign-in/verify")
    assert reply.status_code in (302, 303) and reply.headers["Location"] == "/sign-in"
    assert SET_UP_CHANGED in words(pending.get("/sign-in"))
    assert row_of(app, pending) is None and len(sms_list(outbox)) == sent
    assert opens_settings(owner)


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_half_signed_in_session_ends_when_two_step_is_turned_off(app, make_user, outbox,
                                                                   clock, htmx):
    """Turning 2SV off ends every other session (its row is deleted): the code
    posted by the half-signed-in browser then signs nobody in."""
    uid = make_user()
    set_sms(app, uid)
    owner, pending = app.test_client(), app.test_client()
    token = start_second_step(pending)
    code = last_sms_code(outbox)
    clock.shift(61)
    sign_in_with_sms(owner, outbox)
    turn_two_step_off(owner)
    reply = pending.post("/sign-in/verify", data={"code": code, "csrf_token": token},
                         headers=HX if htmx else {})
    # The form's session is gone: the browser is sent to sign-in, not to
    # "This form has expired" (hubweb.auth.verify.left_second_step).
    if htmx:
        assert reply.headers["HX-Redirect"] == "/sign-in"
    else:
        assert (reply.status_code, reply.headers["Location"]) == (303, "/sign-in")
    assert pending.get("/sign-in/verify").headers["Location"] == "/sign-in"
    assert not opens_settings(pending)
    assert [r.id for r in rows_of_user(app, uid)] == [row_of(app, owner).id]


def test_a_half_signed_in_session_left_by_a_race_ends_at_lookup(app, make_user):
    """Two-step verification off behind a half-signed-in session's back: its
    second step no longer exists, so the lookup ends it."""
    uid = make_user()
    set_sms(app, uid)
    pending = app.test_client()
    start_second_step(pending)
    with app.app_context():
        smscodes.FACTOR.disable(db.session.get(User, uid))
        db.session.commit()
    reply = pending.get("/sign-in/verify")
    assert reply.headers["Location"] == "/sign-in"
    assert SET_UP_CHANGED in words(pending.get("/sign-in"))
    assert row_of(app, pending) is None


# --- the done panel -----------------------------------------------------------------

OTHERS_NONE = "You are not signed in anywhere else."
OTHERS_ONE = "You are still signed in on 1 other session. If it is not you, sign it out."
PANEL_CHANGES = [c for c in CHANGES if c is not operator_reset_2sv]
#: Changes after which no other session is left: the password and turning 2SV
#: off end them all; turning 2SV on ends the (password-only) others.
LEAVES_NONE = {change_password, turn_sms_on, turn_two_step_off}


def signed_in_twice(app, make_user, outbox, clock, before):
    """``(me, other)``: two clients signed in to an account set up as ``before``."""
    uid = make_user()
    set_up(app, uid, before)
    me, other = app.test_client(), app.test_client()
    for c in (other, me):
        sign_in_for(c, outbox, clock, before)
    return me, other


@pytest.mark.parametrize("change", PANEL_CHANGES, ids=lambda f: f.__name__)
def test_the_done_panel_says_how_many_other_sessions_are_signed_in(
        app, make_user, outbox, clock, runner, change):
    me, other = signed_in_twice(app, make_user, outbox, clock, CHANGES[change])
    reply = change(client=me, outbox=outbox, clock=clock, runner=runner)
    done = page(reply)
    panel = done.by_id("other-sessions")
    assert panel is not None
    if change in LEAVES_NONE:
        assert panel.words == OTHERS_NONE
        assert not done.buttons("Sign out of all other sessions")
        assert not opens_settings(other)
        return
    assert panel.words.startswith(OTHERS_ONE)
    assert opens_settings(other)
    # "Sign out of all other sessions", right there (htmx: #sessions updated,
    # and the panel, out of band, says none are left).
    r = click(me, reply, "Sign out of all other sessions")
    assert r.status_code == 200
    reply = page(r)
    assert "All your other sessions have been signed out (1)." in reply.by_id("sessions").words
    oob = reply.by_id("other-sessions")
    assert oob.attrs["hx-swap-oob"] == "true" and oob.words == OTHERS_NONE
    assert not opens_settings(other) and opens_settings(me)


def test_without_javascript_the_settings_page_shows_the_count_once(app, make_user, outbox,
                                                                   clock):
    """A plain form's 303 leads to the settings page: the panel is there, in the
    section of the change, with a working form of its own; a reload drops it."""
    me, other = signed_in_twice(app, make_user, outbox, clock, "app")
    r = turn_app_off(me, htmx=False)
    assert [h.status_code for h in r.history] == [303]
    doc = page(r)
    panel = doc.by_id("other-sessions")
    assert panel.words.startswith(OTHERS_ONE)
    assert panel in doc.by_id("two-step").children  # in the section of the change
    form = next(c for c in panel.children if c.tag == "form")
    [token] = [e.attrs["value"] for e in doc.find("input", name="csrf_token") if e.form is form]
    ended = me.post(form.attrs["action"], data={"csrf_token": token}, follow_redirects=True)
    assert "All your other sessions have been signed out (1)." in page(ended).words
    assert not opens_settings(other) and opens_settings(me)
    assert page(me.get("/settings/account")).by_id("other-sessions") is None


def test_after_a_password_change_without_javascript_none_are_left(app, make_user, outbox,
                                                                  clock):
    me, other = signed_in_twice(app, make_user, outbox, clock, "")
    doc = page(change_password(me, htmx=False))
    assert doc.by_id("other-sessions").words == OTHERS_NONE
    assert not doc.buttons("Sign out of all other sessions")
    assert not opens_settings(other)
