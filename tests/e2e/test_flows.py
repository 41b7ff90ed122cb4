"""Steps twice in Chromium: a double click, a reload, Back and Forward, what shows at once.

- double-clicking "Confirm" (secret key panel, change of number)
  ends on what is true, never on a refusal.
- SMS set-up resumes at the code step after a reload, Back and
  Forward, with JavaScript on and off; the code already received still works.
- the code step shows the number as typed, in full.
- "Recent security activity" and the sessions list change in the
  same htmx reply as the change, without a reload.

The server side of the same rules is tests/settings/test_flows_twice_and_reloaded.py.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .steps import (
    expect_done,
    oathtool,
    open_settings,
    reauthenticate,
    same_page,
    sign_in,
    two_step,
)

pytestmark = pytest.mark.e2e

REFUSED = re.compile(r"current password again|not right|expired|already used|Wait \d",
                     re.IGNORECASE)


def activity(page):
    return page.locator("#security-activity")


def test_double_click_confirm_in_the_secret_key_panel(portal):
    acct = portal.account()
    page = portal.page()
    sign_in(page, acct)
    portal.turn_on_sms(acct)
    open_settings(page)
    section = two_step(page)
    with same_page(portal, page, True):
        section.get_by_role("button", name="Get secret key").click()
        reauthenticate(portal, page, acct, "App set-up")
        key = section.locator("#totp-secret").get_attribute("data-secret")
        section.get_by_label("Verification code").fill(oathtool(key))
        section.get_by_role("button", name="Confirm").dblclick()
        expect_done(page, "Your authenticator app is on.")
        page.wait_for_load_state("networkidle")
        expect(section).not_to_contain_text(REFUSED)
        expect(section.get_by_role("button", name="Disable authenticator app")).to_be_visible()
        # the new event is listed at once, once.
        rows = activity(page).locator('tr[data-kind="app_enabled"]')
        expect(rows).to_have_count(1)
        expect(rows).to_contain_text("Authenticator app turned on")
        # the reply sends the row without data-label; app.js gives each cell
        # its column's heading, which narrow screens show before the value.
        labels = rows.locator("td").evaluate_all("tds => tds.map(td => td.dataset.label)")
        assert labels == ["What", "When", "IP address", "Browser"]


def test_confirm_in_two_tabs_ends_on_the_app_being_on(portal):
    """The double click's second request, without htmx's guard: a second tab
    of the same browser shows the same key panel (the flow resumes there) and
    confirms after the first tab did."""
    acct = portal.account()
    page = portal.page()
    sign_in(page, acct)
    portal.turn_on_sms(acct)
    open_settings(page)
    section = two_step(page)
    section.get_by_role("button", name="Get secret key").click()
    reauthenticate(portal, page, acct, "App set-up")
    key = section.locator("#totp-secret").get_attribute("data-secret")
    other = page.context.new_page()
    open_settings(other)
    other_section = two_step(other)
    expect(other_section.locator("#totp-secret")).to_have_attribute("data-secret", key)
    code = oathtool(key)
    section.get_by_label("Verification code").fill(code)
    section.get_by_role("button", name="Confirm").click()
    expect_done(page, "Your authenticator app is on.")
    other_section.get_by_label("Verification code").fill(code)
    other_section.get_by_role("button", name="Confirm").click()
    expect_done(other, "Your authenticator app is on.")
    expect(other_section).not_to_contain_text(REFUSED)


def test_double_click_confirm_in_change_of_number(portal):
    acct = portal.account()
    new = portal.account()  # only for a fresh number
    page = portal.page()
    sign_in(page, acct)
    portal.turn_on_sms(acct)
    open_settings(page)
    section = two_step(page)
    with same_page(portal, page, True):
        section.get_by_role("button", name="Change phone number").click()
        reauthenticate(portal, page, acct, "Change phone number")
        section.get_by_label("Mobile phone number").fill(new.phone_input)
        section.get_by_role("button", name="Send code").dblclick()
        code = section.get_by_label("Verification code")
        expect(code).to_be_visible()
        page.wait_for_load_state("networkidle")
        expect(section).not_to_contain_text(REFUSED)
        assert len(portal.messages("sms", new.phone)) == 1  # one click's worth
        code.fill(portal.sms_code(new.phone))
        section.get_by_role("button", name="Confirm").dblclick()
        expect_done(page, "Your phone number for two-step verification has been changed.")
        page.wait_for_load_state("networkidle")
        expect(section).not_to_contain_text(REFUSED)
        expect(activity(page).locator('tr[data-kind="phone_changed"]')).to_have_count(1)


def test_sms_set_up_resumes_after_reload_back_and_forward(portal, js):
    acct = portal.account()
    page = portal.page(js)
    sign_in(page, acct)
    open_settings(page)
    section = two_step(page)
    section.get_by_role("button", name="Set up", exact=True).click()
    reauthenticate(portal, page, acct, "SMS set-up")
    section.get_by_label("Mobile phone number").fill(acct.phone_input)
    section.get_by_role("button", name="Send code").click()
    expect(section.get_by_label("Verification code")).to_be_visible()
    expect(section).to_contain_text(f"to {acct.phone_input}.")  # in full: what the person typed

    page.reload()  # no "Confirm Form Resubmission": the page is a GET
    expect(page).to_have_url(re.compile(r"/settings/account$"))
    expect(section.get_by_label("Verification code")).to_be_visible()
    expect(section).to_contain_text(f"to {acct.phone_input}.")
    page.goto("/")
    page.go_back()
    expect(section.get_by_label("Verification code")).to_be_visible()
    page.go_back()
    page.go_forward()
    expect(section.get_by_label("Verification code")).to_be_visible()
    assert len(portal.messages("sms", acct.phone)) == 1  # no new code was sent

    section.get_by_label("Verification code").fill(portal.sms_code(acct.phone))
    section.get_by_role("button", name="Confirm").click()
    expect_done(page, "Two-step verification by SMS is on.")
    page.reload()
    expect(section.get_by_role("button", name="Change phone number")).to_be_visible()


def test_disabling_updates_sessions_and_activity_at_once(portal):
    acct = portal.account()
    elsewhere = portal.page()
    sign_in(elsewhere, acct)
    page = portal.page()
    sign_in(page, acct)
    portal.turn_on_sms(acct)
    open_settings(page)
    sessions = page.locator("#sessions")
    ends = sessions.get_by_role("button", name=re.compile(r"^Sign out "))
    expect(ends.first).to_be_visible()
    assert ends.count() >= 2  # this browser and the other one
    section = two_step(page)
    with same_page(portal, page, True):
        section.get_by_role("button", name="Disable two-step verification").click()
        reauthenticate(portal, page, acct, "Disable two-step verification")
        expect_done(page, "Two-step verification is off.")
        expect(ends).to_have_count(1)  # the other sessions ended, shown at once
        expect(sessions).to_contain_text("(this session)")
        rows = activity(page).locator('tr[data-kind="two_step_disabled"]')
        expect(rows).to_have_count(1)
        expect(activity(page).locator("tbody tr").first).to_have_attribute(
            "data-kind", "two_step_disabled")
        portal.check(page, "disable 2SV: sessions and activity swapped in")
