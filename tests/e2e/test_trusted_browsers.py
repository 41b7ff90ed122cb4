"""Trusted browsers in Chromium: "Don't ask again on this browser" at the second
step, the next sign-in without a code, the list in the settings and "Forget all
browsers", with JavaScript on and off; axe-core on the new parts."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .steps import open_settings, sign_in, sign_out

pytestmark = pytest.mark.e2e


def test_dont_ask_again_then_forget_all_browsers(portal, js):
    portal.app.config["TRUST_BROWSER_DAYS"] = 7
    acct = portal.account(sms=True)
    page = portal.page(js)
    sign_in(page, acct)
    expect(page).to_have_url(re.compile(r"/sign-in/verify$"))
    remember = page.get_by_label("Don't ask again on this browser for 7 days")
    expect(remember).not_to_be_checked()
    portal.check(page, "second step with Don't ask again")
    page.get_by_label("Verification code").fill(portal.sms_code(acct.phone))
    remember.check()
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(portal.origin + "/")
    [cookie] = [c for c in page.context.cookies() if c["name"] == "hubweb_trust"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/"

    # The next sign-in on this browser asks for no code.
    sign_out(page, acct.email)
    sign_in(page, acct)
    expect(page).to_have_url(portal.origin + "/")

    open_settings(page)
    trusted = page.get_by_role("region", name="Trusted browsers")
    expect(trusted).to_contain_text("(this browser)")
    expect(trusted.get_by_role("row")).to_have_count(2)  # the header and this browser
    portal.check(page, "settings with a trusted browser")
    trusted.get_by_role("button", name="Forget all browsers").click()
    forgotten = "1 trusted browser forgotten: it will ask for a code at its next sign-in."
    if js:  # the section swapped in place
        expect(trusted.get_by_role("status")).to_have_text(forgotten)
        expect(trusted).to_contain_text("No browser skips the code at sign-in.")
        portal.check(page, "trusted browsers forgotten")
    else:  # post/redirect/get: the message at the top of the settings page
        expect(page.locator("#alerts")).to_have_text(forgotten)
    assert not [c for c in page.context.cookies() if c["name"] == "hubweb_trust"]

    sign_out(page, acct.email)
    sign_in(page, acct)
    expect(page).to_have_url(re.compile(r"/sign-in/verify$"))
