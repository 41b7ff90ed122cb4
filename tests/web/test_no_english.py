"""No English sentence on a translated page: every page and every swapped-in panel,
in every language but English, rendered as a person meets it (the ``language``
cookie), and every email and SMS those steps sent, searched for the English
source texts of the catalog.

A page fails when its visible text holds a run of three or more words of an
English source text (``translations/messages.pot``: brand names and addresses
are shorter, or no source text) or one of the English words that no other
language of the portal writes (:data:`ENGLISH_WORDS`). Each reply's status
is checked too: a translation whose placeholders broke would turn into a 500.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import pytest
from babel.messages.pofile import read_po

from hubweb import i18n
from tests.support.accounts import PASSWORD, Auth
from tests.support.authenticator import APP_SECRET, oath, set_up
from tests.support.pages import HX
from tests.support.sms import EMAIL, PHONE_INPUT, last_sms_code, start_second_step

TRANSLATED = [lang for lang in i18n.SUPPORTED if lang != "en"]
#: English words that are no word of German, French, Spanish, Russian or Arabic.
ENGLISH_WORDS = re.compile(
    r"\b(the|your|you|this|that|with|has|have|been|will|was|please|enter|cannot|"
    r"again|before|after|sign in|sign out|password|settings|verification)\b", re.I)
_TAGS = re.compile(r"<(script|style)\b.*?</\1>|<[^>]+>", re.S | re.I)
_MARKUP = re.compile(r"%\(\w+\)[sdf]|\{\w*\}|<[^>]+>")


def visible(body: str) -> str:
    """The words a person reads: tags, scripts and styles gone, entities decoded,
    runs of white space one space (attribute values such as ``title`` and
    ``aria-label`` are read by a separate look, :func:`spoken_attributes`)."""
    return re.sub(r"\s+", " ", html.unescape(_TAGS.sub(" ", body))).strip()


def spoken_attributes(body: str) -> str:
    """The attribute values a person meets: ``title``, ``aria-label``,
    ``placeholder``, ``alt`` and ``value`` of buttons."""
    found = re.findall(r'\b(?:title|aria-label|placeholder|alt)="([^"]*)"', body)
    return " ".join(html.unescape(v) for v in found)


def source_runs() -> set[str]:
    """Every run of three or more words of an English source text, lower case,
    split where a placeholder or tag stands."""
    with open(i18n.TRANSLATIONS / "messages.pot", "rb") as fh:
        template = read_po(fh)
    runs = set()
    for message in template:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        for text in ids:
            for part in _MARKUP.split(text):
                words = re.findall(r"[A-Za-z][A-Za-z'’-]*", part)
                if len(words) >= 3:
                    runs.add(" ".join(words).lower())
    return runs


RUNS = source_runs()


_URL = re.compile(r"\bhttps?://\S+")


def english_in(body: str) -> list[str]:
    """The English a page still shows: source runs, then English-only words
    (links aside: their paths, such as ``/forgot-password``, are no words)."""
    shown = _URL.sub(" ", visible(body) + " " + spoken_attributes(body))
    seen = " ".join(re.findall(r"[A-Za-z][A-Za-z'’-]*", shown)).lower()
    found = sorted(run for run in RUNS if f" {run} " in f" {seen} ")
    return found or sorted({m.group(0).lower() for m in ENGLISH_WORDS.finditer(seen)})


# --- the pages and panels --------------------------------------------------------------

def _token(body: str) -> str:
    return re.search(r'"X-CSRFToken": "([^"]+)"', body)[1]


class Visit:
    """A person's tour in one language: each reply is kept under a name."""

    def __init__(self, client, lang: str):
        self.client, self.replies = client, {}
        client.set_cookie("language", lang)

    def get(self, name: str, path: str, status: int = 200):
        reply = self.client.get(path)
        self.keep(name, reply, status)
        return reply

    def post(self, name: str, path: str, data: dict | None = None, status: int = 200,
             page: str = "/settings/account"):
        """An htmx POST, with the token the page at ``page`` gives its requests."""
        token = _token(self.client.get(page).get_data(as_text=True))
        reply = self.client.post(path, data=data or {},
                                 headers={**HX, "X-CSRFToken": token})
        self.keep(name, reply, status)
        return reply

    def keep(self, name: str, reply, status: int) -> None:
        assert reply.status_code == status, (name, reply.status_code)
        self.replies[name] = reply.get_data(as_text=True)


def anonymous_pages(visit: Visit, **_) -> None:
    for name, path, status in (("sign in", "/sign-in", 200), ("register", "/register", 200),
                               ("forgot password", "/forgot-password", 200),
                               ("not found", "/no-such-page", 404)):
        visit.get(name, path, status)
    visit.post("wrong password", "/sign-in", {"email": EMAIL, "password": "wrong horse"},
               422, page="/sign-in")


def second_step(visit: Visit, app, make_user, outbox, **_) -> None:
    uid = make_user()
    set_up(app, uid, "app")
    start_second_step(visit.client)
    visit.get("second step (app)", "/sign-in/verify")
    visit.post("wrong app code", "/sign-in/verify", {"code": "000000", "method": "app"},
               422, page="/sign-in/verify")
    visit.post("switched to SMS", "/sign-in/verify/method", {"method": "sms"},
               200, page="/sign-in/verify")
    visit.get("second step (SMS)", "/sign-in/verify")
    visit.post("bad method", "/sign-in/verify/method", {"method": "carrier pigeon"},
               422, page="/sign-in/verify")


def settings_without_two_step(visit: Visit, make_user, outbox, **_) -> None:
    make_user()
    Auth(visit.client).sign_in()
    visit.get("settings (2SV off)", "/settings/account")
    visit.post("reauth panel (set up)", "/settings/two-step/sms/start")
    visit.post("wrong password panel", "/settings/two-step/sms/password",
               {"password": "wrong horse"}, 422)
    visit.post("phone panel", "/settings/two-step/sms/password", {"password": PASSWORD})
    visit.post("bad phone", "/settings/two-step/sms/phone", {"phone": "12"}, 422)
    visit.post("code panel", "/settings/two-step/sms/phone", {"phone": PHONE_INPUT})
    visit.post("wrong code", "/settings/two-step/sms/code", {"code": "000000"}, 422)
    visit.post("SMS on", "/settings/two-step/sms/code", {"code": last_sms_code(outbox)})
    visit.get("settings (SMS on)", "/settings/account")
    visit.post("reauth panel (app)", "/settings/two-step/app/start")
    visit.post("secret key panel", "/settings/two-step/app/password", {"password": PASSWORD})
    visit.post("reauth panel (disable)", "/settings/two-step/disable/start")


def settings_with_both(visit: Visit, app, make_user, clock, **_) -> None:
    uid = make_user()
    set_up(app, uid, "app")
    Auth(visit.client).sign_in()
    reply = visit.client.post("/sign-in/verify", data={
        "code": oath(APP_SECRET, clock.now()), "method": "app",
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"',
                                visit.client.get("/sign-in/verify").get_data(as_text=True))[1]})
    assert reply.status_code == 303, reply.status_code
    visit.get("settings (SMS and app on)", "/settings/account")
    visit.post("reauth panel (app off)", "/settings/two-step/app_disable/start")
    visit.post("app off", "/settings/two-step/app_disable/password", {"password": PASSWORD})


def limits(visit: Visit, app, make_user, **_) -> None:
    """The replies of the send limits and the failure throttle keep their 429 in
    every language (a translation whose ``{wait}`` broke would be a 500)."""
    uid = make_user()
    set_up(app, uid, "sms")
    start_second_step(visit.client)
    visit.post("send cooldown", "/sign-in/verify/resend", status=429, page="/sign-in/verify")
    for attempt in range(12):
        token = _token(visit.client.get("/sign-in/verify").get_data(as_text=True))
        reply = visit.client.post("/sign-in/verify", data={"code": "000000", "method": "sms"},
                                  headers={**HX, "X-CSRFToken": token})
        if reply.status_code == 429:
            visit.keep("throttled", reply, 429)
            break
        visit.keep(f"wrong code {attempt + 1}", reply, 422)
    assert "throttled" in visit.replies


TOURS: dict[str, Callable] = {tour.__name__: tour for tour in (
    anonymous_pages, second_step, settings_without_two_step, settings_with_both, limits)}


@pytest.mark.parametrize("lang", TRANSLATED)
@pytest.mark.parametrize("tour", TOURS)
def test_no_english_sentence_on_a_translated_page(app, client, make_user, outbox, clock,
                                                   lang, tour):
    visit = Visit(client, lang)
    TOURS[tour](visit, app=app, make_user=make_user, outbox=outbox, clock=clock)
    assert visit.replies
    sent = {f"{m.channel} {m.subject or m.body[:30]!r}": f"{m.subject}\n{m.body}\n{m.html}"
            for m in outbox.messages()}
    english = {name: found for name, body in {**visit.replies, **sent}.items()
               if (found := english_in(body))}
    assert english == {}


def test_the_check_finds_english_on_an_english_page(client):
    """The same look finds the English it is meant to find."""
    client.set_cookie("language", "en")
    found = english_in(client.get("/sign-in").get_data(as_text=True))
    assert found and all(isinstance(run, str) for run in found)
    assert english_in("<p>Entrez le code à 6 chiffres.</p>") == []
    assert english_in("<p>Enter the 6-digit code.</p>") != []
    assert english_in("<p>Lien : http://127.0.0.1:5000/forgot-password</p>") == []
