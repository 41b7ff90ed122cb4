"""Changing the email address: the gate (password, second step), the rules of
``new_email``, the link to the new address, the notices, no enumeration."""

from __future__ import annotations

import re

import sqlalchemy as sa

from hubweb.extensions import db
from hubweb.models import EmailToken
from tests.support.account_actions import page_of, pass_gate, pass_password
from tests.support.accounts import PASSWORD, get_user, is_signed_in
from tests.support.pages import HX, text
from tests.support.sms import event_kinds, post, token_of

NEW = "new.alice@example.org"


def ask_change(client, new=NEW, *, htmx=False):
    page = client.get("/settings/account")
    return post(client, "/settings/account/email/change", {"new_email": new},
                token=token_of(page), htmx=htmx)


def link_to(outbox, address):
    return outbox.last_link(address)


def test_the_section_offers_the_three_actions(client, signed_in):
    page = text(client.get("/settings/account"))
    for words in ("Change email address", "Download your data", "Delete account"):
        assert words in page


def test_the_page_asks_for_the_current_password_first(client, signed_in):
    page = client.get(page_of("email"))
    body = page.get_data(as_text=True)
    assert "Enter your current password" in body and "Continue" in body
    assert 'name="new_email"' not in body
    refused = ask_change(client)
    assert refused.status_code == 303 and refused.headers["Location"] == page_of("email")
    assert get_user(client.application, signed_in).email == "alice@example.com"


def test_a_wrong_password_is_refused_with_422(client, signed_in):
    reply = pass_password(client, "email", password="not the password at all")
    assert reply.status_code == 422
    assert "That is not your current password." in text(reply)


def test_the_new_address_form_has_the_contract_field(client, signed_in):
    page = pass_gate(client, "email").get_data(as_text=True)
    assert 'name="new_email"' in page and 'autocomplete="email"' in page


def test_a_link_goes_to_the_new_address_and_the_old_one_is_told_masked(
        client, signed_in, outbox):
    pass_gate(client, "email")
    reply = ask_change(client)
    assert reply.status_code == 303 and reply.headers["Location"] == "/settings/account"
    assert f"We sent a link to {NEW}." in text(client.get("/settings/account"))
    to_new = outbox.messages("email", NEW)
    assert len(to_new) == 1 and "/settings/email/" in to_new[0].body
    to_old = outbox.messages("email", "alice@example.com")[0]
    assert "n\u2022\u2022\u2022@example.org" in to_old.body and NEW not in to_old.body
    assert "/forgot-password" in to_old.body
    assert get_user(client.application, signed_in).email == "alice@example.com"
    assert "email_change_requested" in event_kinds(client.application, signed_in)


def test_opening_the_link_with_the_password_changes_the_address(client, signed_in, outbox):
    pass_gate(client, "email")
    ask_change(client)
    link = link_to(outbox, NEW)
    page = client.get(link)
    assert page.status_code == 200 and NEW in text(page)
    done = post(client, link, {"password": PASSWORD}, token=token_of(page))
    assert done.status_code == 303 and done.headers["Location"] == "/settings/account"
    user = get_user(client.application, signed_in)
    assert user.email == NEW and user.email_key == NEW
    assert "email_changed" in event_kinds(client.application, signed_in)
    assert "was changed from alice@example.com to " + NEW in outbox.messages(
        "email", NEW)[0].body
    assert "If you did not do this" in outbox.messages("email", "alice@example.com")[0].body
    assert is_signed_in(client)
    again = client.get(link)
    assert again.status_code == 400


def test_the_link_needs_the_right_password_and_a_get_changes_nothing(
        client, signed_in, outbox):
    pass_gate(client, "email")
    ask_change(client)
    link = link_to(outbox, NEW)
    page = client.get(link)
    wrong = post(client, link, {"password": "wrong password entirely"}, token=token_of(page))
    assert wrong.status_code == 422
    assert get_user(client.application, signed_in).email == "alice@example.com"


def test_the_link_lives_24_hours(client, signed_in, outbox, clock):
    pass_gate(client, "email")
    ask_change(client)
    link = link_to(outbox, NEW)
    clock.shift(24 * 3600 + 1)
    reply = client.get(link)
    assert reply.status_code == 400 and "expired" in text(reply)


def test_reset_links_of_the_old_address_die(client, signed_in, outbox, app):
    other = app.test_client()
    token = token_of(other.get("/forgot-password"))
    post(other, "/forgot-password", {"email": "alice@example.com"}, token=token)
    reset = outbox.last_link("alice@example.com")
    assert "/reset-password/" in reset
    pass_gate(client, "email")
    ask_change(client)
    link = link_to(outbox, NEW)
    page = client.get(link)
    post(client, link, {"password": PASSWORD}, token=token_of(page))
    assert other.get(reset).status_code == 400


def test_a_taken_address_gets_the_same_reply_and_its_owner_is_told(
        client, signed_in, outbox, make_user):
    make_user(NEW)
    pass_gate(client, "email")
    reply = ask_change(client, NEW.upper().replace("EXAMPLE.ORG", "example.org"))
    assert reply.status_code == 303 and reply.headers["Location"] == "/settings/account"
    shown = text(client.get("/settings/account"))
    assert "We sent a link to" in shown
    told = outbox.messages("email", NEW)
    assert len(told) == 1 and "/settings/email/" not in told[0].body
    assert "tried to change the email address of another" in told[0].body
    old_notice = outbox.messages("email", "alice@example.com")[0].body
    assert "\u2022\u2022\u2022@example.org" in old_notice
    with client.application.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(EmailToken).where(
            EmailToken.purpose == "email_change")) == 0


def test_the_replies_for_a_free_and_a_taken_address_are_the_same(
        app, make_user, outbox):
    make_user("taken@example.org")
    make_user("bob@example.com")
    replies = []
    for email, new in (("alice@example.com", "free@example.org"),
                       ("bob@example.com", "taken@example.org")):
        if email == "alice@example.com":
            make_user(email)
        client = app.test_client()
        token = token_of(client.get("/sign-in"))
        post(client, "/sign-in", {"email": email, "password": PASSWORD}, token=token)
        pass_gate(client, "email")
        reply = ask_change(client, new, htmx=True)
        shown = re.sub(r'value="[^"]+"', "", text(reply).replace(new, "NEW"))
        replies.append((reply.status_code, shown.replace(email, "ME")))
    assert replies[0] == replies[1]
    assert replies[0][0] == 200 and "We sent a link to NEW." in replies[0][1]


def test_new_email_follows_the_registration_rules(client, signed_in):
    pass_gate(client, "email")
    for bad, words in (("not an address", "email address"),
                       ("alice@example.com", "This is already your email address."),
                       ("ALICE@example.com", "This is already your email address."),
                       ("", "Enter your new email address.")):
        reply = ask_change(client, bad)
        assert reply.status_code == 422, bad
        assert words in text(reply), (bad, text(reply))
    assert get_user(client.application, signed_in).email == "alice@example.com"


def test_the_address_is_stored_normalised(client, signed_in, outbox):
    pass_gate(client, "email")
    ask_change(client, "  Bob@EXAMPLE.org ")
    link = outbox.last_link("Bob@example.org")
    page = client.get(link)
    post(client, link, {"password": PASSWORD}, token=token_of(page))
    user = get_user(client.application, signed_in)
    assert (user.email, user.email_key) == ("Bob@example.org", "bob@example.org")


def test_htmx_gets_the_fragment(client, signed_in):
    page = client.get(page_of("email"))
    reply = post(client, page_of("email") + "/password", {"password": PASSWORD},
                 token=token_of(page), htmx=True)
    assert reply.headers.get("HX-Redirect") == page_of("email")
    form = client.get(page_of("email"), headers=HX)
    assert form.get_data(as_text=True).lstrip().startswith('<div id="account-action"')
    refused = ask_change(client, "nope", htmx=True)
    assert refused.status_code == 422
    assert refused.get_data(as_text=True).lstrip().startswith('<div id="account-action"')


def test_with_two_step_on_the_second_step_comes_after_the_password(
        client, with_sms, outbox):
    from tests.support.sms import sign_in_with_sms
    sign_in_with_sms(client, outbox)
    reply = pass_password(client, "email")
    assert reply.headers["Location"] == "/settings/account/email/verify"
    refused = ask_change(client)
    assert refused.status_code == 303
    assert refused.headers["Location"] == "/settings/account/email/verify"
    assert get_user(client.application, with_sms).email == "alice@example.com"


def test_with_two_step_on_a_wrong_code_is_refused(client, with_sms, outbox, clock):
    from tests.support.sms import sign_in_with_sms
    sign_in_with_sms(client, outbox)
    pass_password(client, "email")
    page = client.get("/settings/account/email/verify")
    assert page.status_code == 200 and "Verify" in text(page)
    reply = post(client, "/settings/account/email/verify", {"code": "000000", "method": "sms"},
                 token=token_of(page))
    assert reply.status_code == 303
    again = client.get("/settings/account/email/verify")
    assert again.status_code == 422 and "not right" in text(again)
    assert 'name="new_email"' not in client.get(page_of("email")).get_data(as_text=True)


def test_with_two_step_on_the_right_code_opens_the_form(client, with_sms, outbox, clock):
    from tests.support.sms import sign_in_with_sms
    sign_in_with_sms(client, outbox)
    clock.shift(600)  # past the sign-in code's send cooldown
    page = pass_gate(client, "email", outbox)
    assert 'name="new_email"' in page.get_data(as_text=True)


def test_the_password_is_good_for_ten_minutes(client, signed_in, clock):
    pass_gate(client, "email")
    clock.shift(601)
    reply = ask_change(client)
    assert reply.status_code == 303 and reply.headers["Location"] == page_of("email")
    assert "Enter your current password" in text(client.get(page_of("email")))
