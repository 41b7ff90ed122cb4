"""What a person does in the portal, step by step, by the words of CONTRACT.md.

Every step works the same with JavaScript on (htmx swaps the Two-step
verification section in place) and off (each form posts and the whole page
comes back); ``portal.check`` runs axe-core on each state it reaches.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Page, expect

from .conftest import Account, Portal, _unavailable

NEW_PASSWORD = "violet tractor moonlight drizzle"
MASK = "\u2022"


def oathtool(key: str, ahead: int = 0) -> str:
    """A TOTP code for base32 ``key`` from oathtool, an implementation hubweb did not write.

    :param ahead: seconds ahead of now; 30 gives the next time step, which the
        portal accepts (one step either side) after the current one was used.
    """
    if shutil.which("oathtool") is None:
        _unavailable("oathtool is missing (Debian package oathtool; make system-deps)")
    return subprocess.run(
        ["oathtool", "--totp", "-b", key, "-N", f"now + {ahead} seconds"],
        capture_output=True, text=True, check=True, timeout=10,
    ).stdout.strip()


def two_step(page: Page):
    """The Two-step verification section of User account settings."""
    return page.get_by_role("region", name="Two-step verification")


def masked_tail(phone: str) -> str:
    return phone[-2:]


def expect_done(page: Page, text: str) -> None:
    """The message that a flow succeeded: in the swapped-in section with htmx;
    without JavaScript the form redirects to the settings page, which shows it
    at the top (post/redirect/get)."""
    message = page.get_by_role("status").filter(has_text=text)
    expect(message).to_have_text(text)
    expect(page).to_have_url(re.compile(r"/settings/account$"))


def sign_in(page: Page, acct: Account, password: str | None = None) -> None:
    """Email and password on /sign-in; lands on home or the second step."""
    page.goto("/sign-in")
    page.get_by_label("Email address").fill(acct.email)
    page.get_by_label("Password").fill(password or acct.password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).not_to_have_url(re.compile(r"/sign-in$"))


def sign_out(page: Page, email: str) -> None:
    """The header link with the account's email opens the menu; "Sign out" in it."""
    page.get_by_role("link", name=email).click()
    menu = page.get_by_role("navigation", name="Account")
    expect(menu.get_by_role("link", name="Manage user account")).to_be_visible()
    menu.get_by_role("button", name="Sign out", exact=True).click()
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    expect(page.get_by_role("status")).to_contain_text("You have signed out.")


def open_settings(page: Page) -> None:
    page.goto("/settings/account")
    expect(page.get_by_role("heading", name="User account settings")).to_be_visible()


def reauthenticate(portal: Portal, page: Page, acct: Account, flow: str, shot=None) -> None:
    """"Enter your current password" (focused) and "Continue"."""
    section = two_step(page)
    password = section.get_by_label("Enter your current password")
    expect(password).to_be_focused()
    portal.check(page, f"{flow}: Enter your current password", shot)
    password.fill(acct.password)
    section.get_by_role("button", name="Continue").click()


def enter_wrong_code(portal: Portal, page: Page, scope, right: str, state: str) -> None:
    """A wrong code: refused, said in an alert tied to the field, focus on the field."""
    wrong = "123456" if right != "123456" else "654321"
    field = scope.get_by_label("Verification code")
    field.fill(wrong)
    scope.get_by_role("button", name=re.compile(r"^(Confirm|Verify)$")).click()
    field = scope.get_by_label("Verification code")
    expect(field).to_have_attribute("aria-invalid", "true")
    described = field.get_attribute("aria-describedby") or ""
    error = page.locator(f"#{described.split()[-1]}")
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_have_text("That code is not right. Check it and try again.")
    expect(field).to_be_focused()
    portal.check(page, f"{state}: wrong code")


def set_up_sms(portal: Portal, page: Page, acct: Account, *, wrong_code=False,
               shots=False) -> None:
    """"Set up": current password, phone number, "Send code", the code, "Confirm"."""
    section = two_step(page)
    section.get_by_role("button", name="Set up", exact=True).click()
    reauthenticate(portal, page, acct, "SMS set-up", "sms-password" if shots else None)
    phone = section.get_by_label("Mobile phone number")
    expect(phone).to_be_focused()
    portal.check(page, "SMS set-up: phone number", "sms-phone" if shots else None)
    phone.fill(acct.phone_input)
    section.get_by_role("button", name="Send code").click()
    code = section.get_by_label("Verification code")
    expect(code).to_be_focused()
    # The number in full: what the person just typed.
    expect(section).to_contain_text(f"to {acct.phone_input}.")
    expect(section.get_by_role("button", name="Resend code")).to_be_visible()
    for attr, value in (("type", "text"), ("inputmode", "numeric"),
                        ("autocomplete", "one-time-code"), ("name", "code")):
        expect(code).to_have_attribute(attr, value)
    portal.check(page, "SMS set-up: code", "sms-code" if shots else None, main=shots)
    right = portal.sms_code(acct.phone)
    if wrong_code:
        enter_wrong_code(portal, page, section, right, "SMS set-up")
    section.get_by_label("Verification code").fill(right)
    section.get_by_role("button", name="Confirm").click()
    expect_done(page, "Two-step verification by SMS is on.")
    expect(section).to_contain_text(f"{MASK}{masked_tail(acct.phone)}")
    expect(section.get_by_role("button", name="Change phone number")).to_be_visible()
    expect(section.get_by_role("button", name="Disable two-step verification")).to_be_visible()
    portal.check(page, "SMS set-up: done", "sms-on" if shots else None)


def set_up_app(portal: Portal, page: Page, acct: Account, *, shots=False,
               js=True) -> str:
    """"Get secret key": current password, the key panel, a code from oathtool, "Confirm".

    :param js: the page runs JavaScript (htmx moves focus, app.js adds "Copy key").
    :return: the key (``data-secret``).
    """
    section = two_step(page)
    section.get_by_role("button", name="Get secret key").click()
    reauthenticate(portal, page, acct, "App set-up", "app-password" if shots else None)
    secret = section.locator("#totp-secret")
    key = secret.get_attribute("data-secret")
    assert re.fullmatch(r"[A-Z2-7]{32}", key), key
    expect(secret).to_have_text(" ".join(key[i:i + 4] for i in range(0, 32, 4)))
    qr = section.locator("#totp-qr")
    expect(qr).to_be_visible()
    assert qr.get_attribute("src").startswith("data:image/png;base64,")
    uri = section.locator("#totp-uri").get_attribute("href")
    assert uri.startswith("otpauth://totp/") and f"secret={key}" in uri, uri
    check_qr_on_screen(qr, uri)
    code = section.get_by_label("Verification code")
    if js:  # with htmx, focus moves to the first field of the new panel
        expect(code).to_be_focused()
    portal.check(page, "App set-up: secret key panel",
                 "secret-key-panel" if shots else None, main=shots)
    copy = section.get_by_role("button", name="Copy key")
    if js:  # app.js adds "Copy key", which copies data-secret
        page.context.grant_permissions(["clipboard-read", "clipboard-write"],
                                       origin=portal.origin)
        copy.click()
        expect(section.get_by_role("status")).to_have_text("Copied.")
        assert page.evaluate("() => navigator.clipboard.readText()") == key
    else:  # without it, no button that would do nothing
        expect(copy).to_have_count(0)
    code.fill(oathtool(key))
    section.get_by_role("button", name="Confirm").click()
    expect_done(page, "Your authenticator app is on.")
    expect(section.get_by_role("button", name="Disable authenticator app")).to_be_visible()
    portal.check(page, "App set-up: done", "settings" if shots else None, main=shots)
    return key


def check_qr_on_screen(qr, uri: str) -> None:
    """The QR code as Chromium shows it: at least 4 CSS px per module, not
    smoothed, and a picture of it on screen decodes (zbarimg) to ``uri`` exactly."""
    # Waits (up to the timeout) for the stylesheet: right after a plain-form
    # navigation the image can be laid out before style.css applies.
    expect(qr).to_have_css("image-rendering", "pixelated")
    natural, shown, rendering = qr.evaluate(
        "img => [img.naturalWidth, img.getBoundingClientRect().width,"
        " getComputedStyle(img).imageRendering]")
    assert shown / natural >= 4 and rendering == "pixelated", (natural, shown, rendering)
    if shutil.which("zbarimg") is None:
        _unavailable("zbarimg is missing (Debian package zbar-tools; make system-deps)")
    with tempfile.TemporaryDirectory() as tmp:
        picture = Path(tmp) / "qr.png"
        qr.screenshot(path=str(picture), animations="disabled")
        out = subprocess.run(["zbarimg", "--raw", "-q", str(picture)], capture_output=True,
                             check=True, timeout=20).stdout
    assert out.decode("utf-8").removesuffix("\n") == uri


def forgot_password(portal: Portal, page: Page, acct: Account) -> None:
    """"Forgot your password?" on /sign-in, the email, then the emailed link."""
    page.goto("/sign-in")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email address").fill(acct.email)
    portal.check(page, "forgot password")
    page.get_by_role("button", name="Send reset link").click()
    expect(page.get_by_role("status")).to_contain_text("we sent it a link to reset")
    page.goto(portal.link(acct.email))
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()


def choose_new_password(portal: Portal, page: Page) -> None:
    """The last step of recovery: ``new_password``, then sign in with it."""
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    field = page.get_by_label("New password")
    expect(field).to_be_focused()
    portal.check(page, "recovery: new password")
    field.fill(NEW_PASSWORD)
    page.get_by_role("button", name="Set new password").click()
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    expect(page.get_by_role("status")).to_contain_text("Your password has been changed.")


@contextmanager
def same_page(portal: Portal, page: Page, js: bool):
    """The htmx promise: with JavaScript the flow never reloads the page.

    A marker set on ``window`` before the first click must still be there at
    the end, and the replies came as htmx fragments (each checked by
    ``portal`` to carry no ``<html>``). Without JavaScript every step is a plain
    form post and no htmx request is made.
    """
    before = len(portal.fragments)
    if js:
        page.evaluate("() => { window.__marker = 1; }")
    yield
    swaps = portal.fragments[before:]
    if js:
        assert page.evaluate("() => window.__marker") == 1, "the page was reloaded"
        assert swaps, "no htmx request was made"
    else:
        assert not swaps, swaps
