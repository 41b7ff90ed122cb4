"""Other sessions in Chromium: turning two-step verification on signs the other
browser out and says why; the done panel counts the other sessions and signs
them out right there."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .steps import expect_done, oathtool, open_settings, set_up_sms, sign_in, two_step

pytestmark = pytest.mark.e2e

TWO_STEP_NOW = ("You were signed out: two-step verification is now on for your account. "
                "Sign in again with your password and a code.")
KEY = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def test_turning_two_step_on_signs_out_the_other_browser(portal, js):
    acct = portal.account()
    other, me = portal.page(js), portal.page(js)
    for page in (other, me):
        sign_in(page, acct)
        open_settings(page)
    set_up_sms(portal, me, acct)
    expect(two_step(me).locator("#other-sessions")).to_have_text(
        "You are not signed in anywhere else.")
    expect(two_step(me).get_by_role("button", name="Sign out of all other sessions")) \
        .to_have_count(0)
    # The other browser, its settings page still open from before, clicks "Set up".
    two_step(other).get_by_role("button", name="Set up", exact=True).click()
    expect(other).to_have_url(re.compile(r"/sign-in$"))
    expect(other.locator("#alerts")).to_have_text(TWO_STEP_NOW)
    portal.check(other, "signed out: two-step verification is now on")
    open_settings(me)  # the browser that turned it on stays signed in


def _app_on(portal, acct) -> None:
    """The authenticator app on (key KEY), as if set up earlier."""
    from hubweb.extensions import db
    from hubweb.models import User
    from tests.support.authenticator import add_app_key

    with portal.app.app_context():
        user = db.session.query(User).filter_by(email=acct.email).one()
        add_app_key(user.id, KEY)
        db.session.commit()


def test_the_done_panel_signs_out_the_other_sessions(portal, js):
    acct = portal.account(sms=True)
    _app_on(portal, acct)
    other, me = portal.page(js), portal.page(js)
    for page, ahead in ((other, 0), (me, 30)):  # each code is accepted once
        sign_in(page, acct)
        page.get_by_label("Verification code").fill(oathtool(KEY, ahead))
        page.get_by_role("button", name="Verify").click()
        expect(page).to_have_url(portal.origin + "/")
    open_settings(me)
    section = two_step(me)
    section.get_by_role("button", name="Disable authenticator app").click()
    section.get_by_label("Enter your current password").fill(acct.password)
    section.get_by_role("button", name="Continue").click()
    expect_done(me, "Your authenticator app is off. Two-step verification by SMS stays on.")
    panel = section.locator("#other-sessions")
    expect(panel).to_contain_text("You are still signed in on 1 other session.")
    portal.check(me, "app off: the other sessions panel")
    panel.get_by_role("button", name="Sign out of all other sessions").click()
    sessions = me.get_by_role("region", name="Signed-in sessions")
    ended = "All your other sessions have been signed out (1)."
    if js:  # in the swapped section; the panel, swapped out of band, says so too
        expect(sessions).to_contain_text(ended)
        expect(section.locator("#other-sessions")).to_have_text(
            "You are not signed in anywhere else.")
    else:  # post/redirect/get: the message at the top of the settings page
        expect(me.locator("#alerts")).to_have_text(ended)
    expect(sessions.get_by_role("row")).to_have_count(2)  # the header and this session
    other.goto("/settings/account")
    expect(other).to_have_url(re.compile(r"/sign-in$"))
