"""The Trusted browsers section of the settings page ("Forget", "Forget all
browsers"), and every change that ends every trust of the account at once."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hubweb.extensions import db
from hubweb.models import User
from tests.support.accounts import PASSWORD
from tests.support.authenticator import (
    APP_SECRET,
    CHANGES,
    NEW_PASSWORD,
    change_password,
    click,
    oath,
    operator_reset_2sv,
    page,
    set_up,
    turn_sms_on,
    turn_two_step_off,
)
from tests.support.sms import (
    EMAIL,
    HX,
    event_kinds,
    last_sms_code,
    post,
    set_sms,
    sign_in_password,
    text,
    token_of,
)
from tests.support.trust import (
    browser_with,
    sign_in_remembered,
    trust_cookie,
    trusted_rows,
    where_sign_in_goes,
)

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SEVEN_DAYS = pytest.mark.settings(TRUST_BROWSER_DAYS=7)


def firefox(app):
    client = app.test_client()
    client.environ_base["HTTP_USER_AGENT"] = FIREFOX
    return client


def section(response) -> str:
    """The words of the Trusted browsers section."""
    element = page(response).by_id("trusted-browsers")
    assert element is not None, "no Trusted browsers section"
    return element.words


def version(app, user_id) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(User.credential_version).where(User.id == user_id))


# --- the list ----------------------------------------------------------------------------------


def test_no_section_while_off_and_nothing_trusted(app, client, with_sms, outbox, clock):
    sign_in_remembered(client, outbox, remember=False)
    assert page(client.get("/settings/account")).by_id("trusted-browsers") is None


@SEVEN_DAYS
def test_the_section_lists_each_trusted_browser(app, with_sms, outbox, clock):
    client = firefox(app)
    sign_in_remembered(client, outbox)
    words = section(client.get("/settings/account"))
    assert "Firefox 128 on Linux (this browser)" in words
    assert "127.0.0.1" in words
    assert "2025-06-02 09:00" in words and "2025-06-09 09:00" in words  # trusted, until
    assert page(client.get("/settings/account")).buttons("Forget")
    other = app.test_client()
    clock.shift(61)
    sign_in_remembered(other, outbox)
    words = section(client.get("/settings/account"))
    assert words.count("(this browser)") == 1 and "Unknown browser" in words


@SEVEN_DAYS
def test_nothing_trusted_says_so(app, client, with_sms, outbox, clock):
    sign_in_remembered(client, outbox, remember=False)
    words = section(client.get("/settings/account"))
    assert "No browser skips the code at sign-in." in words
    assert not page(client.get("/settings/account")).buttons("Forget all browsers")


# --- Forget, Forget all browsers ---------------------------------------------------------------


@SEVEN_DAYS
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_forget_one_browser_and_the_second_click_says_it_is_gone(app, with_sms, outbox, clock,
                                                                htmx):
    mine, other = firefox(app), app.test_client()
    sign_in_remembered(other, outbox)
    clock.shift(61)
    sign_in_remembered(mine, outbox)
    others_token = trust_cookie(other)
    settings = mine.get("/settings/account")
    # The rows are newest first: the other browser's "Forget" is the second.
    forget = page(settings).buttons("Forget")[1]
    url = forget.form.attrs["hx-post" if htmx else "action"]
    r = post(mine, url, token=token_of(settings), htmx=htmx)
    if htmx:
        assert r.status_code == 200 and "<html" not in text(r)
        assert "That browser is forgotten" in section(r)
        assert 'hx-target="#security-activity tbody"' in text(r)  # the new activity row
    else:
        assert r.status_code == 303 and r.headers["Location"] == "/settings/account"
        assert "That browser is forgotten" in text(mine.get("/settings/account"))
    assert [row.user_agent for row in trusted_rows(app)] == [FIREFOX]
    assert where_sign_in_goes(browser_with(app, others_token)) == "/sign-in/verify"
    # Double click, or the same button in another tab: the truth, no second event.
    r = post(mine, url, token=token_of(settings), htmx=htmx)
    again = section(r) if htmx else text(mine.get("/settings/account"))
    assert "That browser was already forgotten." in again
    assert event_kinds(app, with_sms).count("browser_forgotten") == 1


@SEVEN_DAYS
def test_forgetting_this_browser_deletes_its_cookie(app, with_sms, outbox, clock):
    client = firefox(app)
    sign_in_remembered(client, outbox)
    r = click(client, "/settings/account", "Forget", htmx=False)
    assert r.status_code == 200 and trust_cookie(client) is None
    assert trusted_rows(app) == []


@SEVEN_DAYS
def test_another_accounts_browser_cannot_be_forgotten(app, make_user, outbox, clock):
    alice, bob = make_user(), make_user("bob@example.com")
    set_sms(app, alice)
    set_sms(app, bob, "+447400654321")
    bobs_browser = app.test_client()
    sign_in_remembered(bobs_browser, outbox, "bob@example.com")
    [bobs] = trusted_rows(app)
    client = app.test_client()
    clock.shift(61)
    sign_in_remembered(client, outbox, remember=False)
    r = post(client, f"/settings/trusted-browsers/{bobs.id}/forget",
             token=token_of(client.get("/settings/account")))
    assert r.status_code == 303
    assert "That browser was already forgotten." in text(client.get("/settings/account"))
    assert [row.id for row in trusted_rows(app)] == [bobs.id]


@SEVEN_DAYS
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_forget_all_browsers(app, with_sms, outbox, clock, htmx):
    mine, other = app.test_client(), app.test_client()
    sign_in_remembered(other, outbox)
    clock.shift(61)
    sign_in_remembered(mine, outbox)
    tokens = [trust_cookie(other), trust_cookie(mine)]
    r = click(mine, "/settings/account", "Forget all browsers", htmx=htmx)
    assert r.status_code == 200
    assert "2 trusted browsers forgotten" in text(r)
    assert trusted_rows(app) == [] and trust_cookie(mine) is None
    for token in tokens:
        assert where_sign_in_goes(browser_with(app, token)) == "/sign-in/verify"
    assert event_kinds(app, with_sms).count("browsers_forgotten") == 1
    # Sent again (double click, a second tab): nothing was trusted any more.
    r = post(mine, "/settings/trusted-browsers/forget-all",
             token=token_of(mine.get("/settings/account")), htmx=htmx)
    again = section(r) if htmx else text(mine.get("/settings/account"))
    assert "No browser was trusted." in again
    assert event_kinds(app, with_sms).count("browsers_forgotten") == 1


@SEVEN_DAYS
def test_forget_needs_the_csrf_token(app, client, with_sms, outbox, clock):
    sign_in_remembered(client, outbox)
    r = client.post("/settings/trusted-browsers/forget-all", headers=HX)
    assert r.status_code == 400 and len(trusted_rows(app)) == 1


# --- every change of the password or the two-step set-up ends every trust ---------------------

#: Each change of CHANGES made on an account with two-step verification on
#: (trust needs a second step): what it has on before it.
ENDING = {change: before or "sms" for change, before in CHANGES.items()
          if change is not turn_sms_on}


def trust_on(client, outbox, clock, before: str) -> str:
    """Sign in through the second step with "Don't ask again" ticked; the cookie."""
    sign_in_password(client)
    step = client.get("/sign-in/verify")
    if before == "app":
        clock.shift(30)
        code = oath(APP_SECRET, clock.now())
    else:
        code = last_sms_code(outbox)
    r = post(client, "/sign-in/verify", {"code": code, "remember": "1"}, token=token_of(step))
    assert r.headers["Location"] == "/", text(r)
    clock.shift(61)
    return trust_cookie(client)


@SEVEN_DAYS
@pytest.mark.parametrize("change", ENDING, ids=lambda f: f.__name__)
def test_each_credential_change_ends_every_trust(app, client, runner, make_user, outbox, clock,
                                                 change):
    uid = make_user()
    set_up(app, uid, ENDING[change])
    token = trust_on(client, outbox, clock, ENDING[change])
    assert where_sign_in_goes(browser_with(app, token)) == "/"  # trusted until the change
    before = version(app, uid)

    reply = change(client=client, outbox=outbox, clock=clock, runner=runner)

    assert version(app, uid) == before + 1 and trusted_rows(app, uid) == []
    if reply is not None:  # the settings section shows it at once (htmx, out of band)
        assert 'id="trusted-browsers" aria-labelledby="trusted-browsers-heading" ' \
               'hx-swap-oob="true"' in text(reply)
        assert "No browser skips the code at sign-in." in text(reply)
    if change in (turn_two_step_off, operator_reset_2sv):
        set_sms(app, uid)  # on again: the old trust must not come back with it
    password = NEW_PASSWORD if change is change_password else PASSWORD
    assert where_sign_in_goes(browser_with(app, token), EMAIL, password) == "/sign-in/verify"
