"""Every page says its language and direction (``<html lang dir>``), keeps
addresses, numbers and keys left to right inside a right-to-left page, and
offers the language chooser in its footer (CONTRACT.md: field ``language``,
button "Change language"), a plain form that works without JavaScript."""

from __future__ import annotations

import re

import pytest

from tests.support.accounts import Auth
from tests.support.authenticator import Doc, page
from tests.support.sms import set_sms, start_second_step

LANGUAGES = ["en", "de", "fr", "es", "ru", "ar"]
#: Each language named in itself (CLDR), as the chooser lists them.
NAMES = ["English", "Deutsch", "Français", "Español", "Русский", "العربية"]


def html_tag(response) -> dict[str, str]:
    """The attributes of the page's ``<html>`` element."""
    [root] = page(response).find("html")
    return root.attrs


def chooser(doc: Doc):
    """The footer's language form: the form holding the ``language`` select and
    a "Change language" button."""
    [footer] = doc.find("footer")
    selects = [e for e in doc.find("select", name="language") if e in _descendants(footer)]
    assert len(selects) == 1, "no single language select in the footer"
    return selects[0]


def _descendants(el):
    for child in el.children:
        yield child
        yield from _descendants(child)


@pytest.mark.parametrize(("how", "lang", "direction"), [
    ({}, "en", "ltr"),
    ({"cookie": "ar"}, "ar", "rtl"),
    ({"cookie": "de"}, "de", "ltr"),
    ({"accept": "ar-EG,ar;q=0.9,en;q=0.5"}, "ar", "rtl"),
    ({"accept": "ru-RU,ru;q=0.9"}, "ru", "ltr"),
])
def test_html_says_language_and_direction(client, how, lang, direction):
    if "cookie" in how:
        client.set_cookie("language", how["cookie"])
    headers = {"Accept-Language": how["accept"]} if "accept" in how else {}
    for path, status in (("/sign-in", 200), ("/register", 200), ("/no-such-page", 404)):
        r = client.get(path, headers=headers)
        assert r.status_code == status
        assert html_tag(r) == {"lang": lang, "dir": direction}, path
        assert r.get_data(as_text=True).startswith(
            f'<!doctype html>\n<html lang="{lang}" dir="{direction}">')


def _pages(app, make_user):
    """(name, response) of one page of each kind: signed out, an error page,
    half signed in (the second step), signed in, the development outbox."""
    visitor, halfway, member = app.test_client(), app.test_client(), app.test_client()
    yield "sign-in", visitor.get("/sign-in")
    yield "register", visitor.get("/register")
    yield "forgot-password", visitor.get("/forgot-password")
    yield "link problem", visitor.get("/reset-password/" + "x" * 43)
    yield "error", visitor.get("/no-such-page")
    yield "outbox", visitor.get("/dev/outbox")
    set_sms(app, make_user())
    start_second_step(halfway)
    yield "second step", halfway.get("/sign-in/verify")
    make_user(email="bob@example.com")
    assert Auth(member).sign_in(email="bob@example.com").status_code == 303
    yield "home", member.get("/")
    yield "settings", member.get("/settings/account")


def test_every_kind_of_page_has_the_chooser(app, make_user):
    seen = []
    for name, r in _pages(app, make_user):
        assert r.status_code in (200, 400, 404), name
        doc = page(r)
        select = chooser(doc)
        options = [e for e in _descendants(select) if e.tag == "option"]
        assert [o.attrs["value"] for o in options] == LANGUAGES, name
        assert [o.attrs["lang"] for o in options] == LANGUAGES, name
        assert [o.words for o in options] == NAMES, name
        assert [o.attrs["value"] for o in options if "selected" in o.attrs] == ["en"], name
        form = select.form
        assert form.attrs["method"] == "post" and form.attrs["action"] == "/language", name
        buttons = [b for b in doc.find("button") if b.form is form]
        assert [b.words for b in buttons] == ["Change language"], name
        assert [e.attrs["value"] for e in doc.find("input", name="csrf_token")
                if e.form is form] != [], name
        label = [e for e in doc.find("label") if e.attrs.get("for") == select.attrs["id"]]
        assert [e.words for e in label] == ["Language"], name
        seen.append(name)
    assert len(seen) == 9


def test_chooser_works_without_javascript(client):
    doc = page(client.get("/forgot-password"))
    form = chooser(doc).form
    fields = {e.attrs["name"]: e.attrs.get("value", "") for e in doc.find("input")
              if e.form is form and e.attrs.get("type") == "hidden"}
    assert fields["next"] == "/forgot-password"
    r = client.post(form.attrs["action"], data={**fields, "language": "ar"})
    assert r.status_code == 303 and r.headers["Location"] == "/forgot-password"
    back = client.get(r.headers["Location"])
    assert html_tag(back) == {"lang": "ar", "dir": "rtl"}
    assert [o.attrs["value"] for o in page(back).find("option") if "selected" in o.attrs] == [
        "ar"]


def test_a_page_with_a_token_in_its_path_never_copies_it_into_the_chooser(client):
    token = "t" * 43
    r = client.get(f"/reset-password/{token}")
    assert token not in str(chooser(page(r)).form.attrs)
    assert not [e for e in page(r).find("input", name="next")]


def test_left_to_right_values_are_isolated_in_a_right_to_left_page(client, with_sms):
    client.set_cookie("language", "ar")
    start_second_step(client)
    body = client.get("/sign-in/verify").get_data(as_text=True)
    assert re.search(r'<strong class="phone" dir="ltr">\+44 [^<]*56</strong>', body)
    code = [e for e in Doc(body).find("input") if e.attrs.get("name") == "code"]
    assert [e.attrs.get("dir") for e in code] == ["ltr"]


def test_addresses_read_left_to_right_in_a_right_to_left_page(client, signed_in):
    client.set_cookie("language", "ar")
    body = client.get("/settings/account").get_data(as_text=True)
    assert '<span class="account-email" dir="ltr">alice@example.com</span>' in body
    assert '<strong><bdi dir="ltr">alice@example.com</bdi></strong>' in body
    # In a left-to-right page the same sentence is as it always was.
    client.set_cookie("language", "en")
    body = client.get("/settings/account").get_data(as_text=True)
    assert "Email address: <strong>alice@example.com</strong>" in body


def test_copy_key_words_come_from_the_page(client):
    [body] = page(client.get("/sign-in")).find("body")
    assert (body.attrs["data-copy-label"], body.attrs["data-copy-done"],
            body.attrs["data-copy-failed"]) == (
        "Copy key", "Copied.", "Could not copy; select the key and copy it.")


def test_the_outbox_shows_each_message_in_the_language_it_was_sent_in(app, client, make_user,
                                                                      outbox):
    """An SMS and an email to an account that chose German are written in German,
    and the development outbox marks each with its language; a message to an
    account that chose nothing is in the page's language (English here)."""
    from hubweb.extensions import db
    from hubweb.models import User

    uid = make_user()
    set_sms(app, uid)
    with app.app_context():
        db.session.get(User, uid).language = "de"
        db.session.commit()
    start_second_step(client)  # sends the SMS
    other = app.test_client()
    make_user("bob@example.com")
    other.post("/forgot-password", data={"email": "bob@example.com",
                                         "csrf_token": _csrf(other, "/forgot-password")})
    languages = {(m.channel, m.recipient): m.language for m in outbox.messages()}
    assert languages == {("sms", "+447400123456"): "de", ("email", "bob@example.com"): "en"}
    sms = next(m for m in outbox.messages("sms"))
    assert "your verification code" not in sms.body  # written in German
    doc = page(client.get("/dev/outbox"))
    bodies = {e.attrs.get("lang") for e in doc.find("pre")}
    assert bodies == {"de", "en"}
    names = [e.words for e in doc.find("span") if "outbox-language" in e.attrs.get("class", "")]
    assert sorted(names) == ["Deutsch", "English"]


def _csrf(client, path: str) -> str:
    body = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', body)[1]


def test_an_example_number_stays_left_to_right_in_arabic(app):
    """A number inside an Arabic sentence is isolated left to right (LRI ... PDI,
    Unicode UAX #9), so "+44 7400 123456" does not turn into "123456 7400 44+";
    in English the sentence is as it was."""
    from flask_babel import force_locale

    from hubweb.twostep.phone import PhoneError, parse_phone

    def message(lang: str) -> str:
        with app.test_request_context(), force_locale(lang):
            with pytest.raises(PhoneError) as caught:
                parse_phone("07400 123456", None)
            return str(caught.value)

    assert message("en").endswith("for example +44 7400 123456.")
    assert "\u2066+44 7400 123456\u2069" in message("ar")
