"""Two-step verification by SMS in Chromium: set-up, recovery, change of number, disabling."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from .steps import (
    MASK,
    choose_new_password,
    expect_done,
    forgot_password,
    masked_tail,
    open_settings,
    reauthenticate,
    same_page,
    set_up_sms,
    sign_in,
    sign_out,
    two_step,
)

pytestmark = pytest.mark.e2e


def test_sms_set_up(portal, js):
    acct = portal.account(name="grace.hopper" if js else None)
    page = portal.page(js)
    sign_in(page, acct)
    open_settings(page)
    portal.check(page, "settings, 2SV off", "settings-2sv-off" if js else None)
    section = two_step(page)
    app_button = section.get_by_role("button", name="Get secret key")
    expect(app_button).to_be_disabled()
    expect(section).to_contain_text("Set up two-step verification by SMS first")
    with same_page(portal, page, js):
        set_up_sms(portal, page, acct, wrong_code=True, shots=js)
    expect(section.get_by_role("button", name="Get secret key")).to_be_enabled()
    assert len(portal.messages("sms", acct.phone)) == 1
    sign_out(page, acct.email)


def test_sms_set_up_with_the_keyboard_alone(portal):
    acct = portal.account()
    page = portal.page()
    sign_in(page, acct)
    open_settings(page)
    page.evaluate("() => { window.__marker = 1; }")
    for _ in range(60):  # Tab from the top of the page to "Set up"
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.textContent.trim()") == "Set up":
            break
    else:
        pytest.fail("Tab never reached the 'Set up' button")
    page.keyboard.press("Enter")
    section = two_step(page)
    # Each wait for network idle is the moment a person takes to read the new
    # panel: htmx wires a swapped-in form in the same task that settles the
    # swap, and a keyboard typing within milliseconds of the focus on a loaded
    # machine can beat it (the form would then be posted without htmx).
    expect(section.get_by_label("Enter your current password")).to_be_focused()
    page.wait_for_load_state("networkidle")
    page.keyboard.type(acct.password)
    page.keyboard.press("Enter")
    expect(section.get_by_label("Mobile phone number")).to_be_focused()
    page.wait_for_load_state("networkidle")
    page.keyboard.type(acct.phone_input)
    page.keyboard.press("Enter")
    expect(section.get_by_label("Verification code")).to_be_focused()
    page.wait_for_load_state("networkidle")
    page.keyboard.type(portal.sms_code(acct.phone))
    page.keyboard.press("Enter")
    expect_done(page, "Two-step verification by SMS is on.")
    assert page.evaluate("() => window.__marker") == 1
    # Focus is not lost on the body: it lands in the section that changed.
    assert page.evaluate(
        "() => document.getElementById('two-step-verification').contains(document.activeElement)"
    )


def test_recovery_with_sms(portal, js):
    acct = portal.account(sms=True)
    page = portal.page(js)
    forgot_password(portal, page, acct)
    step = page.locator("#second-step")
    expect(step).to_contain_text(f"we sent by text message to +44 {MASK}")
    code = step.get_by_label("Verification code")
    expect(code).to_be_focused()
    portal.check(page, "recovery: SMS code", "recovery-sms" if js else None)
    code.fill(portal.sms_code(acct.phone))
    step.get_by_role("button", name="Verify").click()
    choose_new_password(portal, page)
    page.get_by_label("Email address").fill(acct.email)
    page.get_by_label("Password").fill("violet tractor moonlight drizzle")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(re.compile(r"/sign-in/verify$"))  # recovery leaves 2SV on


def test_change_phone_number(portal, js):
    acct = portal.account()
    page = portal.page(js)
    sign_in(page, acct)
    portal.turn_on_sms(acct)
    open_settings(page)
    section = two_step(page)
    new = portal.account()  # only for a fresh number
    with same_page(portal, page, js):
        section.get_by_role("button", name="Change phone number").click()
        reauthenticate(portal, page, acct, "Change phone number")
        phone = section.get_by_label("Mobile phone number")
        expect(phone).to_be_focused()
        expect(section).to_contain_text("your current number keeps working")
        portal.check(page, "change phone: new number")
        phone.fill(new.phone_input)
        section.get_by_role("button", name="Send code").click()
        code = section.get_by_label("Verification code")
        expect(code).to_be_focused()
        expect(section).to_contain_text(f"to {new.phone_input}.")  # in full: what the person typed
        portal.check(page, "change phone: code")
        code.fill(portal.sms_code(new.phone))
        section.get_by_role("button", name="Confirm").click()
        expect_done(page, "Your phone number for two-step verification has been changed.")
        expect(section).to_contain_text(f"{MASK}{masked_tail(new.phone)}")
        portal.check(page, "change phone: done")
    assert portal.messages("sms", acct.phone) == []


def test_disable_two_step_verification(portal, js):
    acct = portal.account()
    page = portal.page(js)
    sign_in(page, acct)
    portal.turn_on_sms(acct)
    open_settings(page)
    section = two_step(page)
    with same_page(portal, page, js):
        section.get_by_role("button", name="Disable two-step verification").click()
        expect(section).to_contain_text("makes your account less secure")
        reauthenticate(portal, page, acct, "Disable two-step verification",
                       "disable-2sv" if js else None)
        expect_done(page, "Two-step verification is off.")
        expect(section.get_by_role("button", name="Set up", exact=True)).to_be_visible()
        portal.check(page, "disable 2SV: done")
    sign_out(page, acct.email)
    sign_in(page, acct)
    expect(page).to_have_url(portal.origin + "/")


def test_a_send_wait_counts_down_and_frees_send_code(portal, js):
    """Another sign-in's code went out a moment ago, so this second step may send
    only after the 60-second wait. It says so calmly (a status, not an error);
    with JavaScript the words count down, "Send code" is disabled and enabled at
    0; without, the same words stay as plain text and the server enforces the
    wait. (The wait left is 15 s, so that a slow machine still sees the button
    disabled and several steps of the countdown; without JavaScript the test
    then moves the sent code back in time rather than waiting it out.)"""
    import time

    import sqlalchemy as sa

    from hubweb.extensions import db
    from hubweb.twostep.models import SmsCode

    left = 15  # seconds of the wait left when the page opens
    acct = portal.account(sms=True)
    sign_in(portal.page(js=True), acct)  # another browser: its code goes out now
    expect_sms = 1
    assert len(portal.messages("sms", acct.phone)) == expect_sms
    def age_sent_code(seconds: int) -> None:
        with portal.app.app_context():
            [sent] = db.session.scalars(sa.select(SmsCode)).all()
            db.session.execute(sa.update(SmsCode).values(
                created_at=sent.created_at - timedelta(seconds=seconds)))
            db.session.commit()

    age_sent_code(60 - left)

    page = portal.page(js)
    sign_in(page, acct)
    step = page.locator("#second-step")
    wait = step.locator("#send-wait")
    button = step.get_by_role("button", name="Send code")
    expect(wait).to_have_attribute("role", "status")
    expect(step.get_by_role("alert")).to_have_count(0)
    expect(wait).to_contain_text("A code was sent a moment ago. Wait ")
    expect(wait).to_contain_text(" before asking for another.")
    expect(button).to_have_attribute("aria-describedby", "send-wait")
    portal.check(page, "second step: a wait before Send code", "sms-send-wait" if js else None)
    if js:
        expect(button).to_be_disabled()
        seen, deadline = [], time.monotonic() + 3 * left
        while "now." not in (words := wait.inner_text()) and time.monotonic() < deadline:
            if words not in seen:
                seen.append(words)
                assert button.is_disabled(), words
            time.sleep(0.2)
        # Counted down in the page's words, second by second (a slow poll may
        # miss one), the button disabled all along.
        shape = re.compile(r"A code was sent a moment ago\. Wait (\d+) seconds? before asking "
                           r"for another\.")
        counts = [int(shape.fullmatch(w).group(1)) for w in seen]
        assert counts == sorted(set(counts), reverse=True) and len(counts) >= 5, seen
        assert counts[0] <= left
        expect(wait).to_have_text('You can choose "Send code" now.')
        expect(button).to_be_enabled()
    else:
        expect(button).to_be_enabled()  # nothing could enable it again
        first = wait.inner_text()
        time.sleep(2)
        assert wait.inner_text() == first  # plain text: no script
        age_sent_code(left)  # the wait is over
    button.click()
    expect(step).to_contain_text(f"We sent a new code to +44 {MASK}")
    assert len(portal.messages("sms", acct.phone)) == expect_sms + 1
    expect(step.locator("#send-wait")).to_have_text("You can ask for a new code in 2 minutes.")
    code = step.get_by_label("Verification code")
    code.fill(portal.sms_code(acct.phone))
    step.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(portal.origin + "/")
