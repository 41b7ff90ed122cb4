"""The portal in other languages, in Chromium: German and Arabic (right to left).

- The main flows, the language chosen as a person does on the first page they
  open (the footer chooser, "Change language" in English there): register or
  sign in, set up SMS two-step verification, get the secret key panel, sign
  out and sign in with the second step. Each page says its language in
  ``<html lang dir>`` and its heading is the catalog's translation, not the
  English source. With JavaScript on, and one flow with it off.
- In right-to-left Arabic, phone numbers, the key and email addresses stay
  left to right (``dir="ltr"`` or ``<bdi dir="ltr">``).
- axe-core (WCAG 2.1 A and AA, as ``portal.check``) on sign-in, register, the
  second step and the settings page in each of the six languages.

The words a step looks for come from the catalog (:func:`words`), so the test
finds a button the way a German or Arabic reader does.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from flask_babel import force_locale, gettext
from playwright.sync_api import Page, expect

from tests.support.accounts import PASSWORD

from .conftest import Account, Portal
from .steps import oathtool

pytestmark = pytest.mark.e2e

ALL = ["en", "de", "fr", "es", "ru", "ar"]
#: Right to left among them (CLDR: Arabic); the rest read left to right.
RIGHT_TO_LEFT = {"ar"}


def words(portal: Portal, language: str):
    """``t(msgid, **values)``: the catalog's text for ``msgid`` in ``language``,
    as the live app says it (its compiled catalogs)."""
    def t(msgid: str, **values) -> str:
        with portal.app.app_context(), force_locale(language):
            return str(gettext(msgid, **values))
    return t


def translated(t, msgid: str, language: str) -> str:
    """``t(msgid)``, which must differ from the English source (else the page
    would show English while claiming ``language``)."""
    text = t(msgid)
    assert text != msgid, f"{msgid!r} is not translated into {language}"
    return text


def expect_language(page: Page, language: str) -> None:
    """``<html lang dir>`` of the page: the language and its direction."""
    html = page.locator("html")
    expect(html).to_have_attribute("lang", language)
    expect(html).to_have_attribute("dir", "rtl" if language in RIGHT_TO_LEFT else "ltr")


def expect_heading(page: Page, t, msgid: str, language: str) -> None:
    """The page is in ``language``: ``<html lang dir>``, and its first heading
    is the translation of ``msgid`` (English for ``en``)."""
    expect_language(page, language)
    text = msgid if language == "en" else translated(t, msgid, language)
    expect(page.get_by_role("heading", level=1)).to_have_text(text)


def choose_language(page: Page, t, language: str) -> None:
    """The footer chooser as a person uses it on an English page: pick the
    language (each named in itself), "Change language"; the same page comes
    back in that language, the chooser showing it."""
    before = urlsplit(page.url).path
    expect_language(page, "en")
    footer = page.get_by_role("contentinfo")
    footer.get_by_label("Language", exact=True).select_option(language)
    footer.get_by_role("button", name="Change language", exact=True).click()
    expect_language(page, language)
    assert urlsplit(page.url).path == before, (page.url, before)
    expect(footer.get_by_label(t("Language"), exact=True)).to_have_value(language)
    expect(footer.get_by_role("button", name=t("Change language"), exact=True)).to_be_visible()


def sign_in(page: Page, t, acct: Account) -> None:
    """Email and password on the (translated) sign-in page, as it stands."""
    page.get_by_label(t("Email address"), exact=True).fill(acct.email)
    page.get_by_label(t("Password"), exact=True).fill(acct.password)
    page.get_by_role("button", name=t("Sign in"), exact=True).click()
    expect(page).not_to_have_url(re.compile(r"/sign-in$"))


def expect_ltr(locator, text: str | None = None) -> None:
    """A number, key or address kept left to right inside the page."""
    expect(locator).to_have_attribute("dir", "ltr")
    if text is not None:
        expect(locator).to_have_text(text)


def start_gap(locator) -> float:
    """CSS px between the element and the start edge of its parent's content box:
    the right edge in a right-to-left page, the left one otherwise. For a block
    (as wide as its parent whatever its text does) the text itself is measured."""
    return locator.evaluate("""e => {
        const text = document.createRange();
        text.selectNodeContents(e);
        const box = getComputedStyle(e).display === 'block'
            ? text.getBoundingClientRect() : e.getBoundingClientRect();
        const parent = e.parentElement;
        const outer = parent.getBoundingClientRect(), style = getComputedStyle(parent);
        return style.direction === 'rtl'
            ? (outer.right - parseFloat(style.borderRightWidth) - parseFloat(style.paddingRight))
              - box.right
            : box.left - (outer.left + parseFloat(style.borderLeftWidth)
                          + parseFloat(style.paddingLeft));
    }""")


def expect_on_start_side(*locators) -> None:
    """Each element starts where its parent's content starts (right in Arabic)."""
    for locator in locators:
        assert abs(start_gap(locator)) < 1, (locator, start_gap(locator))


def expect_done(page: Page, t, msgid: str) -> None:
    message = page.get_by_role("status").filter(has_text=t(msgid))
    expect(message).to_have_text(t(msgid))
    expect(page).to_have_url(re.compile(r"/settings/account$"))


def reauthenticate(portal: Portal, page: Page, section, t, acct: Account, state: str,
                   js: bool) -> None:
    password = section.get_by_label(t("Enter your current password"))
    if js:
        expect(password).to_be_focused()
    portal.check(page, state)
    password.fill(acct.password)
    section.get_by_role("button", name=t("Continue"), exact=True).click()


def register(portal: Portal, page: Page, t, language: str, js: bool) -> Account:
    """Register on /register (the language chosen there), confirm by the emailed
    link; returns the new account (its phone number not yet used)."""
    acct = Account(portal.new_email(), PASSWORD, portal.new_phone())
    page.goto("/register")
    choose_language(page, t, language)
    expect_heading(page, t, "Create an account", language)
    portal.check(page, f"{language}: register")
    page.get_by_label(t("Email address"), exact=True).fill(acct.email)
    page.get_by_label(t("Password"), exact=True).fill(acct.password)
    page.get_by_role("button", name=t("Create account"), exact=True).click()
    expect_heading(page, t, "Check your email", language)
    page.goto(portal.link(acct.email))
    expect_heading(page, t, "Confirm your email address", language)
    page.get_by_label(t("Password"), exact=True).fill(acct.password)
    page.get_by_role("button", name=t("Confirm my email address")).click()
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    expect_heading(page, t, "Sign in", language)
    return acct


def main_flow(portal: Portal, language: str, js: bool, *, new_account: bool = False,
              shots: tuple[str, ...] = ()) -> None:
    """Register or sign in, SMS set-up, the secret key panel, sign out, sign in
    with the second step: all in ``language``.

    :param shots: pictures for README (docs/screenshots, ``HUBWEB_SCREENSHOTS=1``),
        of ``"sign-in"``, ``"secret-key-panel"``, ``"settings"``: each is named
        ``<shot>-<language>-desktop.png`` and ``-phone.png``.
    """
    def shot(name: str) -> str | None:
        return f"{name}-{language}" if name in shots else None

    t = words(portal, language)
    page = portal.page(js)
    if new_account:
        acct = register(portal, page, t, language, js)
    else:
        acct = portal.account(name=f"ada.lovelace.{language}" if shots else None)
        page.goto("/sign-in")
        choose_language(page, t, language)
        expect_heading(page, t, "Sign in", language)
        expect_on_start_side(page.get_by_role("heading", level=1),
                             page.get_by_role("button", name=t("Sign in"), exact=True))
        portal.check(page, f"{language}: sign-in", shot("sign-in"), main=True)
    sign_in(page, t, acct)
    expect(page).to_have_url(portal.origin + "/")
    expect_language(page, language)
    email_link = page.get_by_role("link", name=acct.email)
    expect(email_link).to_be_visible()
    expect_ltr(page.locator(".account-email"), acct.email)

    # SMS two-step verification.
    page.goto("/settings/account")
    expect_heading(page, t, "User account settings", language)
    section = page.get_by_role("region", name=translated(t, "Two-step verification", language))
    section.get_by_role("button", name=t("Set up"), exact=True).click()
    reauthenticate(portal, page, section, t, acct, f"{language}: SMS set-up password", js)
    phone = section.get_by_label(t("Mobile phone number"))
    phone.fill(acct.phone_input)
    section.get_by_role("button", name=t("Send code"), exact=True).click()
    code = section.get_by_label(t("Verification code"))
    expect(code).to_be_visible()
    expect_ltr(section.locator("strong.phone"), acct.phone_input)
    portal.check(page, f"{language}: SMS set-up code")
    code.fill(portal.sms_code(acct.phone))
    section.get_by_role("button", name=t("Confirm"), exact=True).click()
    expect_done(page, t, "Two-step verification by SMS is on.")
    expect_language(page, language)

    # The secret key panel, confirmed with a code from oathtool.
    section.get_by_role("button", name=t("Get secret key"), exact=True).click()
    reauthenticate(portal, page, section, t, acct, f"{language}: app set-up password", js)
    expect(section.get_by_role("heading", level=3)).to_have_text(
        translated(t, "Add the key to your app", language))
    secret = section.locator("#totp-secret")
    key = secret.get_attribute("data-secret")
    assert re.fullmatch(r"[A-Z2-7]{32}", key), key
    expect_ltr(secret, " ".join(key[i:i + 4] for i in range(0, 32, 4)))
    if js:
        expect(section.get_by_role("button", name=translated(t, "Copy key", language),
                                   exact=True)).to_be_visible()
    expect_on_start_side(secret, section.get_by_role("heading", level=3))
    portal.check(page, f"{language}: secret key panel", shot("secret-key-panel"), main=True)
    section.get_by_label(t("Verification code")).fill(oathtool(key))
    section.get_by_role("button", name=t("Confirm"), exact=True).click()
    expect_done(page, t, "Your authenticator app is on.")
    expect(section.get_by_role("button", name=t("Disable authenticator app"))).to_be_visible()
    portal.check(page, f"{language}: settings, both factors on", shot("settings"), main=True)

    # Sign out through the account menu, and in again with the second step.
    email_link.click()
    menu = page.get_by_role("navigation", name=translated(t, "Account", language))
    menu.get_by_role("button", name=t("Sign out"), exact=True).click()
    expect(page).to_have_url(re.compile(r"/sign-in$"))
    expect_heading(page, t, "Sign in", language)
    sign_in(page, t, acct)
    expect(page).to_have_url(re.compile(r"/sign-in/verify$"))
    expect_language(page, language)
    step = page.locator("#second-step")
    expect(step.get_by_role("button", name=translated(t, "Use SMS", language))).to_be_visible()
    portal.check(page, f"{language}: second step")
    step.get_by_label(t("Verification code")).fill(oathtool(key, ahead=30))
    step.get_by_role("button", name=t("Verify"), exact=True).click()
    expect(page).to_have_url(portal.origin + "/")
    expect_language(page, language)
    expect(page.get_by_role("link", name=acct.email)).to_be_visible()


def test_german_from_registration_to_the_second_step(portal):
    main_flow(portal, "de", js=True, new_account=True)


def test_german_from_sign_in_to_the_second_step(portal):
    main_flow(portal, "de", js=True, shots=("settings",))


def test_arabic_right_to_left_sign_in_to_the_second_step(portal, js):
    main_flow(portal, "ar", js=js, shots=("sign-in", "secret-key-panel") if js else ())


@pytest.mark.parametrize("language", ALL)
def test_axe_on_the_main_pages_in_every_language(portal, language):
    """sign-in, register, the second step (SMS) and the settings page."""
    t = words(portal, language)
    acct = portal.account(sms=True)
    page = portal.page()
    page.goto("/sign-in")
    if language != "en":
        choose_language(page, t, language)
    expect_heading(page, t, "Sign in", language)
    portal.check(page, f"{language}: sign-in")
    page.goto("/register")
    expect_heading(page, t, "Create an account", language)
    portal.check(page, f"{language}: register")
    page.goto("/sign-in")
    sign_in(page, t, acct)
    expect(page).to_have_url(re.compile(r"/sign-in/verify$"))
    expect_language(page, language)
    step = page.locator("#second-step")
    expect(step.get_by_label(t("Verification code"))).to_be_focused()
    expect_ltr(step.locator("[dir=ltr]").first)
    portal.check(page, f"{language}: second step")
    step.get_by_label(t("Verification code")).fill(portal.sms_code(acct.phone))
    step.get_by_role("button", name=t("Verify"), exact=True).click()
    expect(page).to_have_url(portal.origin + "/")
    page.goto("/settings/account")
    expect_heading(page, t, "User account settings", language)
    portal.check(page, f"{language}: settings")
