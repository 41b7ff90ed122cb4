"""Helpers for the authenticator-app (TOTP) tests, and the tiny DOM and click() they share.

They drive the real forms (CSRF token, htmx header or not), follow the buttons
a person would click (the form around a button with a given label), and read
what a person would read. Codes come from oathtool, an implementation the
project did not write; the QR code (a PNG) is read by netpbm's pngtopnm and
decoded by zbarimg.
Time is frozen with time-machine (:class:`Clock`) where steps must be exact;
oathtool is then given the frozen instant (``-N @<unix time>``).
"""

from __future__ import annotations

import base64
import re
import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pyotp

from hubweb.extensions import db
from hubweb.models import User
from hubweb.timeutil import utcnow
from tests.support.accounts import PASSWORD, Auth, csrf_token
from tests.support.clock import Clock
from tests.support.pages import HX, is_fragment  # noqa: F401 - shared
from tests.support.sms import (  # noqa: F401 - shared
    EMAIL,
    OTHER_PHONE,
    PHONE,
    PHONE_INPUT,
    event_kinds,
    last_sms_code,
    post,
    same_step,
    set_sms,
    settle,
    sign_in_with_sms,
    token_of,
)
from tests.support.tools import require_tools

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


def decode_qr_png(png: bytes, workdir: Path, scale: int = 4) -> str:
    """Decode a QR code PNG with tools the project did not write.

    netpbm's ``pngtopnm`` (libpng) reads the PNG, ``pnmenlarge`` repeats each
    pixel ``scale`` times in both directions (zbar misses codes drawn at one
    pixel per module), and ``zbarimg`` decodes the result.

    :return: the decoded text, exactly (zbarimg's trailing newline removed).
    """
    require_tools("pngtopnm", "pnmenlarge", "zbarimg")
    (workdir / "qr.png").write_bytes(png)
    pnm = subprocess.run(["pngtopnm", str(workdir / "qr.png")], capture_output=True,
                         check=True, timeout=20).stdout
    big = subprocess.run(["pnmenlarge", str(scale)], input=pnm, capture_output=True,
                         check=True, timeout=20).stdout
    (workdir / "qr.pnm").write_bytes(big)
    out = subprocess.run(["zbarimg", "--raw", "-q", str(workdir / "qr.pnm")],
                         capture_output=True, check=True, timeout=20).stdout
    return out.decode("utf-8").removesuffix("\n")


def pbm_of_png(png: bytes, workdir: Path) -> list[list[bool]]:
    """The pixels of a PNG as netpbm's ``pngtopnm`` reads them: rows of booleans,
    True for black (a dark module). Fails unless it is a bilevel image (PBM)."""
    require_tools("pngtopnm")
    (workdir / "pixels.png").write_bytes(png)
    pbm = subprocess.run(["pngtopnm", str(workdir / "pixels.png")], capture_output=True,
                         check=True, timeout=20).stdout
    magic, width, height, bits = pbm.split(maxsplit=3)
    assert magic == b"P4", magic  # raw PBM: 1 bit per pixel, 1 is black
    width, height, stride = int(width), int(height), (int(width) + 7) // 8
    assert len(bits) == stride * height
    return [[bool(bits[y * stride + x // 8] >> (7 - x % 8) & 1) for x in range(width)]
            for y in range(height)]


PNG_PREFIX = "data:image/png;base64,"


def png_of(data_url: str) -> bytes:
    """The PNG file of a ``data:image/png;base64,`` URL (strict base64)."""
    assert data_url.startswith(PNG_PREFIX), data_url[:60]
    return base64.b64decode(data_url[len(PNG_PREFIX):], validate=True)


def decode_qr(data_url: str, workdir: Path) -> str:
    """Decode the QR code of a ``data:image/png;base64,`` URL with zbar."""
    return decode_qr_png(png_of(data_url), workdir)


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
    """A tiny DOM: every element with its attributes, text and form owner."""

    def __init__(self, markup: str):
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self._text = ""
        self.feed(markup)
        self.close()
        # A control's form owner is the form its ``form`` attribute names, if
        # any (HTML: "form owner"), else the form that encloses it.
        forms = {e.attrs["id"]: e for e in self.elements if e.tag == "form" and "id" in e.attrs}
        for el in self.elements:
            if "form" in el.attrs:
                el.form = forms.get(el.attrs["form"])

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
        """Where the button ``label`` posts without JavaScript: its ``formaction``,
        else the ``action`` of its form."""
        btn = self.button(label)
        assert btn.form is not None, f"button {label!r} is in no form"
        assert btn.form.attrs["method"] == "post"
        return btn.attrs.get("formaction") or btn.form.attrs["action"]


def forms_without_csrf(doc: Doc) -> list[str]:
    """The ``action`` of each POST form in ``doc`` without a hidden ``csrf_token``:
    none may be in a whole page, which browsers without JavaScript submit as is."""
    return [form.attrs.get("action", "") for form in doc.find("form", method="post")
            if not any(e.form is form for e in doc.find("input", name="csrf_token"))]


def page(response) -> Doc:
    return Doc(response.get_data(as_text=True))


# --- driving the forms --------------------------------------------------------------

def click(client, response, label, data=None, *, htmx=True):
    """Submit the form of button ``label`` found in ``response`` (or a path to GET).

    As a browser would: without JavaScript (``htmx=False``) the form posts its
    own hidden ``csrf_token`` to the button's ``formaction`` or the form's
    ``action``; with htmx it posts to the button's or the form's ``hx-post``
    and sends the page's token in the ``X-CSRFToken`` header, the way
    ``hx-headers`` on ``<body>`` makes htmx do (fragments' forms carry no
    hidden field). Redirects are followed (``.history`` keeps them).
    """
    if isinstance(response, str):
        response = client.get(response)
    body = response.get_data(as_text=True)
    header = re.search(r'<body[^>]* hx-headers[^>]*"X-CSRFToken": "([^"]+)"', body)
    if header:  # a whole page: the token htmx sends from now on
        client.hx_csrf_token = header[1]
    doc = page(response)
    btn = doc.button(label)
    form = btn.form
    assert form is not None and form.attrs["method"] == "post", f"{label!r} is in no form"
    hidden = [e.attrs["value"] for e in doc.find("input", name="csrf_token") if e.form is form]
    fields, headers = {**(data or {})}, {}
    if btn.attrs.get("name"):
        fields[btn.attrs["name"]] = btn.attrs.get("value", "")
    if htmx:
        url = btn.attrs.get("hx-post") or form.attrs.get("hx-post")
        assert url, f"{label!r}: no hx-post, so htmx would not send it"
        token = getattr(client, "hx_csrf_token", None)
        assert token, "no whole page loaded yet, so htmx would have no CSRF token"
        headers = {**HX, "X-CSRFToken": token}
        if hidden:
            fields["csrf_token"] = hidden[0]
    else:
        url = btn.attrs.get("formaction") or form.attrs["action"]
        assert hidden, f"the form of {label!r} has no CSRF field: it fails without JavaScript"
        fields["csrf_token"] = hidden[0]
    return client.post(url, data=fields, headers=headers, follow_redirects=True)


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
    return same_step(client, post(client, "/sign-in/verify", {"code": code},
                                  token=csrf_token(client, "/sign-in/verify"), htmx=htmx),
                     "/sign-in/verify")


# --- reading the database -----------------------------------------------------------

def user_row(app, user_id) -> User:
    with app.app_context():
        user = db.session.get(User, user_id)
        user.authenticators  # noqa: B018 - load the factor rows before detaching
        db.session.expunge(user)
        return user


def email_subjects(outbox, to=EMAIL) -> list[str]:
    return [m.subject for m in outbox.messages("email", to)]


# --- credential changes ------------------------------------------------------------

NEW_PASSWORD = "granite lantern orbit meadow"
#: The authenticator key that set_up() gives an account with the app on.
APP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


# Each change of the password or the two-step set-up, made through the settings
# forms as a person would (or the operator's CLI), checking that it took effect;
# each returns the last reply (the done panel) or None. CHANGES says what the
# account has on first: set_up() puts it so, sign_in_for() signs in to it.

def change_password(client, *, htmx=True, **_):
    r = click(client, "/settings/account", "Change password",
              {"password": PASSWORD, "new_password": NEW_PASSWORD}, htmx=htmx)
    assert "Your password has been changed." in page(r).words
    return r


def turn_sms_on(client, outbox, *, htmx=True, **_):
    r = click(client, "/settings/account", "Set up", htmx=htmx)
    r = click(client, r, "Continue", {"password": PASSWORD}, htmx=htmx)
    r = click(client, r, "Send code", {"phone": PHONE_INPUT}, htmx=htmx)
    r = click(client, r, "Confirm", {"code": last_sms_code(outbox)}, htmx=htmx)
    assert "Two-step verification by SMS is on." in page(r).words
    return r


def change_phone(client, outbox, *, htmx=True, **_):
    r = click(client, "/settings/account", "Change phone number", htmx=htmx)
    r = click(client, r, "Continue", {"password": PASSWORD}, htmx=htmx)
    r = click(client, r, "Send code", {"phone": "+44 7400 654321"}, htmx=htmx)
    r = click(client, r, "Confirm", {"code": last_sms_code(outbox, OTHER_PHONE)}, htmx=htmx)
    assert "Your phone number for two-step verification has been changed." in page(r).words
    return r


def turn_app_on(client, clock, *, htmx=True, **_):
    panel = get_secret_key(client, htmx=htmx)
    r = click(client, panel.response, "Confirm", {"code": oath(panel.secret, clock.now())},
              htmx=htmx)
    assert "Your authenticator app is on." in page(r).words
    return r


def move_app_to_new_key(client, clock, *, htmx=True, **_):
    clock.shift(30)  # past the step the sign-in code used (replay guard)
    panel = get_secret_key(client, htmx=htmx)
    r = click(client, panel.response, "Confirm", {"code": oath(panel.secret, clock.now())},
              htmx=htmx)
    assert "Your authenticator app now uses the new key." in page(r).words
    return r


def turn_app_off(client, *, htmx=True, **_):
    r = click(client, "/settings/account", "Disable authenticator app", htmx=htmx)
    r = click(client, r, "Continue", {"password": PASSWORD}, htmx=htmx)
    assert "Your authenticator app is off." in page(r).words
    return r


def turn_two_step_off(client, *, htmx=True, **_):
    r = click(client, "/settings/account", "Disable two-step verification", htmx=htmx)
    r = click(client, r, "Continue", {"password": PASSWORD}, htmx=htmx)
    assert "Two-step verification is off." in page(r).words
    return r


def operator_reset_2sv(runner, **_):
    result = runner.invoke(args=["users", "reset-2sv", EMAIL, "--yes"])
    assert result.exit_code == 0, result.output


#: change -> what the account has on before it: "" (password only), "sms", "app".
CHANGES = {
    change_password: "",
    turn_sms_on: "",
    change_phone: "sms",
    turn_app_on: "sms",
    move_app_to_new_key: "app",
    turn_app_off: "app",
    turn_two_step_off: "sms",
    operator_reset_2sv: "app",
}


def add_app_key(user_id: int, secret: str, *, last_step: int | None = None) -> None:
    """Add an authenticator-app key that is on (in an app context; the caller commits)."""
    from hubweb.models import Authenticator
    from hubweb.twostep.appcodes import keybox

    now = utcnow()
    db.session.add(Authenticator(user_id=user_id, kind="app", secret=keybox().encrypt(secret),
                                 created_at=now, enabled_at=now, last_step=last_step))


def set_up(app, user_id, before: str) -> None:
    """Turn on, directly in the database, what ``before`` names: "" nothing,
    "sms" SMS 2SV, "app" SMS and the authenticator app (key :data:`APP_SECRET`)."""

    if before:
        set_sms(app, user_id)
    if before == "app":
        with app.app_context():
            add_app_key(user_id, APP_SECRET)
            db.session.commit()


def sign_in_for(client, outbox, clock, before: str) -> None:
    """Sign ``client`` in through every step the set-up ``before`` asks for."""
    if before == "app":
        Auth(client).sign_in()
        clock.shift(30)  # a step of its own: an app code is accepted once
        assert verify(client, oath(APP_SECRET, clock.now())).status_code == 303
    elif before == "sms":
        sign_in_with_sms(client, outbox)
    else:
        Auth(client).sign_in()
    clock.shift(61)  # past every SMS send cooldown
