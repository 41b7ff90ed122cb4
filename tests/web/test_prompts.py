"""Prompts and words, as plain HTTP: prompts say what they are for and for which
account, a refused whole page puts the first invalid field in focus, the help
for a lost phone fits its place, and the words of "Layout and
words" (the status said once, "moved to a new key", links in the outbox).

What a person sees in Chromium (focus after htmx swaps, the 390 px layout, the
header) is in tests/e2e/test_layout.py.
"""

from __future__ import annotations

import re

import pytest

from hubweb.extensions import db
from hubweb.outbox import linkify, record
from hubweb.twostep import messages as two_step_msg
from tests.support.accounts import PASSWORD, csrf_token
from tests.support.authenticator import (
    EMAIL,
    click,
    email_subjects,
    enable_app,
    enable_sms,
    get_secret_key,
    oath,
    page,
)
from tests.support.sms import set_sms, start_second_step, text

CAROL = "carol@example.com"
WEAK = "short"
#: The help for a lost phone (or app), by place, chosen method and whether
#: another method is on: the words a person reads, in full.
LOST = {
    ("sign_in", "sms", True): (
        "No access to your phone? Choose \"Use authenticator app\" if the app is on "
        "another device. If you have neither, ask your administrator to reset two-step "
        "verification for your account; you can then sign in with your password."),
    ("sign_in", "app", True): (
        "No access to your authenticator app? Choose \"Use SMS\" to get a code by text "
        "message. If you have neither, ask your administrator to reset two-step "
        "verification for your account; you can then sign in with your password."),
    ("sign_in", "sms", False): (
        "No access to your phone? Ask your administrator to reset two-step verification "
        "for your account; you can then sign in with your password."),
    ("recovery", "sms", True): (
        "No access to your phone? Choose \"Use authenticator app\" if the app is on "
        "another device. If you have neither, ask your administrator to reset two-step "
        "verification for your account, then open the link in the email again."),
    ("recovery", "app", True): (
        "No access to your authenticator app? Choose \"Use SMS\" to get a code by text "
        "message. If you have neither, ask your administrator to reset two-step "
        "verification for your account, then open the link in the email again."),
    ("recovery", "sms", False): (
        "No access to your phone? Ask your administrator to reset two-step verification "
        "for your account, then open the link in the email again."),
}


def plain_post(client, path, data, page_path=None):
    """A form posted without JavaScript, with its page's CSRF token."""
    token = csrf_token(client, page_path or path)
    return client.post(path, data={"csrf_token": token, **data})


def username_input(doc, form=None):
    """The ``username`` field (of ``form``, when the page has several)."""
    [field] = [e for e in doc.find("input", name="username") if form in (None, e.form)]
    assert field.attrs["autocomplete"] == "username"
    return field


def autofocused(doc) -> list[str]:
    """The names of the fields with ``autofocus`` (a page may have one)."""
    return [e.attrs.get("name") for e in doc.elements if "autofocus" in e.attrs]


def register_and_get_link(client, outbox, email=CAROL) -> str:
    r = plain_post(client, "/register", {"email": email, "password": PASSWORD})
    assert r.status_code == 200, text(r)
    return outbox.last_link(to=email)


# --- which account, and what happens next ------------------------------------

def test_confirmation_page_shows_the_account_in_a_read_only_username(client, outbox):
    link = register_and_get_link(client, outbox)
    doc = page(client.get(link))
    field = username_input(doc)
    assert field.attrs["value"] == CAROL and "readonly" in field.attrs
    assert "hidden" not in field.attrs and field.attrs["type"] == "email"
    assert doc.find("label", for_="username")[0].words == "Email address"
    assert field.form is doc.button("Confirm my email address").form
    assert autofocused(doc) == ["password"]


def test_after_confirming_the_sign_in_form_has_the_address_filled_in(app, client, outbox):
    link = register_and_get_link(client, outbox)
    r = plain_post(client, link, {"password": PASSWORD})
    assert r.status_code == 303 and r.headers["Location"] == "/sign-in"
    doc = page(client.get("/sign-in"))
    [email] = doc.find("input", name="email")
    assert email.attrs["value"] == CAROL
    assert autofocused(doc) == ["password"]  # what is left to type
    # Once: a later visit, and any other browser, get an empty form.
    again = page(client.get("/sign-in"))
    assert again.find("input", name="email")[0].attrs.get("value", "") == ""
    assert autofocused(again) == ["email"]
    other = page(app.test_client().get("/sign-in"))
    assert other.find("input", name="email")[0].attrs.get("value", "") == ""


def test_new_password_page_of_a_reset_shows_the_account(client, make_user, outbox):
    make_user()
    plain_post(client, "/forgot-password", {"email": EMAIL})
    doc = page(client.get(outbox.last_link(to=EMAIL)))
    field = username_input(doc)
    assert field.attrs["value"] == EMAIL and "readonly" in field.attrs
    assert field.form is doc.button("Set new password").form
    assert autofocused(doc) == ["new_password"]


def test_a_username_no_email_could_be_is_refused(client, make_user, outbox):
    make_user()
    plain_post(client, "/forgot-password", {"email": EMAIL})
    link = outbox.last_link(to=EMAIL)
    r = plain_post(client, link, {"username": "x" * 400, "new_password": "plum tractor anchor"})
    assert r.status_code == 422 and "That email address is too long." in text(r)


def test_change_password_form_carries_the_account_as_a_hidden_username(client, auth,
                                                                       make_user):
    make_user()
    auth.sign_in()
    doc = page(client.get("/settings/account"))
    field = username_input(doc)
    assert field.attrs["value"] == EMAIL and "hidden" in field.attrs
    assert field.form.attrs["action"] == "/settings/password"


#: (button, prompt key in REAUTH_PROMPTS, state needed, a destructive step?)
REAUTH = [
    ("Set up", "sms", "off", False),
    ("Change phone number", "phone", "sms", False),
    ("Disable two-step verification", "disable", "sms", True),
    ("Get secret key", "app", "sms", False),
    ("Get secret key", "app_move", "app", False),
    ("Disable authenticator app", "app_disable", "app", True),
]


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
@pytest.mark.parametrize(("button", "key", "state", "danger"), REAUTH,
                         ids=[r[1] for r in REAUTH])
def test_every_reauth_prompt_says_what_happens_next_and_for_which_account(
        app, client, auth, make_user, outbox, clock, button, key, state, danger, htmx):
    make_user()
    auth.sign_in()
    if state != "off":
        enable_sms(client, outbox)
    if state == "app":
        enable_app(client, clock)
    r = click(client, "/settings/account", button, htmx=htmx)
    assert r.status_code == 200
    doc = page(r)
    heading, sentence = two_step_msg.REAUTH_PROMPTS[key]
    assert [h.words for h in doc.find("h3")] == [heading]
    assert sentence in doc.words and f"Account: {EMAIL}" in doc.words
    password = doc.find("input", name="password", id="two-step-password")[0]
    label = doc.find("label", for_="two-step-password")[0]
    assert label.words == "Enter your current password"
    field = username_input(doc, password.form)
    assert field.attrs["value"] == EMAIL and "hidden" in field.attrs
    assert password.form is doc.button("Continue").form
    assert doc.button("Continue").attrs["class"] == ("danger" if danger else "primary")


# --- focus after a refused form (whole pages; htmx panels: Chromium) ------------

def test_a_refused_registration_focuses_the_field_in_error(client):
    doc = page(plain_post(client, "/register", {"email": CAROL, "password": WEAK}))
    assert autofocused(doc) == ["password"]
    [password] = doc.find("input", name="password")
    assert password.attrs["aria-invalid"] == "true"
    assert doc.by_id(password.attrs["aria-describedby"].split()[-1]).attrs["role"] == "alert"


def test_a_refused_sign_in_focuses_the_password_and_ties_the_message_to_it(client, make_user):
    make_user()
    r = plain_post(client, "/sign-in", {"email": EMAIL, "password": "not it at all"})
    assert r.status_code == 422
    doc = page(r)
    assert autofocused(doc) == ["password"]
    [password] = doc.find("input", name="password")
    message = doc.by_id(password.attrs["aria-describedby"])
    assert message.attrs["role"] == "alert"
    assert message.words == "Incorrect email address or password."


def test_an_unconfirmed_sign_in_ties_the_reason_to_the_focused_password(client, make_user):
    make_user(confirmed=False)
    r = plain_post(client, "/sign-in", {"email": EMAIL, "password": PASSWORD})
    doc = page(r)
    assert autofocused(doc) == ["password"]
    [password] = doc.find("input", name="password")
    reason = doc.by_id(password.attrs["aria-describedby"])
    assert reason.attrs["role"] == "alert" and "Confirm your email address" in reason.words


def test_a_refused_new_password_focuses_it_on_the_whole_page(client, auth, make_user):
    make_user()
    auth.sign_in()
    r = plain_post(client, "/settings/password",
                   {"password": PASSWORD, "new_password": WEAK}, "/settings/account")
    assert r.status_code == 422 and "<html" in r.get_data(as_text=True)
    doc = page(r)
    assert autofocused(doc) == ["new_password"]
    assert doc.find("input", name="new_password")[0].attrs["aria-invalid"] == "true"
    assert "aria-invalid" not in doc.find("input", name="password")[0].attrs


# --- help for a lost phone, worded for its place ------------------------------

def test_lost_phone_help_at_sign_in_with_sms_only(app, client, make_user):
    set_sms(app, make_user())
    start_second_step(client)
    words = page(client.get("/sign-in/verify")).words
    assert LOST[("sign_in", "sms", False)] in words
    assert "administrator" in LOST[("sign_in", "sms", False)]
    assert 'Not you? Choose "Sign out" at the top of the page.' in words
    assert "no access to your phone? Use" not in words


def test_lost_phone_help_in_a_reset_speaks_of_the_reset(app, client, make_user, outbox):
    set_sms(app, make_user())
    plain_post(client, "/forgot-password", {"email": EMAIL})
    words = page(client.get(outbox.last_link(to=EMAIL))).words
    assert LOST[("recovery", "sms", False)] in words
    assert "sign-in" not in words and "Sign out" not in words


@pytest.mark.settings(SMS_BACKEND="http", SMS_HTTP_URL="http://127.0.0.1:9/sms",
                     SMS_HTTP_TIMEOUT=1.0)
def test_a_code_not_sent_yet_is_for_this_reset_or_this_sign_in(app, client, make_user,
                                                               outbox):
    """The gateway refuses (nothing listens on port 9): the step says no code was
    sent yet, naming the place it is in."""
    set_sms(app, make_user())
    plain_post(client, "/forgot-password", {"email": EMAIL})
    words = page(client.get(outbox.last_link(to=EMAIL))).words
    assert "for this password reset yet" in words and "sign-in" not in words
    signing_in = app.test_client()
    start_second_step(signing_in)
    assert "for this sign-in yet" in page(signing_in.get("/sign-in/verify")).words


def test_lost_phone_help_names_the_other_method(app, client, with_sms_and_app, outbox):
    start_second_step(client)
    r = client.get("/sign-in/verify")
    assert LOST[("sign_in", "app", True)] in page(r).words  # the app is asked first
    r = click(client, r, "Use SMS")
    assert LOST[("sign_in", "sms", True)] in page(r).words
    assert 'Choose "Use authenticator app"' in LOST[("sign_in", "sms", True)]

    reset = app.test_client()
    plain_post(reset, "/forgot-password", {"email": EMAIL})
    r = reset.get(outbox.last_link(to=EMAIL))
    assert LOST[("recovery", "app", True)] in page(r).words
    r = click(reset, r, "Use SMS")
    assert LOST[("recovery", "sms", True)] in page(r).words


# --- layout and words -------------------------------------------------------------------

@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_each_change_is_said_once_not_again_by_the_status_line(client, auth, make_user,
                                                               outbox, clock, htmx):
    make_user()
    auth.sign_in()
    r = enable_sms(client, outbox)
    words = page(r).words
    assert words.count("Two-step verification by SMS is on") == 1
    assert "Status: on. Codes are sent to" in words
    panel = get_secret_key(client, htmx=htmx)
    r = click(client, panel.response, "Confirm", {"code": oath(panel.secret, clock.now())},
              htmx=htmx)
    words = page(r).words
    assert words.count("Your authenticator app is on") == 1
    r = click(client, r, "Disable authenticator app", htmx=htmx)
    r = click(client, r, "Continue", {"password": PASSWORD}, htmx=htmx)
    words = page(r).words
    assert words.count("Your authenticator app is off") == 1
    r = click(client, r, "Disable two-step verification", htmx=htmx)
    r = click(client, r, "Continue", {"password": PASSWORD}, htmx=htmx)
    words = page(r).words
    assert words.count("Two-step verification is off") == 1
    assert "Status: off." in words


def test_moving_the_app_to_a_new_key_is_mailed_as_a_move(client, auth, make_user, outbox,
                                                         clock):
    make_user()
    auth.sign_in()
    enable_sms(client, outbox)
    enable_app(client, clock)
    [first] = [m for m in outbox.messages("email", EMAIL)
               if m.subject == two_step_msg.APP_ENABLED_SUBJECT]
    assert "was set up" in first.body and "moved" not in first.body
    panel = get_secret_key(client)
    clock.shift(30)
    click(client, panel.response, "Confirm", {"code": oath(panel.secret, clock.now())})
    assert email_subjects(outbox)[0] == "Your authenticator app was moved to a new key"
    moved = outbox.messages("email", EMAIL)[0]
    for body in (moved.body, moved.html):
        assert "moved to a new key" in " ".join(body.split())
        assert "was set up" not in body


def test_links_in_the_outbox_are_links_and_everything_else_is_escaped(app, client, outbox):
    link = register_and_get_link(client, outbox)
    with app.app_context():
        record("email", "mallory@example.com",
               "<script>alert(1)</script> javascript:alert(2) see "
               "http://x.example/a?b=1&c=<2> (or https://y.example/z).", subject="<b>hi</b>")
        db.session.commit()
    body = client.get("/dev/outbox").get_data(as_text=True)
    assert f'<a href="http://127.0.0.1:5000{link}">http://127.0.0.1:5000{link}</a>' in body
    assert "<script>alert" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "<b>hi" not in body and "&lt;b&gt;hi" in body
    assert '<a href="http://x.example/a?b=1&amp;c=">' in body
    assert '<a href="https://y.example/z">https://y.example/z</a>).' in body
    assert not re.search(r"<a [^>]*javascript", body)


def test_linkify_keeps_text_and_urls_apart():
    html = linkify('go to http://a.example/x?y="1", then "stop".')
    assert str(html) == ('go to <a href="http://a.example/x?y=">http://a.example/x?y=</a>'
                         '&#34;1&#34;, then &#34;stop&#34;.')
    assert str(linkify("no link here & <there>")) == "no link here &amp; &lt;there&gt;"

