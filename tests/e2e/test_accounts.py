"""Register, confirm, sign in and out, the half-signed-in state: in Chromium."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .steps import same_page, sign_in, sign_out

pytestmark = pytest.mark.e2e


def test_register_confirm_sign_in_and_out(portal, js):
    page = portal.page(js)
    email = portal.new_email()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    portal.check(page, "sign-in", "sign-in", main=True)
    page.get_by_role("link", name="Create an account").click()
    expect(page.get_by_label("Email address")).to_be_focused()
    portal.check(page, "register", "register")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("heading", name="Check your email")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text(f"We sent a confirmation link to {email}")
    portal.check(page, "check your email", "check-email")

    link = portal.link(email)
    assert re.fullmatch(r"/confirm-email/[\w-]+", link), link
    portal.check(portal._outbox(), "development outbox", "outbox")
    page.goto(link)
    field = page.get_by_label("Password")
    expect(field).to_be_focused()
    account = page.get_by_label("Email address")  # for password managers: which account
    expect(account).to_have_value(email)
    expect(account).not_to_be_editable()
    expect(account).to_have_attribute("autocomplete", "username")
    portal.check(page, "confirm email", "confirm-email")
    field.fill("correct horse battery staple")
    page.get_by_role("button", name="Confirm my email address").click()
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    expect(page.get_by_role("status")).to_have_text(
        "Your email address is confirmed. You can sign in now.")

    expect(page.get_by_label("Email address")).to_have_value(email)  # filled in
    expect(page.get_by_label("Password")).to_be_focused()
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(portal.origin + "/")
    expect(page.get_by_text("You are signed in as")).to_contain_text(email)
    expect(page.get_by_role("link", name=email)).to_be_visible()
    portal.check(page, "home", "home")
    page.get_by_role("link", name=email).click()
    menu = page.get_by_role("navigation", name="Account")
    expect(menu.get_by_role("link", name="Manage user account")).to_be_visible()
    portal.check(page, "home with the account menu open", "account-menu")
    menu.get_by_role("link", name="Manage user account").click()
    expect(page).to_have_url(re.compile(r"/settings/account$"))
    portal.check(page, "settings", "settings-2sv-off")

    sign_out(page, email)
    page.goto("/settings/account")
    expect(page).to_have_url(re.compile(r"/sign-in"))


def test_wrong_password_is_refused_and_announced(portal, js):
    acct = portal.account()
    page = portal.page(js)
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(acct.email)
    page.get_by_label("Password").fill("not my password at all")
    page.get_by_role("button", name="Sign in", exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert).to_have_text("Incorrect email address or password.")
    expect(page.get_by_label("Email address")).to_have_value(acct.email)
    portal.check(page, "sign-in: wrong password")


def test_half_signed_in_reaches_only_the_second_step(portal, js):
    acct = portal.account(sms=True)
    page = portal.page(js)
    sign_in(page, acct)
    expect(page).to_have_url(re.compile(r"/sign-in/verify$"))
    step = page.locator("#second-step")
    expect(step).to_contain_text("we sent by text message to")
    code = step.get_by_label("Verification code")
    expect(code).to_be_focused()
    portal.check(page, "second step: SMS", "second-step-sms")
    for path in ("/settings/account", "/", "/register"):
        page.goto(path)
        expect(page).to_have_url(re.compile(r"/sign-in/verify$"))
    expect(page.get_by_role("link", name=acct.email)).to_have_count(0)
    with same_page(portal, page, js=False):  # no htmx request to refuse
        page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    page.goto("/sign-in/verify")
    expect(page).to_have_url(re.compile(r"/sign-in$"))


def test_sign_in_with_sms(portal, js):
    acct = portal.account(sms=True)
    page = portal.page(js)
    sign_in(page, acct)
    expect(page).to_have_url(re.compile(r"/sign-in/verify$"))
    step = page.locator("#second-step")
    expect(step.get_by_role("button", name="Resend code")).to_be_visible()
    expect(step.get_by_role("button", name="Use authenticator app")).to_have_count(0)
    step.get_by_label("Verification code").fill(portal.sms_code(acct.phone))
    step.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(portal.origin + "/")
    expect(page.get_by_role("link", name=acct.email)).to_be_visible()
    sign_out(page, acct.email)


def test_htmx_form_with_a_stale_token_reloads_and_says_why(portal):
    """The CSRF check refuses an htmx post with 400 and HX-Refresh; Chromium's
    htmx reloads the page, which shows why and holds a fresh token that works.
    The token goes stale the way it does in life: the same browser signs out and
    in again in another tab, so the open page's token belongs to an ended session."""
    portal.expected_statuses.add(400)  # the refusal itself, logged by Chromium
    page = portal.page(True)
    acct = portal.account()
    sign_in(page, acct)
    page.goto("/settings/account")
    page.evaluate("() => { window.__marker = 1; }")
    other = page.context.new_page()
    other.goto("/settings/account")
    sign_out(other, acct.email)
    sign_in(other, acct)
    other.close()
    section = page.locator("#two-step-verification")
    with page.expect_response(lambda r: r.url.endswith("/settings/two-step/sms/start")) as sent:
        section.get_by_role("button", name="Set up").click()
    assert sent.value.status == 400
    expired = "This form has expired or did not come from this site."
    expect(page.get_by_text(expired)).to_be_visible()
    assert page.evaluate("() => window.__marker") is None  # the page was reloaded
    section.get_by_role("button", name="Set up").click()  # the new token works
    expect(section.get_by_label("Password")).to_be_visible()


def test_a_very_long_email_address_does_not_widen_the_page(portal):
    """A 249-character address (email-validator allows up to 254) wraps instead of
    pushing the page wider than a phone's 390 px."""
    from hubweb import accounts
    from hubweb.extensions import db
    from tests.support.accounts import PASSWORD

    from .conftest import PHONE, Account

    email = "x" * 64 + "@" + ".".join(["d" * 58] * 3) + ".example"
    acct = Account(email, PASSWORD, portal.new_phone())
    with portal.app.app_context():
        accounts.create_user(email, PASSWORD, confirmed=True)
        db.session.commit()
    page = portal.page(True)
    page.set_viewport_size(PHONE)
    sign_in(page, acct)
    for path in ("/", "/settings/account"):
        page.goto(path)
        expect(page.get_by_text(email).first).to_be_visible()
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= PHONE["width"], (path, width)
