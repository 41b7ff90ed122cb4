"""Recovery codes in Chromium: "Get recovery codes" right after SMS set-up,
the codes panel (shown once, Download, Print), then signing in with one
("Use a recovery code"), with JavaScript on and off; axe-core on each state."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .steps import (
    expect_done,
    open_settings,
    reauthenticate,
    same_page,
    set_up_sms,
    sign_in,
    sign_out,
    two_step,
)

pytestmark = pytest.mark.e2e

SAVED = "Your recovery codes are saved. Each works once, if you lose your phone."
CODE = re.compile(r"^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$")


def get_codes(portal, page, acct, js) -> list[str]:
    """"Get recovery codes" in the section, the password, the panel; its codes."""
    section = two_step(page)
    section.get_by_role("button", name="Get recovery codes").click()
    reauthenticate(portal, page, acct, "recovery codes")
    items = page.locator("#recovery-codes-list li")
    expect(items).to_have_count(10)
    codes = [text.strip() for text in items.all_inner_texts()]
    assert all(CODE.match(code) for code in codes) and len(set(codes)) == 10
    # "Print" needs window.print(): only where JavaScript runs.
    expect(section.get_by_role("button", name="Print")).to_be_visible(visible=js)
    portal.check(page, "recovery codes: the codes")
    return codes


def test_recovery_codes_panel_and_sign_in_with_one(portal, js):
    acct = portal.account()
    page = portal.page(js)
    sign_in(page, acct)
    open_settings(page)
    with same_page(portal, page, js):
        set_up_sms(portal, page, acct)
        codes = get_codes(portal, page, acct, js)
    section = two_step(page)
    with page.expect_download() as download:
        section.get_by_role("link", name="Download").click()
    saved = download.value
    assert saved.suggested_filename == "recovery-codes.txt"
    content = open(saved.path(), encoding="utf-8").read()
    assert f"Account: {acct.email}" in content
    assert [line for line in content.splitlines() if CODE.match(line)] == codes
    section.get_by_role("button", name="Done, I saved them").click()
    expect_done(page, SAVED)
    expect(page.locator("#recovery-codes-list")).to_have_count(0)
    expect(page.locator("#recovery-codes-left")).to_contain_text("10")
    expect(section.get_by_role("button", name="Get new recovery codes")).to_be_visible()
    portal.check(page, "recovery codes: saved")
    sign_out(page, acct.email)

    # Signing in without the phone.
    sign_in(page, acct)
    expect(page).to_have_url(re.compile(r"/sign-in/verify$"))
    page.get_by_role("button", name="Use a recovery code").click()
    field = page.get_by_label("Recovery code")
    expect(field).to_be_focused()
    expect(field).not_to_have_attribute("inputmode", "numeric")
    portal.check(page, "second step: recovery code")
    field.fill(codes[3].upper())
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/settings/account$"))
    expect(page.get_by_role("status").filter(has_text="You signed in with a recovery code")
           ).to_be_visible()
    expect(page.locator("#recovery-codes-left")).to_contain_text("9")
    portal.check(page, "signed in with a recovery code")


def test_a_wrong_recovery_code_is_refused_in_place(portal, js):
    acct = portal.account()
    page = portal.page(js)
    sign_in(page, acct)
    open_settings(page)
    set_up_sms(portal, page, acct)
    get_codes(portal, page, acct, js)
    two_step(page).get_by_role("button", name="Done, I saved them").click()
    expect_done(page, SAVED)
    sign_out(page, acct.email)
    sign_in(page, acct)
    page.get_by_role("button", name="Use a recovery code").click()
    field = page.get_by_label("Recovery code")
    field.fill("zzzzz-zzzzz")
    page.get_by_role("button", name="Verify").click()
    field = page.get_by_label("Recovery code")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    expect(page.get_by_role("alert").filter(has_text="That code is not right.")).to_be_visible()
    portal.check(page, "second step: wrong recovery code")
