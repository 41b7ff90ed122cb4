"""Security keys and passkeys in Chromium, with the DevTools protocol's
virtual authenticator (ctap2, resident keys on and off): add a key in the
settings, sign in with it, remove it; axe-clean pages.

Browsers refuse an IP address as a WebAuthn RP id, so these tests serve the
portal as ``http://localhost:<port>`` (a secure context, like https)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from hubweb import create_app
from hubweb.extensions import db
from tests.support.database import fresh_database

from .steps import (
    choose_new_password,
    expect_done,
    forgot_password,
    open_settings,
    reauthenticate,
    sign_in,
    sign_out,
    two_step,
)

pytestmark = pytest.mark.e2e


@pytest.fixture
def live_app(live_server, tmp_path, migrated_db):
    """The conftest's ``live_app``, with ``BASE_URL`` on ``localhost``."""
    origin, slot = live_server
    origin = origin.replace("127.0.0.1", "localhost")
    config = fresh_database(tmp_path, migrated_db)
    config.update(BASE_URL=origin, MAIL_BACKEND="console", SMS_BACKEND="console",
                  RATELIMIT_ENABLED=False)
    app = slot["app"] = create_app(config)
    yield origin, app
    with app.app_context():
        db.engine.dispose()


def virtual_authenticator(page, resident: bool) -> tuple[object, str]:
    """A CTAP2 platform authenticator that answers at once (presence simulated)."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    made = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": resident,
        "hasUserVerification": True, "isUserVerified": True,
        "automaticPresenceSimulation": True}})
    return cdp, made["authenticatorId"]


@pytest.mark.parametrize("resident", [True, False], ids=["passkey", "non-resident"])
def test_add_a_key_sign_in_with_it_and_remove_it(portal, resident):
    page = portal.page(js=True)
    cdp, authenticator = virtual_authenticator(page, resident)
    acct = portal.account()
    sign_in(page, acct)
    portal.turn_on_sms(acct)
    open_settings(page)
    section = two_step(page)
    section.get_by_role("button", name="Add security key").click()
    reauthenticate(portal, page, acct, "webauthn")
    expect(section.get_by_text("Security keys need JavaScript")).to_be_hidden()
    name = section.get_by_label("Name of the key")
    expect(name).to_be_focused()
    portal.check(page, "add security key: name")
    name.fill("Blue YubiKey")
    section.get_by_role("button", name="Add security key").click()
    expect_done(page, "Your security key was added.")
    keys = page.locator("#security-keys")
    expect(keys).to_contain_text("Blue YubiKey")
    expect(keys).to_contain_text("never")
    portal.check(page, "security keys listed", "security-keys", main=True)
    stored = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert len(stored["credentials"]) == 1
    assert stored["credentials"][0]["isResidentCredential"] is resident

    sign_out(page, acct.email)
    sign_in(page, acct)
    expect(page).to_have_url(re.compile(r"/sign-in/verify$"))
    step = page.locator("#second-step")
    expect(step).to_contain_text("touch your security key")
    expect(step.get_by_role("button", name="Use SMS")).to_be_visible()
    expect(step.get_by_text("Security keys need JavaScript")).to_be_hidden()
    portal.check(page, "second step: security key", "second-step-security-key", main=True)
    step.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(re.compile(r"/$"))

    open_settings(page)
    keys = page.locator("#security-keys")
    expect(keys).not_to_contain_text("never")  # last used: now
    keys.get_by_role("button", name="Remove Blue YubiKey").click()
    reauthenticate(portal, page, acct, "webauthn_remove")
    expect_done(page, "The security key was removed.")
    expect(page.locator("#security-keys")).to_have_count(0)
    portal.check(page, "security key removed")


def signed_out_with_a_key(portal, page, acct) -> None:
    """Sign in, turn SMS on, add a key named "Blue YubiKey", sign out."""
    sign_in(page, acct)
    portal.turn_on_sms(acct)
    open_settings(page)
    section = two_step(page)
    section.get_by_role("button", name="Add security key").click()
    reauthenticate(portal, page, acct, "webauthn")
    section.get_by_label("Name of the key").fill("Blue YubiKey")
    section.get_by_role("button", name="Add security key").click()
    expect_done(page, "Your security key was added.")
    sign_out(page, acct.email)


def test_a_key_passes_the_second_step_of_a_password_reset(portal):
    page = portal.page(js=True)
    virtual_authenticator(page, True)
    acct = portal.account()
    signed_out_with_a_key(portal, page, acct)
    forgot_password(portal, page, acct)
    step = page.locator("#second-step")
    expect(step).to_contain_text("touch your security key")
    portal.check(page, "recovery: security key")
    step.get_by_role("button", name="Verify").click()
    choose_new_password(portal, page)


def test_a_cancelled_request_says_so_and_other_methods_stay(portal):
    page = portal.page(js=True)
    cdp, authenticator = virtual_authenticator(page, True)
    acct = portal.account()
    signed_out_with_a_key(portal, page, acct)
    # The key is gone from the authenticator: the browser finds no credential to use.
    cdp.send("WebAuthn.clearCredentials", {"authenticatorId": authenticator})
    sign_in(page, acct)
    step = page.locator("#second-step")
    step.get_by_role("button", name="Verify").click()
    error = page.locator("#webauthn-error")
    expect(error).to_be_visible(timeout=15_000)
    expect(error).to_contain_text("Try again, or choose another method.")
    expect(page).to_have_url(re.compile(r"/sign-in/verify$"))
    expect(step.get_by_role("button", name="Use SMS")).to_be_visible()


def test_without_javascript_the_step_says_so_and_sms_signs_in(portal):
    page = portal.page(js=True)
    virtual_authenticator(page, True)
    acct = portal.account()
    signed_out_with_a_key(portal, page, acct)
    plain = portal.page(js=False)
    sign_in(plain, acct)
    step = plain.locator("#second-step")
    expect(step).to_contain_text("Security keys need JavaScript, which is off in this browser.")
    portal.check(plain, "second step: security key without JavaScript")
    step.get_by_role("button", name="Use SMS").click()
    plain.get_by_label("Verification code").fill(portal.sms_code(acct.phone))
    plain.get_by_role("button", name="Verify").click()
    expect(plain).to_have_url(re.compile(r"/$"))
