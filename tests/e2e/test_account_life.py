"""The Account section's three actions in Chromium, JavaScript on and off:
"Change email address" (with the second step), "Download your data",
"Delete account"; axe-core on every state."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from .steps import open_settings, sign_in

pytestmark = pytest.mark.e2e


def account_section(page):
    return page.get_by_role("region", name="Account")


def give_password(portal, page, acct, state: str) -> None:
    password = page.get_by_label("Enter your current password")
    expect(password).to_be_focused()
    portal.check(page, f"{state}: Enter your current password")
    password.fill(acct.password)
    page.get_by_role("button", name="Continue").click()


def test_change_email_address_with_the_second_step(portal, js):
    acct = portal.account(sms=True)
    page = portal.page(js)
    sign_in(page, acct)
    page.get_by_label("Verification code").fill(portal.sms_code(acct.phone))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(portal.origin + "/")
    open_settings(page)
    account_section(page).get_by_role("button", name="Change email address").click()
    give_password(portal, page, acct, "change email")
    expect(page).to_have_url(re.compile(r"/settings/account/email/verify$"))
    portal.check(page, "change email: second step")
    page.get_by_label("Verification code").fill(portal.sms_code(acct.phone))
    page.get_by_role("button", name="Verify").click()
    new = portal.new_email()
    field = page.get_by_label("New email address")
    expect(field).to_be_focused()
    expect(field).to_have_attribute("autocomplete", "email")
    portal.check(page, "change email: new address")
    field.fill(new)
    page.get_by_role("button", name="Send link").click()
    expect(page.get_by_role("status").filter(has_text="We sent a link to")).to_contain_text(new)
    portal.check(page, "change email: link sent")
    page.goto(portal.link(new))
    expect(page.get_by_label("Password")).to_be_focused()
    portal.check(page, "change email: the link")
    page.get_by_label("Password").fill(acct.password)
    page.get_by_role("button", name="Confirm new email address").click()
    expect(page).to_have_url(re.compile(r"/settings/account$"))
    expect(page.get_by_role("status").filter(has_text="Your email address is now")
           ).to_contain_text(new)
    expect(account_section(page)).to_contain_text(new)


def test_download_your_data(portal, js):
    acct = portal.account()
    page = portal.page(js)
    sign_in(page, acct)
    open_settings(page)
    account_section(page).get_by_role("button", name="Download your data").click()
    give_password(portal, page, acct, "download")
    expect(page.get_by_text("The file holds your account")).to_be_visible()  # arrived
    portal.check(page, "download: the button")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download your data").click()
    download = info.value
    assert download.suggested_filename == "account-data.json"
    data = json.loads(open(download.path(), encoding="utf-8").read())
    assert data["version"] == 1 and data["account"]["email"] == acct.email


def test_delete_account(portal, js):
    acct = portal.account()
    page = portal.page(js)
    sign_in(page, acct)
    open_settings(page)
    account_section(page).get_by_role("button", name="Delete account").click()
    give_password(portal, page, acct, "delete")
    field = page.get_by_label("Type your email address to confirm")
    expect(field).to_be_focused()
    portal.check(page, "delete: confirmation")
    field.fill("someone.else@example.com")
    page.get_by_role("button", name="Delete account").click()
    field = page.get_by_label("Type your email address to confirm")
    expect(field).to_have_attribute("aria-invalid", "true")
    portal.check(page, "delete: wrong address")
    field.fill(acct.email)
    page.get_by_role("button", name="Delete account").click()
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    expect(page.get_by_role("status")).to_contain_text("Your account has been deleted.")
    assert "was deleted" in portal.messages("email", acct.email)[0]
