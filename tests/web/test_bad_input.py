"""Bad input on every form and URL token: a 4xx with a clear message, never a 500.

Forms are discovered, not listed. For each situation (signed out, signed in,
the settings page with two sessions, an emailed reset link, an emailed
confirmation link, a sign-in refused for an unconfirmed email) the known pages
and the links the portal emailed are fetched, the pages they link to are
crawled, and every ``<form method="post">`` is parsed with :mod:`html.parser`.
A form added later is therefore fuzzed without touching this file.

Every bad request is sent from a fresh copy of its situation (new client, new
account), so that one request that happens to succeed cannot spoil the next.
After each error reply nothing may have been written (no account, no emailed
link, no security event other than a failure), and after the fuzzing the
tables hold only what valid actions created.
"""

from __future__ import annotations

import io
import itertools
import re
import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from urllib.parse import quote, quote_from_bytes, urljoin, urlsplit

import pytest
import sqlalchemy as sa
import time_machine
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from hubweb import accounts
from hubweb.auth import messages as auth_msg
from hubweb.extensions import db
from hubweb.models import EmailToken, OutboxMessage, SecurityEvent, User
from tests.support.accounts import PASSWORD

pytestmark = pytest.mark.settings(RATELIMIT_ENABLED=False)

KNOWN_PAGES = ["/", "/register", "/sign-in", "/forgot-password", "/settings/account"]
MAX_PAGES_PER_SITUATION = 30
BIG = "A" * (100 * 1024)
NEW_PASSWORD = "violet tractor minnow quarry 42"
FORM_TYPE = "application/x-www-form-urlencoded"
HTMX = {"HX-Request": "true", "HX-Current-URL": "http://localhost/"}
LINK_RE = re.compile(r"http://127\.0\.0\.1:5000(/[^\s\"'<>]+)")
TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{20,}")
# A sentence a person can read: a capital, some words, a full stop.
SENTENCE = re.compile(r"[A-Z][^.!?<>]*[a-z][^.!?<>]*[.!?]")
CSRF_TEXT = "This form has expired or did not come from this site."
NUL_TEXT = "Form values cannot contain NUL characters."

#: A valid value per field name; other fields keep the value the page gave.
VALID = {
    "email": lambda sit: sit.email,
    "password": lambda sit: PASSWORD,
    "new_password": lambda sit: NEW_PASSWORD,
    "phone": lambda sit: "+447700900123",
    "code": lambda sit: "123456",
}


# -- reading pages ------------------------------------------------------------------------

MESSAGE_CLASSES = {"alert", "alert-error", "error", "errors", "field-errors"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


@dataclass
class Form:
    """One ``<form method="post">`` as a browser would submit it."""

    action: str
    fields: dict[str, str] = field(default_factory=dict)
    occurrence: int = 0
    state: str = ""
    source: tuple = ()
    page: str = ""

    @property
    def key(self) -> tuple:
        """What identifies the form across fresh situations (tokens and ids masked)."""
        return (TOKEN_RE.sub("<id>", self.action), tuple(sorted(self.fields)), self.occurrence)

    def __str__(self) -> str:
        return f"{self.action} {sorted(self.fields)} (state {self.state}, page {self.page})"


class PageParser(HTMLParser):
    """Collects post forms (with the values a browser would send) and links."""

    def __init__(self, base: str):
        super().__init__(convert_charrefs=True)
        self.base = base
        self.forms: list[Form] = []
        self.links: list[str] = []
        self._form: Form | None = None
        self._select: str | None = None
        self._textarea: str | None = None
        self._radios: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "a" and a.get("href"):
            self.links.append(urljoin(self.base, a["href"]))
        if tag == "form":
            if a.get("method", "get").lower() == "post":
                action = urljoin(self.base, a.get("action") or self.base)
                parts = urlsplit(action)
                path = parts.path + (f"?{parts.query}" if parts.query else "")
                self._form = Form(action=path)
                self._radios = set()
            return
        form = self._form
        if form is None:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text").lower()
            if kind in ("submit", "button", "image", "reset"):
                form.fields.setdefault(name, a.get("value", ""))
            elif kind in ("checkbox", "radio"):
                if "checked" in a or (kind == "radio" and name not in self._radios):
                    form.fields[name] = a.get("value", "on")
                    self._radios.add(name)
            else:
                form.fields[name] = a.get("value", "")
        elif tag == "button" and name:
            form.fields.setdefault(name, a.get("value", ""))
        elif tag == "select" and name:
            self._select = name
        elif tag == "option" and self._select:
            if self._select not in form.fields or "selected" in a:
                form.fields[self._select] = a.get("value", "")
        elif tag == "textarea" and name:
            self._textarea = name
            form.fields[name] = ""

    def handle_data(self, data):
        if self._form is not None and self._textarea:
            self._form.fields[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "form" and self._form is not None:
            same = [f for f in self.forms if f.key[:2] == self._form.key[:2]]
            self._form.occurrence = len(same)
            self.forms.append(self._form)
            self._form = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None


def parse_page(html: str, base: str) -> PageParser:
    parser = PageParser(base)
    parser.feed(html)
    parser.close()
    return parser


class MessageParser(HTMLParser):
    """Collects the texts a person reads as the reply's message.

    Alerts (``role="alert"``/``"status"`` or an alert/error class, not a hint
    next to a field), and the heading of an error page (title starting "Error").
    """

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack: list[bool] = []
        self.title = ""
        self.h1 = ""
        self.alerts: list[str] = []
        self._in = None

    def handle_starttag(self, tag, attrs):
        if tag in VOID:
            return
        a = dict(attrs)
        classes = set((a.get("class") or "").split())
        is_message = a.get("role") in ("alert", "status") or bool(classes & MESSAGE_CLASSES)
        self.stack.append(is_message)
        if is_message and self.stack.count(True) == 1:
            self.alerts.append("")
        if tag in ("title", "h1"):
            self._in = tag

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if self.stack:
            self.stack.pop()
        if tag == self._in:
            self._in = None

    def handle_data(self, data):
        if any(self.stack) and self.alerts:
            self.alerts[-1] += data
        if self._in == "title":
            self.title += data
        elif self._in == "h1":
            self.h1 += data


def message_of(html: str) -> str:
    """The reply's message for a person, whitespace collapsed ("" if none)."""
    parser = MessageParser()
    parser.feed(html)
    texts = list(parser.alerts)
    if parser.title.strip().startswith("Error"):
        texts.append(parser.h1)
    return " ".join(" ".join(texts).split())


def assert_clear_error(response, what: str) -> None:
    """A 4xx reply must say, in a sentence, what went wrong."""
    html = response.get_data(as_text=True)
    message = message_of(html)
    assert SENTENCE.search(message), (
        f"{what}: status {response.status_code} without a clear message; "
        f"message found: {message!r}; body starts {html[:300]!r}"
    )


# -- situations ------------------------------------------------------------------------------


@dataclass
class Situation:
    """A client in some state, and where its forms can be found."""

    client: object
    email: str
    pages: list[str]
    documents: list[tuple[str, str]] = field(default_factory=list)  # (path, html)


class Portal:
    """Builds situations in one app and remembers which accounts were valid actions."""

    def __init__(self, app):
        self.app = app
        self.counter = itertools.count()
        self.valid_emails: set[str] = set()

    def fresh_email(self) -> str:
        email = f"person{next(self.counter)}@example.com"
        self.valid_emails.add(email)
        return email

    def create_user(self, confirmed: bool = True) -> str:
        email = self.fresh_email()
        with self.app.app_context():
            accounts.create_user(email, PASSWORD, confirmed=confirmed)
            db.session.commit()
        return email

    def client(self):
        return self.app.test_client()

    def post_form(self, client, path: str, **values):
        page = client.get(path, follow_redirects=True)
        forms = parse_page(page.get_data(as_text=True), page.request.path).forms
        form = next(f for f in forms if set(values) <= set(f.fields))
        return client.post(form.action, data={**form.fields, **values})

    def sign_in(self, client, email: str) -> None:
        reply = self.post_form(client, "/sign-in", email=email, password=PASSWORD)
        assert reply.status_code in (200, 303), reply.status_code

    def outbox_mark(self) -> int:
        with self.app.app_context():
            return db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(OutboxMessage.id), 0)))

    def links_since(self, mark: int) -> list[str]:
        with self.app.app_context():
            bodies = db.session.scalars(
                sa.select(OutboxMessage.body)
                .where(OutboxMessage.id > mark, OutboxMessage.channel == "email")
                .order_by(OutboxMessage.id)
            )
            return [link for body in bodies for link in LINK_RE.findall(body)]


def signed_out(portal: Portal) -> Situation:
    return Situation(portal.client(), portal.fresh_email(), list(KNOWN_PAGES))


def signed_in(portal: Portal) -> Situation:
    client, email = portal.client(), portal.create_user()
    portal.sign_in(client, email)
    return Situation(client, email, list(KNOWN_PAGES))


def settings_two_sessions(portal: Portal) -> Situation:
    """Signed in on /settings/account with a second session elsewhere."""
    client, email = portal.client(), portal.create_user()
    portal.sign_in(portal.client(), email)
    portal.sign_in(client, email)
    return Situation(client, email, ["/settings/account"])


def reset_link(portal: Portal) -> Situation:
    client, email = portal.client(), portal.create_user()
    mark = portal.outbox_mark()
    portal.post_form(client, "/forgot-password", email=email)
    links = portal.links_since(mark)
    assert links, "forgot-password sent no link"
    return Situation(client, email, links)


def confirm_link(portal: Portal) -> Situation:
    client, email = portal.client(), portal.fresh_email()
    mark = portal.outbox_mark()
    portal.post_form(client, "/register", email=email, password=PASSWORD)
    links = portal.links_since(mark)
    assert links, "register sent no confirmation link"
    return Situation(client, email, links)


def unconfirmed_sign_in(portal: Portal) -> Situation:
    """The sign-in page that refuses an unconfirmed email (it offers a new link)."""
    client, email = portal.client(), portal.create_user(confirmed=False)
    reply = portal.post_form(client, "/sign-in", email=email, password=PASSWORD)
    return Situation(client, email, [], [(reply.request.path, reply.get_data(as_text=True))])


STATES = {
    "signed out": signed_out,
    "signed in": signed_in,
    "settings, two sessions": settings_two_sessions,
    "reset link": reset_link,
    "confirm link": confirm_link,
    "unconfirmed sign-in": unconfirmed_sign_in,
}


def crawl(sit: Situation):
    """Yield ``(source, path, html)`` for the situation's pages and the pages they link to."""
    for i, (path, html) in enumerate(sit.documents):
        yield ("doc", i), path, html
    queue = [(("start", i), path) for i, path in enumerate(sit.pages)]
    seen: set[str] = set()
    while queue and len(seen) < MAX_PAGES_PER_SITUATION:
        source, path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        reply = sit.client.get(path, follow_redirects=True)
        assert reply.status_code < 500, f"GET {path}: {reply.status_code}"
        final = reply.request.path
        html = reply.get_data(as_text=True)
        yield source, final, html
        for link in parse_page(html, final).links:
            parts = urlsplit(link)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if parts.netloc not in ("", "localhost") or parts.path.startswith("/static/"):
                continue
            if target not in seen:
                queue.append((_source_of(sit, target), target))


def _source_of(sit: Situation, target: str) -> tuple:
    """How to find ``target`` again: a fixed path, or one holding a start page's token."""
    for i, start in enumerate(sit.pages):
        for j, token in enumerate(TOKEN_RE.findall(start)):
            if token in target:
                return ("derived", (i, j, target.replace(token, "\0")))
    return ("path", target)


def discover(portal: Portal) -> list[Form]:
    """Every post form reachable in every situation, once each."""
    found: dict[tuple, Form] = {}
    for state, setup in STATES.items():
        sit = setup(portal)
        for source, path, html in crawl(sit):
            for form in parse_page(html, path).forms:
                if form.key not in found:
                    form.state, form.source, form.page = state, source, path
                    found[form.key] = form
    forms = list(found.values())
    actions = {TOKEN_RE.sub("<id>", f.action) for f in forms}
    # The discovery itself must see the forms of sign-up, sign-in and recovery.
    for expected in ("/register", "/sign-in", "/forgot-password", "/sign-out",
                     "/confirm-email/<id>", "/reset-password/<id>"):
        assert expected in actions, f"no form posting to {expected} found: {sorted(actions)}"
    return forms


def replay(portal: Portal, form: Form) -> tuple[Situation, Form]:
    """A fresh situation of ``form``'s kind, and the same form in it."""
    sit = STATES[form.state](portal)
    kind, ref = form.source
    if kind == "doc":
        path, html = sit.documents[ref]
    else:
        if kind == "start":
            path = sit.pages[ref]
        elif kind == "derived":  # a page whose address holds this situation's token
            i, j, template = ref
            path = template.replace("\0", TOKEN_RE.findall(sit.pages[i])[j])
        else:
            path = ref
        reply = sit.client.get(path, follow_redirects=True)
        path, html = reply.request.path, reply.get_data(as_text=True)
    for candidate in parse_page(html, path).forms:
        if candidate.key == form.key:
            return sit, candidate
    raise AssertionError(f"form {form} not found again in a fresh situation")


def baseline(sit: Situation, form: Form) -> dict[str, str]:
    """The form filled in as a person would (valid values)."""
    values = dict(form.fields)
    for name in values:
        if name in VALID:
            values[name] = VALID[name](sit)
    return values


# -- what may be written ------------------------------------------------------------------


def snapshot(app) -> tuple[int, int, Counter]:
    with app.app_context():
        users = db.session.scalar(sa.select(sa.func.count()).select_from(User))
        tokens = db.session.scalar(sa.select(sa.func.count()).select_from(EmailToken))
        kinds = Counter(db.session.scalars(sa.select(SecurityEvent.kind)))
    return users, tokens, kinds


def assert_nothing_written(before, after, what: str) -> None:
    assert after[0] == before[0], f"{what}: an error reply created an account"
    assert after[1] == before[1], f"{what}: an error reply created an emailed link"
    new = after[2] - before[2]
    assert all("fail" in kind for kind in new), f"{what}: an error reply recorded {dict(new)}"


def assert_tables_clean(portal: Portal, known_only: bool = True) -> None:
    """Only valid actions wrote rows: every account is one a valid step created.

    :param known_only: every account must have an address the test sent as a
        valid one (random input could, very rarely, be a valid registration).
    """
    with portal.app.app_context():
        users = list(db.session.scalars(sa.select(User)))
        for user in users:
            # Werkzeug keeps undecodable percent-escapes as text, so "%FF%FE" + a valid
            # address arrives as a valid address: that account is a valid action.
            email = user.email.removeprefix("%FF%FE")
            if known_only:
                assert email in portal.valid_emails, f"unexpected account {email[:80]!r}"
            assert "\x00" not in user.email and "\ufffd" not in user.email
            assert accounts.normalize_email(user.email) == user.email
            assert user.email_key == accounts.email_key(user.email)
            assert user.password_hash.startswith("$argon2id$")
        ids = {u.id for u in users}
        for event in db.session.scalars(sa.select(SecurityEvent)):
            assert event.user_id in ids and event.kind
        for token in db.session.scalars(sa.select(EmailToken)):
            assert token.user_id in ids
            assert token.purpose in ("confirm", "reset")
            assert re.fullmatch(r"[0-9a-f]{64}", token.token_hash)


# -- the bad requests -----------------------------------------------------------------------


def _q(value) -> str:
    if isinstance(value, bytes):
        return quote_from_bytes(value, safe="")
    return quote(value, safe="")


def raw_body(pairs) -> bytes:
    """``application/x-www-form-urlencoded`` from (name, str-or-bytes) pairs."""
    return "&".join(f"{_q(k)}={_q(v)}" for k, v in pairs).encode("ascii")


TAMPERINGS = {
    "random": lambda t: secrets.token_urlsafe(32),
    "truncated": lambda t: t[:-1],
    "one character changed": lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),
    "longer": lambda t: t + "x",
    "10 KB long": lambda t: "A" * 10240,
    "with %00": lambda t: t[:8] + "%00" + t[8:],
    "unicode": lambda t: "ünïcødé-😀-" + t[:10],
    "invalid UTF-8": lambda t: "%FF%FE" + t[:10],
    "a lone surrogate": lambda t: "%ED%A0%80" + t[:10],
    "upper-cased": lambda t: t.upper() if t.upper() != t else t.lower(),
}


@dataclass
class Case:
    """One bad request: a description, how to send it, and whether a 4xx is required."""

    what: str
    kwargs: dict
    must_fail: bool = False
    expect_text: str | None = None
    path: str | None = None  # instead of the form's action


def _form_post(pairs, **extra) -> dict:
    return {"data": raw_body(pairs), "content_type": FORM_TYPE, **extra}


def cases(variant: str, values: dict[str, str], action: str) -> list[Case]:
    """The bad requests of ``variant`` for a form whose valid values are ``values``."""
    names = list(values)
    pairs = list(values.items())
    csrf = values.get("csrf_token", "")
    out: list[Case] = []
    if variant == "missing":
        out.append(Case("no fields at all", _form_post([]), must_fail=True))
        for name in names:
            rest = [(k, v) for k, v in pairs if k != name]
            out.append(Case(f"without {name}", _form_post(rest),
                            must_fail=name == "csrf_token",
                            expect_text=CSRF_TEXT if name == "csrf_token" else None))
            out.append(Case(f"{name} empty", _form_post([(k, "" if k == name else v)
                                                          for k, v in pairs]),
                            must_fail=name == "csrf_token"))
    elif variant == "100 KB":
        for name in names:
            out.append(Case(f"{name} of 100 KB",
                            _form_post([(k, BIG if k == name else v) for k, v in pairs]),
                            must_fail=True))
    elif variant == "NUL":
        for name in names:
            bad = [(k, (v[:1] + "\x00" + v[1:]) if k == name else v) for k, v in pairs]
            out.append(Case(f"NUL in {name}", _form_post(bad), must_fail=True))
            bad_name = [*pairs, (name + "\x00", "x")]
            out.append(Case(f"NUL in a field name next to {name}", _form_post(bad_name),
                            must_fail=True))
        query = {"query_string": "next=%00"}
        out.append(Case("NUL in the query string", _form_post(pairs, **query),
                        must_fail=True, expect_text=NUL_TEXT))
    elif variant == "invalid UTF-8":
        for name in names:
            bad = [(k, (b"\xff\xfe" + v.encode()) if k == name else v) for k, v in pairs]
            out.append(Case(f"invalid UTF-8 in {name}", _form_post(bad)))
            lone = [(k, b"\xed\xa0\x80" if k == name else v) for k, v in pairs]
            out.append(Case(f"a lone surrogate (CESU-8) in {name}", _form_post(lone)))
        out.append(Case("invalid UTF-8 in a field name",
                        _form_post([*pairs, (b"\xff\xfe", b"\xff")])))
        out.append(Case("invalid UTF-8 in the query string",
                        _form_post(pairs, query_string="next=%FF%FE")))
    elif variant == "list-valued":
        for name in names:
            twice = [*pairs, (name, "second value")]
            out.append(Case(f"{name} given twice", _form_post(twice)))
            first_bad = [(name, "first value"), *pairs]
            out.append(Case(f"{name} given twice, the bad one first", _form_post(first_bad),
                            must_fail=name == "csrf_token"))
    elif variant == "JSON":
        header = {"X-CSRFToken": csrf}
        out.append(Case("JSON body instead of a form", {"json": values}, must_fail=True))
        out.append(Case("JSON body with the CSRF header", {"json": values, "headers": header}))
        for name in names:
            for label, wrong in (("a number", 12345), ("a list", ["a", 1]),
                                 ("an object", {"a": 1})):
                body = {**values, name: wrong}
                out.append(Case(f"JSON with {name} as {label}", {"json": body, "headers": header}))
        for label, body in (("a list", b"[1, 2]"), ("a string", b'"text"'), ("a number", b"42"),
                            ("null", b"null"), ("broken JSON", b"{not json"),
                            ("invalid UTF-8", b'{"email": "\xff\xfe"}')):
            out.append(Case(f"JSON body that is {label}",
                            {"data": body, "content_type": "application/json",
                             "headers": header}))
    elif variant == "wrong Content-Type":
        out.append(Case("multipart/form-data",
                        {"data": dict(values), "content_type": "multipart/form-data"}))
        for name in names:
            files = {**values, name: (io.BytesIO(b"\x00\xff file body"), "upload.bin")}
            out.append(Case(f"{name} sent as a file upload",
                            {"data": files, "content_type": "multipart/form-data"},
                            must_fail=name == "csrf_token"))
        out.append(Case("form fields labelled text/plain",
                        {"data": raw_body(pairs), "content_type": "text/plain"},
                        must_fail=True))
        out.append(Case("no Content-Type", {"data": raw_body(pairs)}, must_fail=True))
        out.append(Case("broken multipart",
                        {"data": b"--x\r\nnot a part", "content_type": "multipart/form-data; "
                         "boundary=x"}, must_fail=True))
        out.append(Case("urlencoded with a charset nobody knows",
                        {"data": raw_body(pairs),
                         "content_type": FORM_TYPE + "; charset=x-unknown"}))
    elif variant == "tampered URL id":
        # Every id or token in the action's path (session ids, emailed tokens...).
        for match in TOKEN_RE.finditer(action):
            for label, tamper in TAMPERINGS.items():
                path = action[:match.start()] + tamper(match.group()) + action[match.end():]
                out.append(Case(f"URL id {label}", _form_post(pairs), path=path))
    else:  # pragma: no cover - a typo in VARIANTS
        raise AssertionError(variant)
    return out


VARIANTS = ["missing", "100 KB", "NUL", "invalid UTF-8", "list-valued", "JSON",
            "wrong Content-Type", "tampered URL id"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_form_refuses_bad_input_clearly(app, variant):
    """Every discovered form: the variant's bad requests get < 500, a clear 4xx message,
    and write nothing."""
    portal = Portal(app)
    forms = discover(portal)
    problems: list[str] = []
    for form in forms:
        for index in range(len(cases(variant, dict(form.fields), form.action))):
            # A fresh situation per request: its CSRF token, account and link.
            sit, fresh = replay(portal, form)
            case = cases(variant, baseline(sit, fresh), fresh.action)[index]
            what = f"{case.what} -> POST {case.path or ''} {form}"
            before = snapshot(app)
            reply = sit.client.post(case.path or fresh.action, **case.kwargs)
            status = reply.status_code
            if status >= 500:
                problems.append(f"{what}: {status}")
                continue
            if case.must_fail and not 400 <= status < 500:
                problems.append(f"{what}: expected a 4xx, got {status}")
                continue
            if status >= 400:
                try:
                    assert_clear_error(reply, what)
                    if case.expect_text:
                        assert case.expect_text in message_of(reply.get_data(as_text=True)), (
                            f"{what}: message lacks {case.expect_text!r}")
                    assert_nothing_written(before, snapshot(app), what)
                except AssertionError as exc:
                    problems.append(str(exc))
    assert not problems, f"{len(problems)} bad replies:\n" + "\n".join(problems)
    assert_tables_clean(portal)


# -- URL tokens -----------------------------------------------------------------------------

ROUTES = {"confirm": "/confirm-email/", "reset": "/reset-password/"}


def _valid_link(portal: Portal, prefix: str) -> tuple[Situation, str]:
    sit = reset_link(portal) if prefix.startswith("/reset") else confirm_link(portal)
    link = next(p for p in sit.pages if p.startswith(prefix))
    return sit, link[len(prefix):]




@pytest.mark.parametrize("prefix", ROUTES.values(), ids=list(ROUTES))
@pytest.mark.parametrize("tampering", TAMPERINGS, ids=list(TAMPERINGS))
def test_tampered_link_is_refused_clearly(app, prefix, tampering):
    portal = Portal(app)
    sit, token = _valid_link(portal, prefix)
    path = prefix + TAMPERINGS[tampering](token)
    csrf_page = sit.client.get(prefix + token)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', csrf_page.get_data(as_text=True))
    before = snapshot(app)
    for method, kwargs in (("GET", {}), ("POST", {"data": {
            "csrf_token": csrf.group(1), "new_password": NEW_PASSWORD}})):
        reply = sit.client.open(path, method=method, **kwargs)
        assert reply.status_code in (400, 404), f"{method} {path}: {reply.status_code}"
        if reply.status_code == 400:
            assert auth_msg.LINK_PROBLEMS["invalid"] in reply.get_data(as_text=True)
        assert_clear_error(reply, f"{method} {path}")
        if prefix.startswith("/reset") and reply.status_code == 400:
            assert reply.headers.get("Referrer-Policy") == "no-referrer"
    assert_nothing_written(before, snapshot(app), path)
    # The real link still works: tampering used nothing up.
    assert sit.client.get(prefix + token).status_code == 200


@pytest.mark.parametrize("prefix", ROUTES.values(), ids=list(ROUTES))
def test_expired_link_says_so(app, prefix):
    portal = Portal(app)
    sit, token = _valid_link(portal, prefix)
    later = datetime.now(UTC) + timedelta(hours=25)
    with time_machine.travel(later, tick=False):
        reply = sit.client.get(prefix + token)
    assert reply.status_code == 400
    assert auth_msg.LINK_PROBLEMS["expired"] in reply.get_data(as_text=True)
    assert_clear_error(reply, "expired link")


@pytest.mark.parametrize("prefix", ROUTES.values(), ids=list(ROUTES))
def test_used_link_says_so(app, prefix):
    portal = Portal(app)
    sit, token = _valid_link(portal, prefix)
    reply = portal.post_form(sit.client, prefix + token, new_password=NEW_PASSWORD) \
        if prefix.startswith("/reset") else portal.post_form(sit.client, prefix + token,
                                                             password=PASSWORD)
    assert reply.status_code == 303
    again = sit.client.get(prefix + token)
    assert again.status_code == 400
    assert auth_msg.LINK_PROBLEMS["used"] in again.get_data(as_text=True)
    assert_clear_error(again, "used link")


# -- property: arbitrary text in every field ----------------------------------------------

#: Values as bytes on the wire: any text (lone surrogates included, sent as the
#: CESU-8 bytes a broken client would send), raw bytes, or bytes decoded with
#: replacement characters; ``None`` leaves the field out.
FIELD_VALUES = st.one_of(
    st.none(),
    st.text(st.characters(exclude_categories=()), max_size=300).map(
        lambda s: s.encode("utf-8", "surrogatepass")),
    st.binary(max_size=300),
    st.binary(max_size=300).map(lambda b: b.decode("utf-8", "replace").encode()),
    st.sampled_from([b"", b" ", BIG.encode(), b"\x00", "ﬁ".encode(), b"+447700900123",
                     b"123456", PASSWORD.encode()]),
)
EXAMPLES_PER_FORM = 25


def _fuzz(portal: Portal, form: Form):
    """A hypothesis test posting arbitrary values to every field of ``form``."""
    names = sorted(n for n in form.fields if n != "csrf_token")

    @hsettings(max_examples=EXAMPLES_PER_FORM, deadline=None,
               suppress_health_check=[HealthCheck.too_slow])
    @given(values=st.fixed_dictionaries({n: FIELD_VALUES for n in names}),
           fuzz_csrf=st.one_of(st.none(), FIELD_VALUES), htmx=st.booleans())
    def check(values, fuzz_csrf, htmx):
        sit, fresh = replay(portal, form)
        pairs = [(k, v) for k, v in values.items() if v is not None]
        csrf = fresh.fields.get("csrf_token")
        if csrf is not None:
            pairs.insert(0, ("csrf_token", fuzz_csrf if fuzz_csrf is not None else csrf))
        reply = sit.client.post(fresh.action, data=raw_body(pairs), content_type=FORM_TYPE,
                                headers=HTMX if htmx else {})
        assert reply.status_code < 500, f"POST {form} with {pairs!r}"

    return check


def test_arbitrary_text_in_every_field_never_5xx(app):
    """Property: whatever bytes arrive in whatever fields, no form answers 5xx."""
    portal = Portal(app)
    for form in discover(portal):
        _fuzz(portal, form)()
    assert_tables_clean(portal, known_only=False)


def test_discovery_covers_signed_in_and_link_forms(app):
    """The generic discovery really reaches the signed-in and emailed-link forms."""
    forms = discover(Portal(app))
    states = {f.state for f in forms}
    assert {"signed out", "signed in", "reset link", "confirm link",
            "unconfirmed sign-in"} <= states, states
    assert any(set(f.fields) >= {"password", "new_password"} for f in forms)
    assert any(f.action == "/confirm-email/resend" for f in forms)


def test_json_body_is_refused_with_a_clear_message(client):
    """Without the CSRF header: the CSRF message; with it: 415, not a 500 deep in a view."""
    reply = client.post("/sign-in", json={"email": 1, "password": 2})
    assert reply.status_code == 400
    assert CSRF_TEXT in message_of(reply.get_data(as_text=True))
    page = client.get("/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    reply = client.post("/sign-in", json=[1, 2], headers={"X-CSRFToken": token})
    assert reply.status_code == 415
    assert "accepts only form submissions" in message_of(reply.get_data(as_text=True))


def test_file_upload_is_refused_with_a_clear_message(client):
    page = client.get("/register").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    reply = client.post("/register", content_type="multipart/form-data", data={
        "csrf_token": token, "email": (io.BytesIO(b"x"), "a.txt"), "password": PASSWORD})
    assert reply.status_code == 400
    assert "does not accept files" in message_of(reply.get_data(as_text=True))
