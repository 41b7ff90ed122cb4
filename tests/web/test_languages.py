"""Which language a request is answered in, the language chooser, and mail and SMS
in the recipient's language.

The project's own catalogs may still be untranslated, so these tests run on a
small catalog of their own (German, French, Russian, Arabic), compiled with
Babel into a temporary directory: each entry is a real ``msgid`` of the code.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from flask_babel import force_locale

from hubweb import create_app, i18n, passwords
from hubweb.config import ConfigError
from hubweb.extensions import db, limiter
from hubweb.models import User
from hubweb.twostep import messages as two_step_msg
from tests.support.accounts import PASSWORD, csrf_token, get_user
from tests.support.database import fresh_database
from tests.support.pages import HX
from tests.support.sms import (
    code_of,
    enter_sign_in_code,
    sms_list,
    start_second_step,
)

CHOOSE = "Choose one of the languages offered: %(languages)s."
SMS_ONE = ("%(portal)s: your verification code is %(code)s. It expires in %(num)d minute. "
           "Do not share it with anyone; we will never ask for it.")
SMS_MANY = ("%(portal)s: your verification code is %(code)s. It expires in %(num)d minutes. "
            "Do not share it with anyone; we will never ask for it.")

#: language -> {msgid or (singular, plural): translation or plural forms}
TEST_CATALOG = {
    "de": {
        CHOOSE: "Wählen Sie eine der angebotenen Sprachen: %(languages)s.",
        "Language": "Sprache",
        "You have signed out.": "Sie haben sich abgemeldet.",
        "Reset your password": "Passwort zurücksetzen",
        "Confirm your email address": "Bestätigen Sie Ihre E-Mail-Adresse",
        "This is a top-10 common password.": "Dies ist eines der 10 häufigsten Passwörter.",
        (SMS_ONE, SMS_MANY): ("%(portal)s: Code %(code)s, %(num)d Minute gültig.",
                              "%(portal)s: Code %(code)s, %(num)d Minuten gültig."),
    },
    "fr": {CHOOSE: "Choisissez l'une des langues proposées : %(languages)s."},
    "ru": {
        CHOOSE: "Выберите один из предложенных языков: %(languages)s.",
        "Language": "Язык",
        ("%(count)s minute", "%(count)s minutes"): (
            "%(count)s минута", "%(count)s минуты", "%(count)s минут"),
        (SMS_ONE, SMS_MANY): ("%(portal)s: код %(code)s, %(num)d минута.",
                              "%(portal)s: код %(code)s, %(num)d минуты.",
                              "%(portal)s: код %(code)s, %(num)d минут."),
    },
    "ar": {CHOOSE: "اختر إحدى اللغات المتاحة: %(languages)s.", "Language": "اللغة"},
}


@pytest.fixture(scope="session")
def test_catalogs(tmp_path_factory):
    """The catalogs of :data:`TEST_CATALOG`, compiled; returns their directory."""
    root = tmp_path_factory.mktemp("translations")
    for lang, entries in TEST_CATALOG.items():
        catalog = Catalog(locale=lang, domain="messages")
        for source, translation in entries.items():
            catalog.add(source, translation)
        folder = root / lang / "LC_MESSAGES"
        folder.mkdir(parents=True)
        with open(folder / "messages.mo", "wb") as fh:
            write_mo(fh, catalog)
    return root


@pytest.fixture
def app(request, tmp_path, migrated_db, test_catalogs):
    config = fresh_database(tmp_path, migrated_db)
    config["BABEL_TRANSLATION_DIRECTORIES"] = str(test_catalogs)
    marker = request.node.get_closest_marker("settings")
    if marker:
        config.update(marker.kwargs)
    app = create_app(config)
    with app.app_context():
        limiter.reset()
    yield app
    with app.app_context():
        db.engine.dispose()


def page_token(client) -> str:
    """A CSRF token of the client's session: from the home page when signed in,
    else from the sign-in page."""
    return csrf_token(client, "/" if client.get("/").status_code == 200 else "/sign-in")


def choose(client, language, *, next=None, headers=None, token=None):
    """Post the chooser form, as a browser on any page would."""
    data = {"csrf_token": token or page_token(client), "language": language}
    if next is not None:
        data["next"] = next
    return client.post("/language", data=data, headers=headers or {})


def refusal_language(client, **headers) -> str:
    """The language the chooser's refusal of a bad tag is said in (from its wording)."""
    reply = choose(client, "xx", headers=headers)
    assert reply.status_code == 400
    body = reply.get_data(as_text=True).replace("&#39;", "'")
    for lang, entries in TEST_CATALOG.items():
        if entries[CHOOSE].split(":")[0] in body:
            return lang
    assert CHOOSE.split(":")[0] in body, body
    return "en"


def set_language(app, user_id, language):
    with app.app_context():
        db.session.execute(sa.update(User).where(User.id == user_id).values(language=language))
        db.session.commit()


# --- which language ----------------------------------------------------------------


def test_without_any_hint_the_first_configured_language(client):
    assert refusal_language(client) == "en"


@pytest.mark.settings(LANGUAGES="ru,en,de")
def test_the_first_configured_language_is_the_default(client):
    assert refusal_language(client) == "ru"


@pytest.mark.parametrize(("accept", "expected"), [
    ("de", "de"), ("de-AT,de;q=0.9,en;q=0.5", "de"), ("ja, fr;q=0.8, de;q=0.7", "fr"),
    ("ja", "en"), ("ar-EG", "ar"), ("*", "en"), ("de-CH, en;q=0.5", "de"),
    ("en;q=0.1, ru;q=0.9", "ru"),
])
def test_accept_language_picks_the_best_offered(client, accept, expected):
    assert refusal_language(client, **{"Accept-Language": accept}) == expected


@pytest.mark.settings(LANGUAGES="en,ru")
def test_a_language_not_offered_is_not_matched(client):
    assert refusal_language(client, **{"Accept-Language": "de"}) == "en"


def test_the_cookie_beats_accept_language(client):
    client.set_cookie("language", "fr")
    assert refusal_language(client, **{"Accept-Language": "de"}) == "fr"
    client.set_cookie("language", "klingon")  # not offered: ignored
    assert refusal_language(client, **{"Accept-Language": "de"}) == "de"


def test_the_account_beats_the_cookie(app, client, signed_in):
    set_language(app, signed_in, "ru")
    client.set_cookie("language", "fr")
    assert refusal_language(client, **{"Accept-Language": "de"}) == "ru"
    page = client.get("/settings/account").get_data(as_text=True)
    assert '<option value="ru" lang="ru" selected>' in page
    assert ">Язык</h2>" in page


def test_an_account_without_a_choice_follows_the_browser(app, client, signed_in):
    client.set_cookie("language", "ar")
    assert refusal_language(client) == "ar"
    page = client.get("/settings/account").get_data(as_text=True)
    assert '<option value="ar" lang="ar" selected>' in page
    assert ">اللغة</h2>" in page


@pytest.mark.parametrize("value", ["", "en,xx", "EN,de,klingon", []])
def test_languages_setting_is_checked_at_start(tmp_path, migrated_db, value):
    config = {**fresh_database(tmp_path, migrated_db), "LANGUAGES": value}
    with pytest.raises(ConfigError, match="HUBWEB_LANGUAGES"):
        create_app(config)


def test_languages_setting_forms(tmp_path, migrated_db):
    base = fresh_database(tmp_path, migrated_db)
    assert create_app({**base, "LANGUAGES": " de , EN,de"}).config["LANGUAGES"] == ["de", "en"]
    assert create_app({**base, "LANGUAGES": ["ar", "en"]}).config["LANGUAGES"] == ["ar", "en"]
    assert create_app(base).config["LANGUAGES"] == ["en", "de", "fr", "es", "ru", "ar"]


def test_text_direction_and_names():
    assert [i18n.text_direction(t) for t in ("en", "de", "ru", "ar")] == [
        "ltr", "ltr", "ltr", "rtl"]
    assert [i18n.language_name(t) for t in i18n.SUPPORTED] == [
        "English", "Deutsch", "Français", "Español", "Русский", "العربية"]


# --- the chooser ------------------------------------------------------------------


def test_chooser_sets_the_cookie_and_goes_back(client):
    reply = choose(client, "de", next="/forgot-password?x=1")
    assert reply.status_code == 303
    assert reply.headers["Location"] == "/forgot-password?x=1"
    cookie = reply.headers["Set-Cookie"]
    assert cookie.startswith("language=de;")
    assert "Max-Age=31536000" in cookie and "SameSite=Lax" in cookie
    assert "HttpOnly" in cookie and "Path=/" in cookie and "Secure" not in cookie
    assert refusal_language(client) == "de"


@pytest.mark.settings(BASE_URL="https://hub.example.org", ALLOW_CONSOLE_BACKENDS=True)
def test_chooser_cookie_is_secure_under_https(client):
    page = client.get("/sign-in", base_url="https://hub.example.org").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)[1]
    reply = client.post("/language", data={"csrf_token": token, "language": "fr"},
                        base_url="https://hub.example.org")
    assert reply.status_code == 303
    assert "Secure" in reply.headers["Set-Cookie"]


def test_chooser_saves_the_choice_on_the_account(app, client, signed_in):
    reply = choose(client, "ru", next="/settings/account")
    assert reply.status_code == 303 and reply.headers["Location"] == "/settings/account"
    assert get_user(app, signed_in).language == "ru"
    # Another browser of the same account, without the cookie, follows the account.
    other = app.test_client()
    other.post("/sign-in", data={"email": "alice@example.com", "password": PASSWORD,
                                 "csrf_token": csrf_token(other)})
    assert refusal_language(other, **{"Accept-Language": "de"}) == "ru"


def test_chooser_for_htmx_redirects_the_htmx_way(client):
    reply = choose(client, "de", next="/sign-in", headers=HX)
    assert reply.status_code == 200
    assert reply.headers["HX-Redirect"] == "/sign-in"
    assert reply.headers["Set-Cookie"].startswith("language=de;")


@pytest.mark.parametrize("tag", ["xx", "", "DE", "de-DE", " de", "e" * 5000])
def test_chooser_refuses_a_tag_not_offered(app, client, signed_in, tag):
    reply = choose(client, tag, next="/")
    assert reply.status_code == 400
    body = reply.get_data(as_text=True)
    assert "Choose one of the languages offered: English, Deutsch, Français, Español, " \
           "Русский, العربية." in body
    assert "Set-Cookie" not in reply.headers or "language=" not in reply.headers["Set-Cookie"]
    assert get_user(app, signed_in).language is None


def test_chooser_needs_the_csrf_token(client):
    reply = client.post("/language", data={"language": "de", "next": "/"})
    assert reply.status_code == 400
    assert "language=" not in reply.headers.get("Set-Cookie", "")


@pytest.mark.parametrize("target", [
    "//evil.example/", "https://evil.example/", "/\\evil.example", "/\t/evil.example",
    "\\\\evil.example", "javascript:alert(1)", "evil.example", "http:/evil.example",
    "/%0a/evil", "",
])
def test_chooser_never_redirects_off_site(client, target):
    reply = choose(client, "de", next=target)
    assert reply.status_code == 303
    location = reply.headers["Location"]
    assert location == ("/%0a/evil" if target == "/%0a/evil" else "/")


def test_chooser_without_next_goes_back_by_a_same_site_referer(client):
    reply = choose(client, "de", headers={"Referer": "http://localhost/forgot-password"})
    assert reply.headers["Location"] == "/forgot-password"
    reply = choose(client, "de", headers={"Referer": "http://evil.example/forgot-password"})
    assert reply.headers["Location"] == "/"


def test_pages_give_the_chooser_their_path_but_never_a_token(app):
    with app.test_request_context("/forgot-password?x=1"):
        assert i18n.return_path() == "/forgot-password?x=1"
    with app.test_request_context("/reset-password/secret-token"):
        assert i18n.return_path() is None
    with app.test_request_context("/sign-in", method="POST"):
        assert i18n.return_path() is None


# --- mail and SMS in the recipient's language ---------------------------------------


def test_email_goes_out_in_the_account_language(app, client, make_user, outbox):
    user_id = make_user()
    set_language(app, user_id, "de")
    token = csrf_token(client, "/forgot-password")
    client.post("/forgot-password", data={"email": "alice@example.com", "csrf_token": token},
                headers={"Accept-Language": "en"})
    subjects = [m.subject for m in outbox.messages("email")]
    assert subjects == ["Passwort zurücksetzen"]


def test_email_without_a_saved_language_follows_the_page(app, client, make_user, outbox):
    make_user()
    token = csrf_token(client, "/forgot-password")
    client.post("/forgot-password", data={"email": "alice@example.com", "csrf_token": token},
                headers={"Accept-Language": "ru"})
    assert [m.subject for m in outbox.messages("email")] == ["Reset your password"]  # no ru entry
    client.set_cookie("language", "de")
    client.post("/forgot-password", data={"email": "alice@example.com", "csrf_token": token})
    assert outbox.messages("email")[0].subject == "Passwort zurücksetzen"


def test_registration_keeps_the_page_language(app, client, outbox):
    token = csrf_token(client, "/register")
    reply = client.post("/register", data={"email": "nina@example.com",
                                           "password": "granite lantern orbit",
                                           "csrf_token": token},
                        headers={"Accept-Language": "de-CH, en;q=0.5"})
    assert reply.status_code == 200
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == "nina@example.com"))
        assert user.language == "de"
    assert outbox.messages("email")[0].subject == "Bestätigen Sie Ihre E-Mail-Adresse"


def test_sms_goes_out_in_the_account_language(app, client, with_sms, outbox):
    set_language(app, with_sms, "ru")
    start_second_step(client)
    body = sms_list(outbox)[0].body
    code = code_of(body)
    assert body == f"Business Hub: код {code}, 5 минут.\n\n@127.0.0.1 #{code}"


@pytest.mark.parametrize("digits", ["٠١٢٣٤٥٦٧٨٩", "۰۱۲۳۴۵۶۷۸۹", "０１２３４５６７８９"])
def test_sms_code_typed_in_the_language_digits_is_accepted(app, client, with_sms, outbox,
                                                           digits):
    set_language(app, with_sms, "ar")
    token = start_second_step(client)
    code = code_of(sms_list(outbox)[0].body)
    typed = code.translate(str.maketrans("0123456789", digits))
    reply = enter_sign_in_code(client, token, typed)
    assert reply.status_code == 303 and reply.headers["Location"] == "/"


# --- plural forms, numbers and zxcvbn -----------------------------------------------


@pytest.mark.parametrize(("seconds", "words"), [
    (60, "1 минута"), (120, "2 минуты"), (300, "5 минут"), (1260, "21 минута"),
    (1320, "22 минуты"), (660, "11 минут"),
])
def test_durations_take_the_language_plural_forms(app, seconds, words):
    with app.app_context(), force_locale("ru"):
        assert two_step_msg.duration(seconds) == words


def test_countdown_units_are_plain_text_by_plural_category(app):
    with app.app_context(), force_locale("ru"):
        units = two_step_msg.units()
    assert units["forms"]["minutes"] == {
        "many": "{count} минут", "one": "{count} минута", "few": "{count} минуты"}
    with app.app_context():
        units = two_step_msg.units()
    assert units["forms"]["seconds"] == {"one": "{count} second", "other": "{count} seconds"}
    assert units["second"] == "1 second" and units["seconds"] == "{count} seconds"

    def plain(value):
        if isinstance(value, dict):
            return all(plain(v) for v in value.values())
        return type(value) is str

    assert plain(units)


def test_zxcvbn_advice_is_translated_or_replaced(app):
    with app.app_context(), force_locale("de"):
        assert passwords.advice(["This is a top-10 common password."]) == [
            "Dies ist eines der 10 häufigsten Passwörter."]
        assert passwords.advice(["A sentence zxcvbn may add one day.", "Another one."]) == [
            str(passwords.GENERAL_HINT)]
    with app.app_context():
        problems = passwords.check_policy("password1234").problems
    assert problems[0] == "This password is too easy to guess."
    assert all(type(p) is str for p in problems)


def test_every_zxcvbn_sentence_is_in_the_catalog():
    """Each sentence zxcvbn can say (read from its source) has a catalog entry."""
    import ast
    import inspect

    import zxcvbn.feedback

    said = {ast.literal_eval(node.args[0])
            for node in ast.walk(ast.parse(inspect.getsource(zxcvbn.feedback)))
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "_"}
    assert said and said == set(passwords.ZXCVBN_FEEDBACK)


def test_flashed_messages_keep_the_language_they_were_said_in(client, signed_in):
    """A flash is kept (as plain text) in the session; a lazy text kept as such
    would come back as its English source."""
    client.set_cookie("language", "de")
    reply = client.post("/sign-out", data={"csrf_token": page_token(client)})
    assert reply.status_code == 303
    assert "Sie haben sich abgemeldet." in client.get("/sign-in").get_data(as_text=True)


def test_lazy_texts_say_the_current_language(app):
    from hubweb.auth import messages as auth_msg

    with app.app_context(), force_locale("de"):
        assert str(auth_msg.SIGNED_OUT) == "Sie haben sich abgemeldet."
        assert type(str(auth_msg.SIGNED_OUT)) is str
        assert f"{auth_msg.SIGNED_OUT}" == "Sie haben sich abgemeldet."
        assert auth_msg.SIGNED_OUT.__html__() == "Sie haben sich abgemeldet."
    assert str(auth_msg.SIGNED_OUT) == "You have signed out."
    assert repr(auth_msg.SIGNED_OUT) == "lazy_text('You have signed out.')"


@pytest.mark.parametrize(("lang", "seconds", "words"), [
    ("en", False, "Dec 7, 2026, 15:47 UTC"), ("en", True, "Dec 7, 2026, 15:47:05 UTC"),
    ("de", False, "7. Dez. 2026, 15:47 UTC"), ("ru", False, "7 дек. 2026\u202fг., 15:47 UTC"),
])
def test_moments_are_said_in_the_language_and_in_utc(app, lang, seconds, words):
    from datetime import UTC, datetime, timedelta, timezone

    moment = datetime(2026, 12, 7, 17, 47, 5, tzinfo=timezone(timedelta(hours=2)))
    assert moment.astimezone(UTC).hour == 15
    with app.app_context(), force_locale(lang):
        assert i18n.format_when(moment, seconds) == words
        rendered = app.jinja_env.from_string("{{ m|when(s) }}").render(m=moment, s=seconds)
    assert rendered == words


def test_chooser_refuses_an_overlong_next(client):
    reply = choose(client, "de", next="/" + "a" * 3000)
    assert reply.status_code == 400
    assert "The address of the page to go back to is too long." in reply.get_data(as_text=True)
    assert "language=" not in reply.headers.get("Set-Cookie", "")


def test_email_validator_reasons_only_on_english_pages(app):
    from hubweb import addresses

    with app.app_context():
        with pytest.raises(addresses.AddressError) as english:
            addresses.check("no-at-sign.example.com")
        with force_locale("de"), pytest.raises(addresses.AddressError) as german:
            addresses.check("no-at-sign.example.com")
    assert "@-sign" in str(english.value)
    assert str(german.value) == str(addresses.ADDRESS_INVALID)


@pytest.mark.parametrize(("cookie", "lang", "direction"), [
    ("ar", "ar", "rtl"), ("ru", "ru", "ltr"), ("de", "de", "ltr"), (None, "en", "ltr")])
def test_templates_get_the_page_language_and_direction(app, cookie, lang, direction):
    from flask import render_template_string

    headers = {"Cookie": f"language={cookie}"} if cookie else {}
    with app.test_request_context("/sign-in", headers=headers):
        html = render_template_string(
            '<html lang="{{ html_lang }}" dir="{{ html_dir }}">'
            "{% for tag, name in languages %}{{ tag }}={{ name }};{% endfor %}"
            "{{ current_language }} {{ language_next }}")
    assert html == (f'<html lang="{lang}" dir="{direction}">en=English;de=Deutsch;'
                    "fr=Français;es=Español;ru=Русский;ar=العربية;"
                    f"{lang} /sign-in")
