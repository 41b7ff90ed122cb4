"""User account settings: the page, change password, sessions, security activity.

The settings forms are htmx-enabled, so each is tested as a plain form POST
(whole page) and as an htmx request (its fragment alone, no ``<html>``).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from hubweb import passwords
from hubweb.extensions import db
from hubweb.models import SecurityEvent, UserSession
from hubweb.sessions import token_hash
from hubweb.settings import messages as msg
from tests.support.accounts import PASSWORD, Auth, csrf_token, get_user, is_signed_in
from tests.support.pages import HX, is_fragment
from tests.support.pages import decoded as text

NEW_PASSWORD = "granite lantern orbit meadow"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
          "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")


def sid(client) -> str:
    return token_hash(client.get_cookie("hubweb_session").value)


def user_sessions(app, uid) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(sa.select(UserSession.id)
                                      .where(UserSession.user_id == uid)))


def kinds(app, uid) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(
            sa.select(SecurityEvent.kind).where(SecurityEvent.user_id == uid)
            .order_by(SecurityEvent.id)))


def settings_post(client, path, data, htmx):
    """Submit a settings form: plain with the hidden field, htmx with the header.

    A plain form that succeeds answers 303 to the settings page (post/redirect/get);
    that redirect is checked and followed, as a browser would.
    """
    token = csrf_token(client, "/settings/account")
    if htmx:
        return client.post(path, data=data, headers={**HX, "X-CSRFToken": token})
    reply = client.post(path, data={**data, "csrf_token": token})
    if reply.status_code == 303 and reply.headers["Location"] == "/settings/account":
        return client.get("/settings/account")
    return reply


@pytest.fixture
def signed_in_firefox(app, client, make_user):
    """An account without 2SV, signed in with Firefox from 203.0.113.7; returns its id."""
    uid = make_user()
    Auth(client).sign_in(environ_base={"REMOTE_ADDR": "203.0.113.7"},
                         headers={"User-Agent": FIREFOX})
    return uid


@pytest.fixture
def second(app, signed_in_firefox):
    """Alice signed in on another browser."""
    other = app.test_client()
    Auth(other).sign_in(environ_base={"REMOTE_ADDR": "198.51.100.20"},
                        headers={"User-Agent": CHROME})
    assert is_signed_in(other)
    return other


# --------------------------------------------------------------------------- the page


def test_settings_page(client, signed_in_firefox):
    reply = client.get("/settings/account")
    assert reply.status_code == 200
    body = text(reply)
    assert "<h1>User account settings</h1>" in body
    assert "Email address: <strong>alice@example.com</strong>" in body
    assert 'id="two-step-verification"' in body
    assert "Two-step verification" in body
    assert 'id="change-password"' in body
    assert 'id="sessions"' in body
    assert "Recent security activity" in body
    assert reply.headers["Cache-Control"] == "no-store"


def test_settings_page_needs_sign_in(client):
    reply = client.get("/settings/account")
    assert reply.status_code == 303
    assert reply.headers["Location"] == "/sign-in"


def test_change_password_form_fields(client, signed_in_firefox):
    body = client.get("/settings/account").get_data(as_text=True)
    section = re.search(r'<section class="card" id="change-password".*?</section>', body,
                        re.S).group(0)
    assert '<form method="post" action="/settings/password"' in section
    assert 'hx-post="/settings/password"' in section
    assert 'name="csrf_token"' in section
    assert "Enter your current password" in section
    assert re.search(r'<input[^>]*autocomplete="current-password"[^>]*name="password"', section)
    assert re.search(r'<input[^>]*autocomplete="new-password"[^>]*name="new_password"', section)


def test_header_shows_the_account_menu(client, signed_in_firefox):
    body = client.get("/settings/account").get_data(as_text=True)
    header = re.search(r"<header.*?</header>", body, re.S).group(0)
    link = re.search(r'<a id="account-menu-link"[^>]*>(.*?)</a>', header, re.S)
    assert "alice@example.com" in link.group(1)
    menu = re.search(r'<div id="account-menu".*?</div>', header, re.S).group(0)
    assert re.search(r'<a href="/settings/account">Manage user account</a>', menu)
    sign_out = re.search(r'<form method="post" action="/sign-out">(.*?)</form>', menu, re.S)
    assert sign_out
    assert 'name="csrf_token"' in sign_out.group(1)
    assert re.search(r'<button type="submit"[^>]*>Sign out</button>', sign_out.group(1))
    assert 'href="/sign-out"' not in body  # never a GET link


def test_header_has_no_account_menu_when_signed_out(client):
    body = client.get("/sign-in").get_data(as_text=True)
    assert "account-menu" not in body
    assert "Manage user account" not in body


# --------------------------------------------------------------------------- password


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_change_password_success(app, client, outbox, signed_in_firefox, second, htmx):
    old_hash = get_user(app, signed_in_firefox).password_hash
    reply = settings_post(client, "/settings/password",
                          {"password": PASSWORD, "new_password": NEW_PASSWORD}, htmx)
    assert reply.status_code == 200
    assert msg.PASSWORD_CHANGED in text(reply)
    assert is_fragment(reply) is htmx
    assert "HX-Request" in reply.headers["Vary"]
    if htmx:
        assert text(reply).lstrip().startswith('<section class="card" id="change-password"')
    # Stored, and the new password is the one that works.
    user = get_user(app, signed_in_firefox)
    assert user.password_hash != old_hash
    with app.app_context():
        assert passwords.verify_password(user.password_hash, NEW_PASSWORD)
    # This session stays, the other one ends.
    assert is_signed_in(client)
    assert not is_signed_in(second)
    assert user_sessions(app, signed_in_firefox) == {sid(client)}
    assert kinds(app, signed_in_firefox)[-1] == "password_changed"
    [mail] = outbox.messages("email", to="alice@example.com")
    assert mail.subject == "Your password was changed"
    assert mail.html


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize(
    ("current", "new", "message"),
    [
        ("wrong password here", NEW_PASSWORD, msg.WRONG_PASSWORD),
        ("", NEW_PASSWORD, "Enter your password."),
        (PASSWORD, "", "Choose a new password."),
        (PASSWORD, PASSWORD, msg.SAME_PASSWORD),
        (PASSWORD, "a" * 11, "Use at least 12 characters."),
        (PASSWORD, "a" * 129, "Use at most 128 characters."),
        (PASSWORD, "password1234", "This password is too easy to guess."),
        (PASSWORD, "alice@example.com!", "This password is too easy to guess."),
        (PASSWORD, "x" * 100_000, "Use at most 128 characters."),
    ],
    ids=["wrong-current", "no-current", "no-new", "same", "short", "long", "weak",
         "email-as-password", "100kb"],
)
def test_change_password_refused(app, client, outbox, signed_in_firefox, second, htmx, current,
                                 new, message):
    old_hash = get_user(app, signed_in_firefox).password_hash
    reply = settings_post(client, "/settings/password",
                          {"password": current, "new_password": new}, htmx)
    assert reply.status_code == 422
    assert message in text(reply)
    assert is_fragment(reply) is htmx
    assert 'aria-invalid="true"' in reply.get_data(as_text=True)
    assert 'id="change-password"' in text(reply)
    assert get_user(app, signed_in_firefox).password_hash == old_hash
    assert is_signed_in(second)
    assert "password_changed" not in kinds(app, signed_in_firefox)
    assert outbox.messages("email") == []


def test_change_password_needs_sign_in(app, client):
    token = csrf_token(client, "/sign-in")
    plain = client.post("/settings/password",
                        data={"password": PASSWORD, "new_password": NEW_PASSWORD,
                              "csrf_token": token})
    assert plain.status_code == 303
    assert plain.headers["Location"] == "/sign-in"
    htmx = client.post("/settings/password", headers={**HX, "X-CSRFToken": token},
                       data={"password": PASSWORD, "new_password": NEW_PASSWORD})
    assert htmx.status_code == 200
    assert htmx.headers["HX-Redirect"] == "/sign-in"
    assert htmx.get_data(as_text=True) == ""


# --------------------------------------------------------------------------- sessions


def test_sessions_are_listed_with_browser_ip_and_a_sign_out_each(client, signed_in_firefox,
                                                                  second):
    reply = client.get("/settings/account")
    body = text(reply)
    section = re.search(r'<section class="card" id="sessions".*?</section>', body, re.S).group(0)
    rows = re.findall(r"<tr>\s*<td[ >].*?</tr>", section, re.S)
    assert len(rows) == 2
    assert "Firefox 128 on Linux" in section and "(this session)" in section
    assert "Chrome 131 on Windows" in section
    assert "203.0.113.7" in section and "198.51.100.20" in section
    for row in rows:
        assert re.search(r'<form method="post" action="/settings/sessions/[0-9a-f]{64}/sign-out"',
                         row)
        assert re.search(r"<button[^>]*>Sign out</button>", row)
        assert 'name="csrf_token"' in row
    assert re.search(r'<form method="post" action="/settings/sessions/sign-out-others"', section)
    assert "Sign out of all other sessions" in section
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT', section)


def test_only_one_session_has_no_sign_out_others_button(client, signed_in_firefox):
    assert "Sign out of all other sessions" not in text(client.get("/settings/account"))


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_sign_out_another_session(app, client, signed_in_firefox, second, htmx):
    reply = settings_post(client, f"/settings/sessions/{sid(second)}/sign-out", {}, htmx)
    assert reply.status_code == 200
    assert msg.SESSION_ENDED in text(reply)
    assert is_fragment(reply) is htmx
    if htmx:
        assert text(reply).lstrip().startswith('<section class="card" id="sessions"')
    assert not is_signed_in(second)
    assert is_signed_in(client)
    assert user_sessions(app, signed_in_firefox) == {sid(client)}
    assert kinds(app, signed_in_firefox)[-1] == "session_ended"
    assert "Chrome 131" not in re.search(r'id="sessions".*?</section>', text(reply), re.S).group(0)


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_sign_out_this_session_from_settings(app, client, signed_in_firefox, second, htmx):
    reply = settings_post(client, f"/settings/sessions/{sid(client)}/sign-out", {}, htmx)
    if htmx:
        assert reply.status_code == 200
        assert reply.headers["HX-Redirect"] == "/sign-in"
    else:
        assert reply.status_code == 303
        assert reply.headers["Location"] == "/sign-in"
    assert not is_signed_in(client)
    assert is_signed_in(second)


def test_cannot_sign_out_someone_elses_session(app, client, signed_in_firefox, make_user):
    make_user("mallory@example.com")
    mallory = app.test_client()
    Auth(mallory).sign_in("mallory@example.com")
    reply = settings_post(mallory, f"/settings/sessions/{sid(client)}/sign-out", {}, False)
    assert reply.status_code == 200
    assert msg.NO_SUCH_SESSION in text(reply)
    assert is_signed_in(client)


def test_sign_out_an_unknown_session(client, signed_in_firefox):
    reply = settings_post(client, f"/settings/sessions/{'0' * 64}/sign-out", {}, True)
    assert reply.status_code == 200
    assert msg.NO_SUCH_SESSION in text(reply)


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_sign_out_of_all_other_sessions(app, client, signed_in_firefox, second, htmx):
    third = app.test_client()
    Auth(third).sign_in()
    reply = settings_post(client, "/settings/sessions/sign-out-others", {}, htmx)
    assert reply.status_code == 200
    assert msg.others_ended(2) in text(reply)
    assert is_fragment(reply) is htmx
    assert not is_signed_in(second)
    assert not is_signed_in(third)
    assert is_signed_in(client)
    assert user_sessions(app, signed_in_firefox) == {sid(client)}
    assert kinds(app, signed_in_firefox)[-1] == "other_sessions_ended"


def test_session_forms_without_csrf_are_refused(app, client, signed_in_firefox, second):
    reply = client.post("/settings/sessions/sign-out-others")
    assert reply.status_code == 400
    assert is_signed_in(second)
    reply = client.post(f"/settings/sessions/{sid(second)}/sign-out", headers=HX)
    assert reply.headers.get("HX-Refresh") == "true"
    assert is_signed_in(second)


# --------------------------------------------------------------------------- activity


def activity_rows(body: str) -> list[str]:
    section = re.search(r'id="security-activity".*?</section>', body, re.S).group(0)
    return re.findall(r"<tr data-kind=.*?</tr>", section, re.S)


def test_security_activity_shows_time_ip_and_browser(app, client, signed_in_firefox):
    Auth(app.test_client()).sign_in(password="not the right password",
                                    environ_base={"REMOTE_ADDR": "192.0.2.66"},
                                    headers={"User-Agent": CHROME})
    rows = activity_rows(text(client.get("/settings/account")))
    assert len(rows) == 2
    failed, signed = rows
    assert 'data-kind="sign_in_failed"' in failed
    assert "Failed sign-in" in failed and "192.0.2.66" in failed and "Chrome 131" in failed
    assert 'data-kind="sign_in"' in signed
    assert "Signed in" in signed and "203.0.113.7" in signed and "Firefox 128" in signed
    stamp = re.search(r'<time datetime="([^"]+)">(\d{4}-\d\d-\d\d \d\d:\d\d)</time>', signed)
    when = datetime.fromisoformat(stamp.group(1))
    assert abs(when - datetime.now(UTC)) < timedelta(minutes=1)


def test_security_activity_lists_the_last_20_newest_first(app, client, signed_in_firefox):
    base = datetime.now(UTC) - timedelta(days=2)
    with app.app_context():
        for i in range(25):
            db.session.add(SecurityEvent(user_id=signed_in_firefox, kind="sign_in_failed",
                                         created_at=base + timedelta(minutes=i),
                                         ip=f"192.0.2.{i}", user_agent=CHROME))
        db.session.commit()
    rows = activity_rows(text(client.get("/settings/account")))
    assert len(rows) == 20
    # The real sign-in (now) is newest; then the inserted ones from 24 down to 6.
    assert "203.0.113.7" in rows[0]
    ips = [re.search(r"<td[^>]*>(192\.0\.2\.\d+)</td>", row).group(1) for row in rows[1:]]
    assert ips == [f"192.0.2.{i}" for i in range(24, 5, -1)]
    times = [re.search(r'datetime="([^"]+)"', row).group(1) for row in rows]
    assert times == sorted(times, reverse=True)


def test_security_activity_belongs_to_the_account(app, client, signed_in_firefox, make_user):
    other = make_user("bob@example.com")
    Auth(app.test_client()).sign_in("bob@example.com", environ_base={"REMOTE_ADDR": "192.0.2.9"})
    assert kinds(app, other) == ["sign_in"]
    assert "192.0.2.9" not in text(client.get("/settings/account"))
