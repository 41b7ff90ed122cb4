"""Trusted browsers: "Don't ask again on this browser for N days" skips the second
step of sign-in on that browser, for that account, for N days and not a second
longer; never the password, never in a password reset; every change of the
password or the two-step set-up ends it (NIST SP 800-63B 4.2.3 and 7.1)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from hubweb.extensions import db
from hubweb.models import User
from tests.support.accounts import PASSWORD, opens_settings
from tests.support.sms import (
    EMAIL,
    event_kinds,
    last_sms_code,
    post,
    set_sms,
    sign_in_password,
    sms_list,
    start_second_step,
    text,
    token_of,
)
from tests.support.trust import (
    DAY,
    TRUST_COOKIE,
    browser_with,
    checkbox_label,
    session_factors,
    sha256,
    sign_in_remembered,
    sign_out,
    trust_cookie,
    trusted_rows,
    where_sign_in_goes,
)

BOB = "bob@example.com"
SEVEN_DAYS = pytest.mark.settings(TRUST_BROWSER_DAYS=7)


def remember_box(body: str) -> str | None:
    match = re.search(r'<input[^>]*\bname="remember"[^>]*>', body)
    return match[0] if match else None


# --- the offer -----------------------------------------------------------------------------


def test_off_by_default_no_checkbox_and_a_sent_remember_does_nothing(app, client, with_sms,
                                                                     outbox, clock):
    assert app.config["TRUST_BROWSER_DAYS"] == 0
    token = start_second_step(client)
    page = client.get("/sign-in/verify").get_data(as_text=True)
    assert remember_box(page) is None and "Don't ask again" not in page
    r = post(client, "/sign-in/verify", {"code": last_sms_code(outbox), "remember": "1"},
             token=token)
    assert r.headers["Location"] == "/"
    assert TRUST_COOKIE not in r.headers.get("Set-Cookie", "")
    assert trust_cookie(client) is None and trusted_rows(app) == []


@pytest.mark.parametrize("days", [1, 7, 30])
def test_the_second_step_of_sign_in_offers_remember_for_n_days(app, client, with_sms, outbox,
                                                               clock, days):
    app.config["TRUST_BROWSER_DAYS"] = days
    start_second_step(client)
    page = client.get("/sign-in/verify").get_data(as_text=True)
    box = remember_box(page)
    assert box is not None and 'type="checkbox"' in box and "checked" not in box
    assert f'<label for="remember">{checkbox_label(days)}</label>' in page.replace("&#39;", "'")


@SEVEN_DAYS
def test_a_wrong_code_keeps_the_box_ticked(app, client, with_sms, outbox, clock):
    token = start_second_step(client)
    wrong = f"{(int(last_sms_code(outbox)) + 1) % 10**6:06d}"
    r = post(client, "/sign-in/verify", {"code": wrong, "remember": "1"}, token=token, htmx=True)
    assert r.status_code == 422 and "checked" in remember_box(text(r))
    r = post(client, "/sign-in/verify", {"code": wrong, "remember": "1"}, token=token)
    assert r.status_code == 303 and "checked" in remember_box(text(client.get("/sign-in/verify")))


@SEVEN_DAYS
def test_never_offered_in_the_password_reset(app, client, with_sms, outbox, clock):
    r = post(client, "/forgot-password", {"email": EMAIL},
             token=token_of(client.get("/forgot-password")))
    link = outbox.last_link(EMAIL)
    page = client.get(link)
    assert 'name="code"' in text(page) and remember_box(text(page)) is None
    r = post(client, link, {"code": last_sms_code(outbox), "remember": "1"},
             token=token_of(page))
    assert r.status_code == 303 and r.headers["Location"] == link
    assert 'name="new_password"' in text(client.get(link))
    assert trust_cookie(client) is None and trusted_rows(app) == []


@SEVEN_DAYS
def test_unticked_trusts_nothing(app, client, with_sms, outbox, clock):
    sign_in_remembered(client, outbox, remember=False)
    assert trust_cookie(client) is None and trusted_rows(app) == []


# --- the cookie and the row -------------------------------------------------------------------


@SEVEN_DAYS
def test_cookie_attributes_and_only_a_hash_on_the_server(app, client, with_sms, outbox, clock):
    r = sign_in_remembered(client, outbox)
    [cookie] = [c for c in r.headers.getlist("Set-Cookie") if c.startswith(TRUST_COOKIE + "=")]
    token = cookie.split(";")[0].split("=", 1)[1]
    attrs = [a.strip().lower() for a in cookie.split(";")[1:]]
    assert len(token) == 43 and re.fullmatch(r"[A-Za-z0-9_-]+", token)  # 256 bits
    assert "httponly" in attrs and "samesite=lax" in attrs and "path=/" in attrs
    assert f"max-age={7 * DAY}" in attrs
    assert "secure" not in attrs and not any(a.startswith("domain=") for a in attrs)
    [row] = trusted_rows(app, with_sms)
    assert row.token_hash == sha256(token) and token not in row.token_hash
    assert (row.expires_at - row.created_at).total_seconds() == 7 * DAY
    assert row.credential_version == 0 and row.ip == "127.0.0.1" and row.last_used_at is None
    assert event_kinds(app, with_sms)[-2:] == ["browser_trusted", "sign_in"]


@pytest.mark.settings(TRUST_BROWSER_DAYS=7, BASE_URL="https://portal.example.com",
                      ALLOW_CONSOLE_BACKENDS=True)
def test_on_https_the_cookie_is_host_prefixed_and_secure(app, with_sms, outbox, clock):
    client = app.test_client()
    base = "https://portal.example.com"
    page = client.get("/sign-in", base_url=base)
    r = client.post("/sign-in", base_url=base, data={
        "email": EMAIL, "password": PASSWORD, "csrf_token": token_of(page)})
    page = client.get("/sign-in/verify", base_url=base)
    r = client.post("/sign-in/verify", base_url=base, data={
        "code": last_sms_code(outbox), "remember": "1", "csrf_token": token_of(page)})
    assert r.headers["Location"] == "/"
    [cookie] = [c for c in r.headers.getlist("Set-Cookie") if "trust" in c]
    assert cookie.startswith("__Host-hubweb-trust=")
    attrs = [a.strip().lower() for a in cookie.split(";")[1:]]
    assert {"secure", "httponly", "samesite=lax", "path=/"} <= set(attrs)
    assert not any(a.startswith("domain=") for a in attrs)  # __Host- forbids Domain


# --- the skip: N days, this account, this cookie, after the password -------------------------


@SEVEN_DAYS
def test_the_skip_works_for_n_days_and_not_a_second_longer(app, client, with_sms, outbox,
                                                          clock):
    sign_in_remembered(client, outbox)
    token = trust_cookie(client)
    clock.shift(7 * DAY - 1)
    browser = browser_with(app, token)
    assert where_sign_in_goes(browser) == "/"
    assert opens_settings(browser)
    assert session_factors(app, with_sms).count(("signed_in", 2)) == 2
    assert event_kinds(app, with_sms)[-1] == "sign_in_trusted"
    assert len(sms_list(outbox)) == 1  # no code was sent for it
    [row] = trusted_rows(app, with_sms)
    assert row.last_used_at is not None
    clock.shift(1)  # exactly N days after
    assert where_sign_in_goes(browser_with(app, token)) == "/sign-in/verify"


@SEVEN_DAYS
def test_bound_to_the_account(app, client, make_user, outbox, clock):
    alice, bob = make_user(), make_user(BOB)
    set_sms(app, alice)
    set_sms(app, bob, "+447400654321")
    sign_in_remembered(client, outbox)
    alices = trust_cookie(client)
    sign_out(client)
    # Bob signs in on Alice's trusted browser: he is asked for his code.
    assert where_sign_in_goes(browser_with(app, alices), BOB) == "/sign-in/verify"
    assert where_sign_in_goes(browser_with(app, alices)) == "/"
    assert [r.user_id for r in trusted_rows(app)] == [alice]


@SEVEN_DAYS
@pytest.mark.parametrize("tamper", ["one character", "another token", "too long", "empty"])
def test_a_tampered_cookie_skips_nothing(app, client, with_sms, outbox, clock, tamper):
    sign_in_remembered(client, outbox)
    token = trust_cookie(client)
    changed = {"one character": token[:-1] + ("A" if token[-1] != "A" else "B"),
               "another token": "x" * 43, "too long": token * 5, "empty": ""}[tamper]
    assert where_sign_in_goes(browser_with(app, changed)) == "/sign-in/verify"
    assert where_sign_in_goes(browser_with(app, token)) == "/"


@SEVEN_DAYS
def test_a_stolen_cookie_without_the_password_reaches_nothing(app, client, with_sms, outbox,
                                                             clock):
    sign_in_remembered(client, outbox)
    thief = browser_with(app, trust_cookie(client))
    assert thief.get("/").status_code == 302
    assert not opens_settings(thief)
    r = sign_in_password(thief, password="not the password at all")
    assert r.status_code == 422 and "Incorrect email address or password." in text(r)
    assert not opens_settings(thief)
    assert session_factors(app, with_sms) == [("signed_in", 2)]  # only the owner's


@SEVEN_DAYS
def test_the_offer_turned_off_ends_the_skip(app, client, with_sms, outbox, clock):
    sign_in_remembered(client, outbox)
    token = trust_cookie(client)
    app.config["TRUST_BROWSER_DAYS"] = 0
    assert where_sign_in_goes(browser_with(app, token)) == "/sign-in/verify"


@SEVEN_DAYS
def test_a_trust_made_under_an_older_credential_version_skips_nothing(app, client, with_sms,
                                                                      outbox, clock):
    """A change that commits while the browser is being trusted: the row carries
    the older version and is refused, even though nothing deleted it."""
    sign_in_remembered(client, outbox)
    with app.app_context():
        db.session.execute(sa.update(User).where(User.id == with_sms)
                           .values(credential_version=User.credential_version + 1))
        db.session.commit()
    assert len(trusted_rows(app, with_sms)) == 1
    assert where_sign_in_goes(browser_with(app, trust_cookie(client))) == "/sign-in/verify"


@SEVEN_DAYS
def test_htmx_second_step_trusts_too(app, client, with_sms, outbox, clock):
    r = sign_in_remembered(client, outbox, htmx=True)
    assert r.headers["HX-Redirect"] == "/" and trust_cookie(client)
    assert len(trusted_rows(app, with_sms)) == 1


# --- "Forget this browser" beside "Sign out" ---------------------------------------------------


@SEVEN_DAYS
def test_sign_out_keeps_the_trust_unless_asked(app, client, with_sms, outbox, clock):
    sign_in_remembered(client, outbox)
    home = text(client.get("/"))
    assert ">Sign out</button>" in home and ">Forget this browser</button>" in home
    token = trust_cookie(client)
    r = sign_out(client)
    assert r.headers["Location"] == "/sign-in" and trust_cookie(client) == token
    assert where_sign_in_goes(client) == "/"
    r = sign_out(client, forget=True)
    assert r.headers["Location"] == "/sign-in" and trust_cookie(client) is None
    assert "this browser is forgotten" in text(client.get("/sign-in"))
    assert trusted_rows(app) == [] and event_kinds(app, with_sms)[-2:] == [
        "browser_forgotten", "sign_out"]
    assert where_sign_in_goes(browser_with(app, token)) == "/sign-in/verify"


@SEVEN_DAYS
def test_no_forget_button_without_a_trust_cookie(app, client, with_sms, outbox, clock):
    sign_in_remembered(client, outbox, remember=False)
    assert "Forget this browser" not in text(client.get("/"))


# --- every change of the password or of the two-step set-up ends every trust ----------------


@SEVEN_DAYS
def test_sign_out_of_all_other_sessions_ends_every_trust(app, client, with_sms, outbox, clock):
    sign_in_remembered(client, outbox)
    token = trust_cookie(client)
    other = browser_with(app, token)
    assert where_sign_in_goes(other) == "/"
    version = db_version(app, with_sms)
    r = post(client, "/settings/sessions/sign-out-others", token=token_of(client.get("/")),
             htmx=True)
    assert r.status_code == 200
    assert 'id="trusted-browsers" aria-labelledby="trusted-browsers-heading" hx-swap-oob' \
        in text(r)  # the emptied list, out of band
    assert db_version(app, with_sms) == version + 1 and trusted_rows(app) == []
    assert where_sign_in_goes(browser_with(app, token)) == "/sign-in/verify"
    assert opens_settings(client)  # the session that asked stays


@SEVEN_DAYS
def test_a_password_reset_ends_every_trust(app, client, with_sms, outbox, clock):
    sign_in_remembered(client, outbox)
    token = trust_cookie(client)
    stranger = app.test_client()
    clock.shift(61)
    post(stranger, "/forgot-password", {"email": EMAIL},
         token=token_of(stranger.get("/forgot-password")))
    link = outbox.last_link(EMAIL)
    page = stranger.get(link)
    post(stranger, link, {"code": last_sms_code(outbox)}, token=token_of(page))
    new = "tangerine lighthouse ceremony velvet"
    r = post(stranger, link, {"new_password": new}, token=token_of(stranger.get(link)))
    assert r.headers["Location"] == "/sign-in"
    assert trusted_rows(app) == []
    assert where_sign_in_goes(browser_with(app, token), password=new) == "/sign-in/verify"


@SEVEN_DAYS
def test_a_recovery_code_used_ends_every_trust(app, client, with_sms, outbox, clock):
    """The phone may be lost: a sign-in (elsewhere) with a recovery code ends the
    trust of every browser, so each asks for the second step again."""
    from tests.support.recovery import issue

    sign_in_remembered(client, outbox)
    token = trust_cookie(client)
    assert where_sign_in_goes(browser_with(app, token)) == "/"
    codes = issue(app, with_sms)
    stranger = app.test_client()
    step = start_second_step(stranger)
    post(stranger, "/sign-in/verify/method", {"method": "recovery"}, token=step)
    r = post(stranger, "/sign-in/verify", {"code": codes[0], "method": "recovery"}, token=step)
    assert r.status_code == 303 and r.headers["Location"] == "/settings/account"
    assert trusted_rows(app) == []
    assert where_sign_in_goes(browser_with(app, token)) == "/sign-in/verify"


def db_version(app, user_id) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(User.credential_version).where(User.id == user_id))


@SEVEN_DAYS
def test_sessions_purge_deletes_expired_trusted_browsers_only(app, runner, make_user, outbox,
                                                              clock):
    alice = make_user()
    set_sms(app, alice)
    sign_in_remembered(app.test_client(), outbox)
    clock.shift(DAY)
    sign_in_remembered(app.test_client(), outbox)
    [_, newer] = trusted_rows(app)
    clock.shift(6 * DAY)  # the first one ends now, the second a day later
    result = runner.invoke(args=["sessions", "purge"])
    assert "Deleted 1 expired trusted browsers." in result.output
    assert [row.id for row in trusted_rows(app)] == [newer.id]
