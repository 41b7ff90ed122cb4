"""Two-step verification by authenticator app in Chromium; codes come from oathtool."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .steps import (
    choose_new_password,
    enter_wrong_code,
    expect_done,
    forgot_password,
    oathtool,
    open_settings,
    reauthenticate,
    same_page,
    set_up_app,
    sign_in,
    sign_out,
    two_step,
)

pytestmark = pytest.mark.e2e


def signed_in_with_app(portal, page, js, shots=False):
    """A signed-in account with SMS 2SV on and the app set up in the browser; its key."""
    acct = portal.account(name="ada.lovelace" if shots else None)
    sign_in(page, acct)
    portal.turn_on_sms(acct)
    open_settings(page)
    with same_page(portal, page, js):
        key = set_up_app(portal, page, acct, shots=shots, js=js)
    return acct, key


def test_authenticator_app_set_up(portal, js):
    page = portal.page(js)
    acct, key = signed_in_with_app(portal, page, js, shots=js)
    section = two_step(page)
    expect(section.get_by_role("button", name="Disable authenticator app")).to_be_visible()
    expect(section.get_by_role("button", name="Get secret key")).to_be_visible()
    sign_out(page, acct.email)


def test_sign_in_with_app_switch_to_sms_and_back(portal, js):
    page = portal.page(js)
    acct, key = signed_in_with_app(portal, page, js)
    sign_out(page, acct.email)
    sign_in(page, acct)
    expect(page).to_have_url(re.compile(r"/sign-in/verify$"))
    step = page.locator("#second-step")
    expect(step).to_contain_text("code that your authenticator app shows")
    expect(step.get_by_label("Verification code")).to_be_focused()
    portal.check(page, "second step: app", "method-selector" if js else None, main=js)
    enter_wrong_code(portal, page, step, oathtool(key), "second step: app")
    with same_page(portal, page, js):
        step.get_by_role("button", name="Use SMS").click()
        expect(step).to_contain_text("we sent by text message to")
        expect(step.get_by_label("Verification code")).to_be_focused()
        portal.check(page, "second step: SMS chosen", "method-selector-sms" if js else None)
        assert len(portal.messages("sms", acct.phone)) == 1
        step.get_by_role("button", name="Use authenticator app").click()
        expect(step).to_contain_text("code that your authenticator app shows")
        expect(step.get_by_label("Verification code")).to_be_focused()
    step.get_by_label("Verification code").fill(oathtool(key, ahead=30))
    step.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(portal.origin + "/")
    expect(page.get_by_role("link", name=acct.email)).to_be_visible()


def test_recovery_with_app(portal, js):
    page = portal.page(js)
    acct, key = signed_in_with_app(portal, page, js)
    sign_out(page, acct.email)
    forgot_password(portal, page, acct)
    step = page.locator("#second-step")
    expect(step).to_contain_text("code that your authenticator app shows")
    expect(step.get_by_role("button", name="Use SMS")).to_be_visible()
    portal.check(page, "recovery: app code", "recovery-app" if js else None)
    step.get_by_label("Verification code").fill(oathtool(key, ahead=30))
    step.get_by_role("button", name="Verify").click()
    choose_new_password(portal, page)
    assert portal.messages("sms", acct.phone) == []


def test_disable_authenticator_app(portal, js):
    page = portal.page(js)
    acct, _ = signed_in_with_app(portal, page, js)
    section = two_step(page)
    with same_page(portal, page, js):
        section.get_by_role("button", name="Disable authenticator app").click()
        expect(section).to_contain_text("Two-step verification by SMS stays on")
        reauthenticate(portal, page, acct, "Disable authenticator app")
        expect_done(page, "Your authenticator app is off. Two-step verification by SMS stays on.")
        expect(section.get_by_role("button", name="Disable authenticator app")).to_have_count(0)
        expect(section.get_by_role("button", name="Disable two-step verification")).to_be_visible()
        portal.check(page, "disable app: done")


def test_cancel_the_key_panel(portal, js):
    """"Cancel" in the key panel (a second button of the code form, with its own
    formaction and hx-post) leaves set-up: nothing turned on, no code asked for."""
    page = portal.page(js)
    acct = portal.account()
    sign_in(page, acct)
    portal.turn_on_sms(acct)
    open_settings(page)
    section = two_step(page)
    with same_page(portal, page, js):
        section.get_by_role("button", name="Get secret key").click()
        reauthenticate(portal, page, acct, "App set-up")
        expect(section.locator("#totp-secret")).to_be_visible()
        # The code field is required and empty: "Cancel" must still go through.
        expect(section.get_by_label("Verification code")).to_have_value("")
        section.get_by_role("button", name="Cancel").click()
        expect(section.locator("#totp-secret")).to_have_count(0)
        expect(section.get_by_role("button", name="Get secret key")).to_be_visible()
        expect(section).not_to_contain_text("not right")
        portal.check(page, "App set-up: cancelled")
    open_settings(page)
    expect(two_step(page).get_by_role("button", name="Disable authenticator app")).to_have_count(0)
