"""Layout in Chromium: focus after a refused form, the tables and the
header on a 390 px phone, and the account menu as a disclosure."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import DESKTOP, PHONE
from .steps import MASK, open_settings, sign_in, two_step

pytestmark = pytest.mark.e2e

WEAK = "short"

#: Every word (a run of non-space characters) in the text under ``selector``
#: whose glyphs lie on more than one line: a word broken in the middle.
SPLIT_WORDS = """(selector) => {
  const split = [];
  let words = 0;
  for (const root of document.querySelectorAll(selector)) {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const m of node.data.matchAll(/\\S+/g)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const rects = [...range.getClientRects()].filter(r => r.width > 0);
        if (!rects.length) continue;  // not shown (e.g. a visually hidden header)
        words++;
        if (new Set(rects.map(r => Math.round(r.top))).size > 1) split.push(m[0]);
      }
    }
  }
  return {words, split};
}"""

#: The text box (top, bottom) of the first text in an element.
TEXT_BOX = """(el) => {
  const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT,
    {acceptNode: n => n.data.trim() ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_SKIP});
  let node = walker.nextNode();
  while (node && node.parentElement.closest('.visually-hidden')) node = walker.nextNode();
  const range = document.createRange();
  range.selectNodeContents(node);
  const r = range.getClientRects()[0];
  return [r.top, r.bottom];
}"""


def header_height(page) -> float:
    return page.locator("header.site-header").evaluate("h => h.getBoundingClientRect().height")


# --- focus after a refused form -----------------------------------------------

def test_a_refused_whole_page_focuses_the_field_in_error(portal, js):
    page = portal.page(js)
    page.goto("/register")
    page.get_by_label("Email address").fill(portal.new_email())
    page.get_by_label("Password").fill(WEAK)
    page.get_by_role("button", name="Create account").click()
    password = page.get_by_label("Password")
    expect(password).to_be_focused()
    expect(password).to_have_attribute("aria-invalid", "true")
    error = page.locator("#" + password.get_attribute("aria-describedby").split()[-1])
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_contain_text("12 characters")
    portal.check(page, "register: password refused")


def test_a_refused_sign_in_focuses_the_password(portal, js):
    acct = portal.account()
    page = portal.page(js)
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(acct.email)
    page.get_by_label("Password").fill("not my password at all")
    page.get_by_role("button", name="Sign in", exact=True).click()
    password = page.get_by_label("Password")
    expect(password).to_be_focused()
    expect(password).to_have_accessible_description(
        re.compile("Incorrect email address or password."))


def test_a_refused_panel_focuses_the_field_in_error(portal, js):
    """The change-password form is swapped in by htmx with JavaScript (app.js moves
    focus) and is a whole page without (autofocus): the second field is the one in
    error, so focus must skip the first."""
    acct = portal.account()
    page = portal.page(js)
    sign_in(page, acct)
    open_settings(page)
    section = page.get_by_role("region", name="Change password")
    section.get_by_label("Enter your current password").fill(acct.password)
    section.get_by_label("New password").fill(WEAK)
    section.get_by_role("button", name="Change password").click()
    new = section.get_by_label("New password")
    expect(new).to_be_focused()
    expect(new).to_have_attribute("aria-invalid", "true")
    expect(new).to_have_accessible_description(re.compile("12 characters"))
    expect(section.get_by_label("Enter your current password")).not_to_have_attribute(
        "aria-invalid", "true")
    portal.check(page, "change password: new password refused")


def test_a_refused_password_prompt_focuses_it_and_says_why(portal, js):
    acct = portal.account()
    page = portal.page(js)
    sign_in(page, acct)
    open_settings(page)
    section = two_step(page)
    section.get_by_role("button", name="Set up", exact=True).click()
    expect(section.get_by_role("heading", name="Set up two-step verification by SMS")) \
        .to_be_visible()
    section.get_by_label("Enter your current password").fill("not my password at all")
    section.get_by_role("button", name="Continue").click()
    field = section.get_by_label("Enter your current password")
    expect(field).to_be_focused()
    expect(field).to_have_accessible_description("That is not your current password.")
    expect(section.get_by_role("alert")).to_have_text("That is not your current password.")
    portal.check(page, "SMS set-up: wrong password")


# --- layout at 390 px -------------------------------------------------------------------

def test_tables_on_a_phone_break_only_between_words(portal):
    acct = portal.account()
    other = portal.page(True)  # a second session, so both tables have several rows
    sign_in(other, acct)
    page = portal.page(True)
    page.set_viewport_size(PHONE)
    sign_in(page, acct)
    portal.turn_on_sms(acct)  # the masked number in the section, on one line
    open_settings(page)
    expect(page.locator("#sessions tbody tr")).to_have_count(2)
    for viewport in (PHONE, DESKTOP):
        page.set_viewport_size(viewport)
        found = page.evaluate(SPLIT_WORDS, "#sessions td, #security-activity td")
        assert found["words"] > 20 and found["split"] == [], (viewport, found)
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= viewport["width"], (viewport, width)
        phone = two_step(page).locator(".phone")
        expect(phone).to_contain_text(f"{MASK}{acct.phone[-2:]}")
        assert phone.evaluate("e => e.getClientRects().length") == 1
    page.set_viewport_size(PHONE)
    # Each row a card: IP address and browser stay on the phone, each labelled.
    cell = page.locator("#sessions tbody tr").first.locator("td").nth(1)
    expect(cell).to_be_visible()
    label = cell.evaluate("td => getComputedStyle(td, '::before').content")
    assert "IP address" in label, label
    portal.check(page, "settings at 390 px")


def test_the_header_does_not_grow_after_sign_in(portal):
    acct = portal.account()
    page = portal.page(True)
    heights = {}
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.goto("/sign-in")
        heights[name] = header_height(page)
    sign_in(page, acct)
    for name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(viewport)
        page.goto("/")
        assert abs(header_height(page) - heights[name]) < 0.5, (name, heights)
        brand = page.locator(".brand").evaluate(TEXT_BOX)
        link = page.locator("#account-menu-link").evaluate(TEXT_BOX)
        # The email sits on the "Business Hub" line: their text boxes share a
        # bottom (the fonts differ by 10 %, so the tops may not).
        assert abs(brand[1] - link[1]) <= 2, (name, brand, link)


def test_the_account_link_is_marked_and_announced_as_a_menu(portal):
    acct = portal.account()
    page = portal.page(True)
    sign_in(page, acct)
    link = page.get_by_role("link", name=acct.email)
    menu = page.locator("#account-menu")
    expect(link).to_have_attribute("aria-expanded", "false")
    expect(link).to_have_attribute("aria-controls", "account-menu")
    mark = link.evaluate("a => { const s = getComputedStyle(a, '::after');"
                         " return [s.content, s.borderTopStyle, s.width]; }")
    assert mark[0] == '""' and mark[1] == "solid", mark  # the disclosure triangle
    link.click()
    expect(link).to_have_attribute("aria-expanded", "true")
    expect(menu.get_by_role("link", name="Manage user account")).to_be_focused()
    portal.check(page, "account menu open")
    page.keyboard.press("Escape")
    expect(link).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_hidden()
    expect(link).to_be_focused()
    link.click()
    expect(link).to_have_attribute("aria-expanded", "true")
    page.locator("main").click()
    expect(link).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_hidden()


def test_the_account_menu_opens_without_javascript(portal):
    acct = portal.account()
    page = portal.page(False)
    sign_in(page, acct)
    menu = page.locator("#account-menu")
    expect(menu).to_be_hidden()
    page.get_by_role("link", name=acct.email).click()
    expect(menu.get_by_role("link", name="Manage user account")).to_be_visible()


def one_row(*buttons) -> None:
    """The buttons sit side by side on one line, in this order (main one first)."""
    boxes = [b.evaluate("b => { const r = b.getBoundingClientRect(); return [r.top, r.left]; }")
             for b in buttons]
    assert len({round(top) for top, _ in boxes}) == 1, boxes
    assert [left for _, left in boxes] == sorted(left for _, left in boxes), boxes


def test_every_panel_has_one_row_of_buttons(portal):
    acct = portal.account()
    new = portal.account()  # only for a fresh number
    page = portal.page(True)
    sign_in(page, acct)
    open_settings(page)
    section = two_step(page)

    def button(name):
        return section.get_by_role("button", name=name, exact=True)

    button("Set up").click()
    one_row(button("Continue"), button("Cancel"))
    section.get_by_label("Enter your current password").fill(acct.password)
    button("Continue").click()
    one_row(button("Send code"), button("Cancel"))
    section.get_by_label("Mobile phone number").fill(new.phone_input)
    button("Send code").click()
    one_row(button("Confirm"), button("Resend code"), button("Cancel"))
    page.set_viewport_size(PHONE)  # may wrap, never widen the page
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width
    button("Cancel").click()
    expect(button("Set up")).to_be_visible()

    signer = portal.page(True)
    sms = portal.account(sms=True)
    sign_in(signer, sms)
    step = signer.locator("#second-step")
    one_row(step.get_by_role("button", name="Verify"),
            step.get_by_role("button", name="Resend code"))
