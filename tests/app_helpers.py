"""Helpers for the authenticator-app (TOTP) tests of issue 4.

They drive the real forms (CSRF token, htmx header or not), follow the buttons
a person would click (the form around a button with a given label), and read
what a person would read. Codes come from oathtool, an implementation the
project did not write; the QR code is decoded with rsvg-convert and zbarimg.
Time is frozen with time-machine (:class:`Clock`) where steps must be exact;
oathtool is then given the frozen instant (``-N @<unix time>``).
"""

from __future__ import annotations

import base64
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pyotp
import sqlalchemy as sa
from conftest import PASSWORD, Clock, csrf_token, require_tools
from sms_helpers import last_sms_code, post, token_of  # noqa: F401 - shared

from hubweb.extensions import db
from hubweb.models import SecurityEvent, User

HX = {"HX-Request": "true"}
PHONE = "+447400123456"
PHONE_INPUT = "+44 7400 123456"
EMAIL = "alice@example.com"

#: 2025-06-02 09:00:15 UTC: the middle of a 30-second time step, so a code
#: computed for "now" stays the current one however long a request takes.


# --- external tools -----------------------------------------------------------------



def oath(secret: str, at: float | None = None) -> str:
    """The code oathtool computes for ``secret`` at Unix time ``at`` (default: real now)."""
    require_tools("oathtool")
    args = ["oathtool", "--totp", "-b", secret]
    if at is not None:
        args += ["-N", f"@{int(at)}"]
    return subprocess.run(args, capture_output=True, text=True, check=True,
                          timeout=10).stdout.strip()


def wrong_code(secret: str, at: float) -> str:
    """A 6-digit code that matches no step within 12 minutes of ``at`` (no drift hint)."""
    near = {pyotp.TOTP(secret).at(at + 30 * k) for k in range(-24, 25)}
    return next(c for c in (f"{n:06d}" for n in range(1000000)) if c not in near)


def decode_qr(data_url: str, workdir: Path) -> str:
    """Decode the QR code of a ``data:image/svg+xml;base64,`` URL with zbar."""
    require_tools("rsvg-convert", "zbarimg")
    prefix = "data:image/svg+xml;base64,"
    assert data_url.startswith(prefix), data_url[:60]
    svg, png = workdir / "qr.svg", workdir / "qr.png"
    svg.write_bytes(base64.b64decode(data_url[len(prefix):], validate=True))
    subprocess.run(["rsvg-convert", str(svg), "-o", str(png)], check=True, timeout=20)
    out = subprocess.run(["zbarimg", "--raw", "-q", str(png)], capture_output=True,
                         text=True, check=True, timeout=20).stdout
    return out.removesuffix("\n")




# --- reading HTML -------------------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "source", "track", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    form: Element | None = None
    text: str = ""
    children: list[Element] = field(default_factory=list)

    @property
    def words(self) -> str:
        return " ".join(self.text.split())


class Doc(HTMLParser):
    """A tiny DOM: every element with its attributes, text and enclosing form."""

    def __init__(self, markup: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self._text = ""
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        forms = [e for e in self._open if e.tag == "form"]
        el = Element(tag, {k: v if v is not None else "" for k, v in attrs},
                     form=forms[-1] if forms else None)
        if self._open:
            self._open[-1].children.append(el)
        self.elements.append(el)
        if tag not in VOID:
            self._open.append(el)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self._open.pop()

    def handle_endtag(self, tag):
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i].tag == tag:
                del self._open[i:]
                break

    def handle_data(self, data):
        self._text += data
        for el in self._open:
            el.text += data

    @property
    def words(self) -> str:
        """All the text, whitespace collapsed: what a person reads."""
        return " ".join(self._text.split())

    def by_id(self, id_: str) -> Element | None:
        found = [e for e in self.elements if e.attrs.get("id") == id_]
        assert len(found) <= 1, f"id {id_} repeated"
        return found[0] if found else None

    def find(self, tag: str, **attrs: str) -> list[Element]:
        return [e for e in self.elements if e.tag == tag
                and all(e.attrs.get(k.rstrip("_")) == v for k, v in attrs.items())]

    def buttons(self, label: str) -> list[Element]:
        return [e for e in self.elements if e.tag == "button" and e.words == label]

    def button(self, label: str) -> Element:
        found = self.buttons(label)
        assert len(found) == 1, f"{len(found)} buttons {label!r}"
        return found[0]

    def action_of(self, label: str) -> str:
        """The ``action`` of the form that the button ``label`` submits."""
        btn = self.button(label)
        assert btn.form is not None, f"button {label!r} is in no form"
        assert btn.form.attrs["method"] == "post"
        return btn.form.attrs["action"]


def page(response) -> Doc:
    return Doc(response.get_data(as_text=True))


def is_fragment(response) -> bool:
    body = response.get_data(as_text=True)
    return "<html" not in body and "<head" not in body and "<body" not in body


# --- driving the forms --------------------------------------------------------------

def click(client, response, label, data=None, *, htmx=True):
    """Submit the form of button ``label`` found in ``response`` (or a path to GET).

    Redirects are followed, as a browser would (``.history`` keeps them).
    """
    if isinstance(response, str):
        response = client.get(response)
    doc = page(response)
    btn = doc.button(label)
    fields = {"csrf_token": token_of(response), **(data or {})}
    if btn.attrs.get("name"):
        fields[btn.attrs["name"]] = btn.attrs.get("value", "")
    return client.post(doc.action_of(label), data=fields, headers=HX if htmx else {},
                       follow_redirects=True)


def enable_sms(client, outbox, phone=PHONE_INPUT, password=PASSWORD):
    """Turn 2SV by SMS on through "Set up" (the signed-in user's own settings)."""
    r = click(client, "/settings/account", "Set up")
    r = click(client, r, "Continue", {"password": password})
    r = click(client, r, "Send code", {"phone": phone})
    assert r.status_code == 200, r.get_data(as_text=True)
    r = click(client, r, "Confirm", {"code": last_sms_code(outbox)})
    assert "Two-step verification by SMS is on." in r.get_data(as_text=True)
    return r


@dataclass
class Panel:
    """What the secret key panel shows."""

    response: object
    doc: Doc
    secret: str
    grouped: str
    uri: str
    qr: str


def secret_panel(response) -> Panel:
    doc = page(response)
    key, qr, link = doc.by_id("totp-secret"), doc.by_id("totp-qr"), doc.by_id("totp-uri")
    assert key is not None and qr is not None and link is not None, response.get_data(True)
    assert qr.tag == "img"
    return Panel(response, doc, key.attrs["data-secret"], key.words, link.attrs["href"],
                 qr.attrs["src"])


def get_secret_key(client, password=PASSWORD, *, htmx=True) -> Panel:
    """ "Get secret key", then the current password: the secret key panel."""
    r = click(client, "/settings/account", "Get secret key", htmx=htmx)
    assert r.status_code == 200, r.get_data(as_text=True)
    r = click(client, r, "Continue", {"password": password}, htmx=htmx)
    assert r.status_code == 200, r.get_data(as_text=True)
    return secret_panel(r)


def enable_app(client, clock: Clock) -> str:
    """Turn the authenticator app on (SMS must be on); return the key."""
    panel = get_secret_key(client)
    r = click(client, panel.response, "Confirm", {"code": oath(panel.secret, clock.now())})
    assert "Your authenticator app is on." in r.get_data(as_text=True), r.get_data(True)
    return panel.secret


def both_on(client, auth, outbox, clock: Clock, email=EMAIL) -> str:
    """Sign in, turn SMS and the app on, sign out; return the app key."""
    auth.sign_in(email)
    enable_sms(client, outbox)
    secret = enable_app(client, clock)
    auth.sign_out()
    return secret


def verify(client, code, *, htmx=False):
    """Submit a code on /sign-in/verify (the form's own CSRF token)."""
    return post(client, "/sign-in/verify", {"code": code},
                token=csrf_token(client, "/sign-in/verify"), htmx=htmx)


# --- reading the database -----------------------------------------------------------

def user_row(app, user_id) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        db.session.expunge(user)
        return user


def event_kinds(app, user_id) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(
            sa.select(SecurityEvent.kind).where(SecurityEvent.user_id == user_id)
            .order_by(SecurityEvent.id)))


def email_subjects(outbox, to=EMAIL) -> list[str]:
    return [m.subject for m in outbox.messages("email", to)]
