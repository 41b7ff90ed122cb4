"""Fixtures of the browser tests: a live hubweb, Debian's Chromium, and ``portal``.

- ``live_server`` (once per run) and ``live_app`` (per test): werkzeug serving
  on a free loopback port in a background thread, and the app it serves:
  ``create_app`` on a fresh database built by the migrations (a copy of
  ``migrated_db``), with the console mail and SMS backends and ``BASE_URL`` set
  to the server's own origin. Flask-Limiter's per-IP limits are off, because
  every test signs in from 127.0.0.1; every rule of the portal itself (SMS
  cooldown, code lifetimes, throttles) is as in production, so each test uses
  its own accounts and phone numbers.
- ``browser`` (once per run): ``/usr/bin/chromium``, headless, through
  Playwright. Without it the tests are skipped with the reason, except under
  ``CI=true``, where a missing browser is a failure.
- ``portal`` (per test): opens pages (JavaScript on or off) that record
  console errors (a CSP violation is one), uncaught page errors, requests to
  any other origin, and htmx replies that carry a whole page; the test fails
  at teardown if any was seen. It reads emails and SMS on the development
  outbox page, as a developer does, runs axe-core, and takes screenshots when
  ``HUBWEB_SCREENSHOTS=1``.

axe-core comes from the npm registry (``package.json``/``package-lock.json``
here); the first run installs it with ``npm ci --prefix tests/e2e``.

axe is injected with ``page.evaluate(source)``: that runs through the DevTools
protocol, which the page's Content-Security-Policy does not govern, so axe
runs against the real page under its real CSP. ``add_script_tag`` would be
refused by the CSP (inline script), and ``bypass_csp=True`` would switch off
the very policy whose violations these tests look for.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from hubweb import create_app
from hubweb.extensions import db
from tests.support.accounts import PASSWORD
from tests.support.database import fresh_database

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
AXE_JS = HERE / "node_modules" / "axe-core" / "axe.min.js"
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
SCREENSHOTS = os.environ.get("HUBWEB_SCREENSHOTS") == "1"
MAIN_SHOTS = ROOT / "docs" / "screenshots"
STEP_SHOTS = ROOT / "artifacts" / "screenshots"
IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")
#: Replies the portal gives on purpose: a form with errors (422). Chromium logs
#: every 4xx as "Failed to load resource"; other statuses stay errors.
LOAD_FAILED = "Failed to load resource: the server responded with a status of "
EXPECTED_STATUS = re.compile(f"^{LOAD_FAILED}422 ")

_numbers = itertools.count(1)


def _unavailable(reason: str):
    """Skip with ``reason``; under ``CI=true`` fail instead."""
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def live_server():
    """A werkzeug server on ``127.0.0.1:<free port>`` in a background thread.

    Yields ``(origin, slot)``: the server answers with the app in
    ``slot["app"]``, which :func:`live_app` sets for each test.
    """
    slot = {}
    server = make_server("127.0.0.1", 0, lambda env, start: slot["app"](env, start),
                         threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", slot
    server.shutdown()
    thread.join(10)


@pytest.fixture
def live_app(live_server, tmp_path, migrated_db):
    """This test's portal on the live server: ``(origin, app)``, on a fresh database.

    A new app per test, not per run: Flask-Limiter's one ``limiter`` is shared
    by every app of the process, so an app made by another test in between
    would otherwise switch the limits back on under the live server.
    """
    origin, slot = live_server
    config = fresh_database(tmp_path, migrated_db)
    config.update(BASE_URL=origin, MAIL_BACKEND="console", SMS_BACKEND="console",
                  RATELIMIT_ENABLED=False)
    app = slot["app"] = create_app(config)
    yield origin, app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's source, installed from package-lock.json on first use.

    Each xdist worker has its own session, so two may get here at once on a
    fresh clone; ``npm ci`` first deletes node_modules, so one worker could read
    a half-written file while the other installs. An exclusive lock on a file
    beside package.json makes the first install and the others wait.
    """
    with open(HERE / ".npm-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if not AXE_JS.exists():
            npm = shutil.which("npm")
            if npm is None:
                _unavailable("npm is needed to install axe-core (tests/e2e/package-lock.json)")
            done = subprocess.run([npm, "ci", "--prefix", str(HERE), "--no-audit", "--no-fund"],
                                  capture_output=True, text=True, timeout=300)
            if done.returncode != 0:
                _unavailable(f"npm ci --prefix tests/e2e failed: {done.stderr.strip()[-500:]}")
        return AXE_JS.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, with a throwaway profile (Playwright makes one)."""
    if not os.path.exists(CHROMIUM):
        _unavailable(f"{CHROMIUM} is missing (Debian package chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed (requirements-dev.txt)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                     args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class Account:
    """An account of this test: its email, password and (E.164) phone number."""

    email: str
    password: str
    phone: str

    @property
    def phone_input(self) -> str:
        """The number as a person types it: ``+44 7400 1xxxxx``."""
        return f"{self.phone[:3]} {self.phone[3:7]} {self.phone[7:]}"


class Portal:
    """What one test needs: pages, accounts, the outbox, axe and screenshots."""

    def __init__(self, browser, server, axe_source: str, test_name: str):
        self.browser, (self.origin, self.app) = browser, server
        self.axe_source, self.test_name = axe_source, test_name
        self.contexts = []
        self.problems: list[str] = []
        self.fragments: list[tuple[str, int]] = []
        self.checked: list[str] = []
        self._mailbox = None
        self._js_off: set[int] = set()
        #: Statuses a test expects the browser to log as failed loads (besides 422).
        self.expected_statuses: set[int] = set()

    # -- pages -------------------------------------------------------------
    def page(self, js: bool = True):
        """A new page in a fresh browser context (its own cookies), watched."""
        context = self.browser.new_context(base_url=self.origin, viewport=DESKTOP,
                                           java_script_enabled=js)
        context.set_default_timeout(10_000)
        self.contexts.append(context)
        page = context.new_page()
        if not js:
            self._js_off.add(id(page))
        page.on("console", lambda m: self._console(m))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("request", lambda r: self._request(r))
        page.on("response", lambda r: self._response(r))
        return page

    def _console(self, message) -> None:
        expected = EXPECTED_STATUS.match(message.text) or any(
            message.text.startswith(f"{LOAD_FAILED}{status} ")
            for status in self.expected_statuses)
        if message.type == "error" and not expected:
            where = message.location.get("url", "")
            self.problems.append(f"console error at {where}: {message.text}")

    def _request(self, request) -> None:
        url = request.url
        if not (url.startswith(self.origin + "/") or url.startswith("data:")):
            self.problems.append(f"request to another origin: {request.method} {url}")

    def _response(self, response) -> None:
        """htmx replies (``HX-Request``) must be fragments, never a whole page."""
        if response.request.headers.get("hx-request") != "true":
            return
        self.fragments.append((response.url, response.status))
        if 300 <= response.status < 400 or response.headers.get("hx-refresh") == "true":
            return  # no body to swap: htmx reloads the page (the body is gone by then)
        body = response.text().lower()
        if "<html" in body or "<!doctype" in body or "<head" in body or "<body" in body:
            self.problems.append(f"htmx reply with a whole page: {response.url}")

    def close(self) -> None:
        for context in self.contexts:
            context.close()

    # -- accounts ----------------------------------------------------------
    def new_email(self, name: str | None = None) -> str:
        """An address no other test uses: named after the test, or ``name`` (for
        the pictures in README; the caller keeps it unique)."""
        if name:
            return f"{name}@example.com"
        slug = re.sub(r"[^a-z0-9]+", "-", self.test_name.lower()).strip("-")[-40:]
        return f"{slug}-{next(_numbers)}@example.com"

    def new_phone(self) -> str:
        """A valid UK mobile number that no other test uses (send limits are per number)."""
        return f"+4474001{next(_numbers):05d}"

    def account(self, sms: bool = False, name: str | None = None) -> Account:
        """A confirmed account, as ``flask users create`` makes one.

        :param sms: also turn on SMS 2SV, as if set up earlier. Only the
            account's state is written; every code and link of the test comes
            from the outbox page.
        """
        from hubweb import accounts

        acct = Account(self.new_email(name), PASSWORD, self.new_phone())
        with self.app.app_context():
            accounts.create_user(acct.email, acct.password, confirmed=True)
            db.session.commit()
        if sms:
            self.turn_on_sms(acct)
        return acct

    def turn_on_sms(self, acct: Account) -> None:
        """SMS 2SV on for ``acct``, as if set up earlier in this browser's session.

        For flows that start from that state while already signed in, without
        sending a set-up SMS first. The account's signed-in sessions are marked
        as having shown both factors, as the session that sets 2SV up is;
        otherwise the session-factor guard would sign them out.
        """
        import sqlalchemy as sa

        from hubweb.models import User, UserSession
        from tests.support.sms import add_sms

        with self.app.app_context():
            user_id = db.session.scalar(sa.select(User.id).where(User.email == acct.email))
            add_sms(user_id, acct.phone)
            db.session.execute(sa.update(UserSession).where(UserSession.user_id == user_id)
                               .where(UserSession.state == "signed_in").values(factors=2))
            db.session.commit()

    # -- the development outbox ----------------------------------------------
    def _outbox(self):
        if self._mailbox is None:
            self._mailbox = self.page(js=True)
        self._mailbox.goto("/dev/outbox")
        return self._mailbox

    def messages(self, channel: str, to: str) -> list[str]:
        """Bodies of the messages to ``to`` on the outbox page, newest first."""
        page = self._outbox()
        rows = page.locator(f'article.outbox-message[data-channel="{channel}"][data-to="{to}"]')
        return [text for text in rows.locator(".outbox-body").all_inner_texts()]

    def sms_code(self, phone: str) -> str:
        """The code of the newest SMS to ``phone`` (its ``@host #123456`` line)."""
        texts = self.messages("sms", phone)
        assert texts, f"no SMS to {phone} in the outbox"
        host = self.origin.split("//", 1)[1].split(":", 1)[0]
        match = re.search(rf"^@{re.escape(host)} #(\d{{6}})$", texts[0], re.M)
        assert match, texts[0]
        return match.group(1)

    def link(self, email: str) -> str:
        """The path of the link in the newest email to ``email``."""
        texts = self.messages("email", email)
        assert texts, f"no email to {email} in the outbox"
        match = re.search(re.escape(self.origin) + r"(/\S+)", texts[0])
        assert match, texts[0]
        return match.group(1)

    # -- accessibility and pictures -------------------------------------------
    def check(self, page, state: str, shot: str | None = None, main: bool = False) -> None:
        """axe-core on the page as it is now (WCAG 2.1 A and AA); then a screenshot.

        Pages without JavaScript are not checked (axe needs timers, which do not
        run there) and not pictured: they are the same templates that the
        JavaScript runs check, as whole pages and as swapped-in fragments.

        :param state: names the page or swapped-in state in failure messages.
        :param shot: screenshot name (``sign-in`` gives ``sign-in-desktop.png``
            and ``sign-in-phone.png``), written only with ``HUBWEB_SCREENSHOTS=1``.
        :param main: the picture goes to docs/screenshots (README) instead of
            artifacts/screenshots.
        """
        if id(page) in self._js_off:
            return
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.evaluate(self.axe_source)
        violations = page.evaluate(
            """async (options) => {
                const result = await axe.run(document, options);
                return result.violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help, url: v.helpUrl,
                    nodes: v.nodes.map(n => n.target.join(' ') + ': ' + n.failureSummary)}));
            }""",
            AXE_OPTIONS,
        )
        self.checked.append(state)
        if violations:
            lines = [f"axe-core: {len(violations)} WCAG 2.1 A/AA violation(s) in {state} "
                     f"({page.url}):"]
            for v in violations:
                lines.append(f"- {v['id']} ({v['impact']}): {v['help']} <{v['url']}>")
                lines.extend(f"    {node}".replace("\n", "\n      ") for node in v["nodes"])
            pytest.fail("\n".join(lines), pytrace=False)
        if shot:
            self.screenshot(page, shot, main)

    def screenshot(self, page, name: str, main: bool = False) -> None:
        """Full-page pictures at 1280x800 and 390x844 (only with HUBWEB_SCREENSHOTS=1)."""
        if not SCREENSHOTS:
            return
        folder = MAIN_SHOTS if main else STEP_SHOTS
        folder.mkdir(parents=True, exist_ok=True)
        size = page.viewport_size
        for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(viewport)
            # Let Chromium lay out and paint at the new size first, else parts
            # of a full-page picture come out blank.
            page.evaluate("() => new Promise(done => requestAnimationFrame("
                          "() => requestAnimationFrame(done)))")
            # caret="initial": hiding the caret leaves style="" on inputs, which
            # htmx's settle step then copies, and the CSP refuses (a false alarm).
            page.screenshot(path=str(folder / f"{name}-{label}.png"), full_page=True,
                            animations="disabled", caret="initial")
        page.set_viewport_size(size)


@pytest.fixture
def portal(request, browser, live_app, axe_source):
    """The per-test helper; fails the test if a page misbehaved (see module doc)."""
    helper = Portal(browser, live_app, axe_source, request.node.name)
    yield helper
    helper.close()
    assert not helper.problems, "\n".join(helper.problems)


@pytest.fixture(params=[True, False], ids=["js", "nojs"])
def js(request) -> bool:
    """Run a flow with JavaScript on (htmx swaps) and off (plain forms)."""
    return request.param
