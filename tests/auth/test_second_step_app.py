"""Authenticator app codes, verification side: app codes at sign-in and in recovery, the window,
the clock-drift hint, replay (also under parallel submission, on SQLite and
PostgreSQL), the shared failure counter and the method selector.

Time is frozen mid-step (:class:`tests.support.clock.Clock`) and oathtool computes the
codes for the frozen instant, so "one step off" is exact.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from hubweb import accounts, create_app
from hubweb.auth.forms import answer_form
from hubweb.extensions import db
from hubweb.models import User
from hubweb.twostep import appcodes, factors
from hubweb.twostep.keys import new_secret
from hubweb.twostep.smscodes import Problem
from tests.support.accounts import PASSWORD, Auth, csrf_token
from tests.support.authenticator import (
    APP_SECRET,
    EMAIL,
    PHONE,
    add_app_key,
    click,
    enable_sms,
    is_fragment,
    last_sms_code,
    oath,
    page,
    post,
    same_step,
    user_row,
    verify,
    wrong_code,
)
from tests.support.database import base_config
from tests.support.sms import add_sms

WRONG = "That code is not right. Check it and try again."
REPLAYED = "That code was already used. Wait for your app to show a new code."
APP_PROMPT = "Enter the 6-digit code that your authenticator app shows for this account."
SMS_PROMPT = "Enter the 6-digit code we sent by text message to"



@pytest.fixture
def signed_in_halfway(client, auth, with_sms_and_app):
    """Both methods on; the password was given (pending)."""
    assert auth.sign_in().headers["Location"] == "/sign-in/verify"
    return with_sms_and_app, APP_SECRET


def drift(text):
    return f"your device's clock seems to be about {text}."


# --- the window and the clock-drift hint --------------------------------------------

@pytest.mark.parametrize("offset", [-30, 0, 30])
def test_current_step_and_one_either_side_sign_in(app, client, signed_in_halfway, clock,
                                                  offset):
    uid, secret = signed_in_halfway
    r = verify(client, oath(secret, clock.now() + offset))
    assert r.status_code == 303 and r.headers["Location"] == "/"
    assert client.get("/settings/account").status_code == 200
    assert user_row(app, uid).totp_last_step == int(clock.now() + offset) // 30


@pytest.mark.parametrize(("offset", "message"), [
    (-60, drift("1 minute behind")),
    (60, drift("1 minute ahead")),
    (300, drift("5 minutes ahead")),
    (-300, drift("5 minutes behind")),
    (600, drift("10 minutes ahead")),
    (150, drift("3 minutes ahead")),  # 2.5 minutes, rounded half up
    (-270, drift("5 minutes behind")),  # 4.5 minutes
    (660, WRONG),
    (-660, WRONG),
])
def test_codes_outside_the_window_are_refused_and_counted(app, client, signed_in_halfway,
                                                          clock, offset, message):
    uid, secret = signed_in_halfway
    r = verify(client, oath(secret, clock.now() + offset))
    assert r.status_code == 422
    words = page(r).words
    assert message in words
    if message != WRONG:
        assert "Set the device's date and time to update automatically" in words
    assert user_row(app, uid).factor_failures == 1
    assert client.get("/settings/account").headers["Location"] == "/sign-in/verify"
    # The right code still works, and resets the count.
    assert verify(client, oath(secret, clock.now())).status_code == 303
    assert user_row(app, uid).factor_failures == 0


def test_input_rules_apply_to_app_codes(client, auth, signed_in_halfway, clock):
    _, secret = signed_in_halfway
    to_full_width = str.maketrans("0123456789", "０１２３４５６７８９")
    for shape in (lambda c: f" {c[:3]} {c[3:]} ", lambda c: f"{c[:3]}\u00a0{c[3:]}",
                  lambda c: c.translate(to_full_width), lambda c: f"\t{c}\u202f"):
        code = oath(secret, clock.now())
        r = verify(client, shape(code))
        assert r.status_code == 303, (shape(code), page(r).words)
        auth.sign_out()
        clock.shift(30)
        auth.sign_in()
    for bad in ("12345", "1234567", "12a456", "123-456"):
        r = verify(client, bad)
        assert r.status_code == 422 and "Enter the 6-digit code." in page(r).words


def test_app_and_sms_failures_share_the_account_counter(app, client, signed_in_halfway,
                                                        outbox, clock):
    uid, secret = signed_in_halfway
    r = click(client, "/sign-in/verify", "Use SMS")
    sms = last_sms_code(outbox, PHONE)
    not_sms = f"{(int(sms) + 1) % 1000000:06d}"
    for n in (1, 2, 3):
        r = verify(client, not_sms)
        assert r.status_code == 422 and WRONG in page(r).words
        assert user_row(app, uid).factor_failures == n
    r = click(client, r, "Use authenticator app")
    assert APP_PROMPT in page(r).words
    r = verify(client, wrong_code(secret, clock.now()))
    assert r.status_code == 422 and user_row(app, uid).factor_failures == 4
    r = verify(client, wrong_code(secret, clock.now()))
    assert r.status_code == 429 and user_row(app, uid).factor_failures == 5
    # Throttled: even the right code waits.
    r = verify(client, oath(secret, clock.now()))
    assert r.status_code == 429
    assert "Too many wrong codes. Wait 1 minute before trying again." in page(r).words
    clock.shift(61)
    assert verify(client, oath(secret, clock.now())).status_code == 303
    assert user_row(app, uid).factor_failures == 0


# --- replay -------------------------------------------------------------------------

def test_no_code_is_accepted_twice(app, client, auth, signed_in_halfway, clock, outbox):
    uid, secret = signed_in_halfway
    code = oath(secret, clock.now() + 30)  # the next step
    assert verify(client, code).status_code == 303
    auth.sign_out()
    auth.sign_in()
    r = verify(client, code)
    assert r.status_code == 422 and REPLAYED in page(r).words
    # An earlier step (still inside the window) is refused too: steps only go forward.
    r = verify(client, oath(secret, clock.now()))
    assert r.status_code == 422 and REPLAYED in page(r).words
    assert user_row(app, uid).factor_failures == 2
    # ...and so is the used code in password recovery.
    sign_out_halfway(client)
    link = forgot(client, outbox)
    r = same_step(client, post(client, link, {"code": code}, token=csrf_token(client, link)),
                  link)
    assert r.status_code == 422 and REPLAYED in page(r).words
    clock.shift(30)
    assert verify_after_sign_in(client, auth, oath(secret, clock.now() + 30)) == 303


def sign_out_halfway(client):
    """ "Sign out" from the second step (the home page is out of reach there)."""
    r = client.post("/sign-out", data={"csrf_token": csrf_token(client, "/sign-in/verify")})
    assert r.status_code == 303


def verify_after_sign_in(client, auth, code):
    auth.sign_in()
    return verify(client, code).status_code


def arm(app, email=EMAIL) -> tuple[int, str]:
    """An account with both methods on, straight in the database (for the races)."""
    secret = new_secret()
    with app.app_context():
        user = accounts.create_user(email, PASSWORD, confirmed=True)
        add_sms(user.id, PHONE)
        add_app_key(user.id, secret)
        db.session.commit()
        return user.id, secret


def race(app, uid, code, n=2) -> list:
    """``n`` threads submit ``code`` at once, each in its own app context."""
    barrier = threading.Barrier(n, timeout=10)
    outcomes: list = [None] * n

    def submit(i):
        try:
            with app.app_context():
                user = db.session.get(User, uid)
                barrier.wait()
                result = appcodes.check_code(user, code)
                if result.ok:
                    db.session.commit()
                outcomes[i] = result.problem
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            outcomes[i] = exc

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes


def check_races(app, clock, rounds=20):
    uid, secret = arm(app)
    for _ in range(rounds):
        clock.shift(30)
        outcomes = race(app, uid, oath(secret, clock.now()))
        assert sorted(outcomes, key=str) == [None, Problem.REPLAYED], outcomes
    with app.app_context():
        assert db.session.get(User, uid).totp_last_step == int(clock.now()) // 30


def test_parallel_submissions_sqlite(app, clock):
    check_races(app, clock)


@pytest.fixture
def pg_app(tmp_path, pg_database):
    """An app on a fresh PostgreSQL database built by the real migrations."""
    from flask_migrate import upgrade

    app = create_app({**base_config(tmp_path, tmp_path / "unused.sqlite3"),
                      "DATABASE_URL": pg_database})
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.mark.postgres
def test_parallel_submissions_postgresql(pg_app, clock):
    assert pg_app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")
    check_races(pg_app, clock)


# --- sign-in: the method selector ---------------------------------------------------

def test_sign_in_asks_for_the_app_and_switches_to_sms(app, client, signed_in_halfway,
                                                      outbox, clock):
    uid, secret = signed_in_halfway
    sent = len(outbox.messages("sms"))
    for _ in range(2):  # a reload sends nothing either
        r = client.get("/sign-in/verify")
        doc = page(r)
        assert APP_PROMPT in doc.words and "Use SMS" in doc.words
        assert not doc.buttons("Resend code") and not doc.buttons("Use authenticator app")
        assert doc.button("Use SMS").attrs == {"type": "submit", "form": "method-form",
                                               "name": "method", "value": "sms"}
        assert doc.action_of("Use SMS") == "/sign-in/verify/method"
        code = doc.find("input", name="code")[0].attrs
        assert code["type"] == "text" and code["autocomplete"] == "one-time-code"
    assert len(outbox.messages("sms")) == sent

    r = click(client, r, "Use SMS")
    assert r.status_code == 200 and is_fragment(r)
    doc = page(r)
    assert doc.by_id("second-step") is not None and SMS_PROMPT in doc.words
    assert doc.button("Use authenticator app").form.attrs["hx-target"] == "#second-step"
    assert doc.buttons("Resend code")
    assert len(outbox.messages("sms")) == sent + 1
    assert outbox.messages("sms")[0].recipient == PHONE

    r = click(client, r, "Use authenticator app")
    assert is_fragment(r) and APP_PROMPT in page(r).words
    r = click(client, r, "Use SMS")  # back to SMS: the code already sent still counts
    assert SMS_PROMPT in page(r).words
    r = click(client, r, "Use authenticator app", htmx=False)
    assert "<html" in r.get_data(as_text=True) and APP_PROMPT in page(r).words
    r = click(client, r, "Use SMS", htmx=False)
    assert "<html" in r.get_data(as_text=True) and SMS_PROMPT in page(r).words
    assert len(outbox.messages("sms")) == sent + 1
    assert SMS_PROMPT in page(client.get("/sign-in/verify")).words  # the choice is kept

    for method in ("email", "", "APP"):
        r = post(client, "/sign-in/verify/method", {"method": method},
                 token=csrf_token(client, "/sign-in/verify"), htmx=True)
        assert r.status_code == 422 and "Choose the authenticator app or SMS." in page(r).words
    r = verify(client, last_sms_code(outbox, PHONE))
    assert r.status_code == 303 and r.headers["Location"] == "/"


def test_use_sms_while_sending_is_held_says_so_in_the_status(app, client, signed_in_halfway,
                                                           outbox, clock):
    """"Use SMS" switches, but when the account's 60-second cooldown holds the
    code back, the reply is a 429 with Retry-After, as "Resend code" is."""
    r = click(client, "/sign-in/verify", "Use SMS")  # sends a code
    assert r.status_code == 200 and SMS_PROMPT in page(r).words
    sent = len(outbox.messages("sms"))
    clock.shift(20)
    other = app.test_client()  # another browser: a second step of its own
    assert Auth(other).sign_in().headers["Location"] == "/sign-in/verify"
    r = click(other, "/sign-in/verify", "Use SMS")
    assert r.status_code == 429 and r.headers["Retry-After"] == "40"
    assert "Wait 40 seconds" in page(r).words
    assert len(outbox.messages("sms")) == sent


def test_a_code_is_checked_by_the_method_its_form_showed(app, client, signed_in_halfway,
                                                         outbox, clock):
    """Two tabs: the first shows the SMS step and gets a code; the second
    switches to the app. The SMS code then typed in the first tab is checked
    as an SMS code (the form says which method it showed), not refused as a
    wrong app code."""
    r = click(client, "/sign-in/verify", "Use SMS")  # tab 1: the SMS step, a code sent
    assert page(r).find("input", name="method")[0].attrs["value"] == "sms"
    token = csrf_token(client, "/sign-in/verify")
    click(client, "/sign-in/verify", "Use authenticator app")  # tab 2
    r = post(client, "/sign-in/verify", {"code": last_sms_code(outbox, PHONE), "method": "sms"},
             token=token)
    assert r.status_code == 303 and r.headers["Location"] == "/"


def test_a_method_the_account_lacks_is_ignored_at_code_entry(client, signed_in_halfway,
                                                             clock):
    """A forged ``method`` cannot pick a factor the account does not have: the
    code is checked by the chosen one."""
    _, secret = signed_in_halfway
    r = post(client, "/sign-in/verify", {"code": oath(secret, clock.now()), "method": "email"},
             token=csrf_token(client, "/sign-in/verify"))
    assert r.status_code == 303 and r.headers["Location"] == "/"


def test_sign_in_with_the_app_after_switching_back(client, signed_in_halfway, clock):
    _, secret = signed_in_halfway
    r = click(client, "/sign-in/verify", "Use SMS")
    r = click(client, r, "Use authenticator app")
    assert verify(client, oath(secret, clock.now())).status_code == 303


def test_sms_only_is_unchanged(app, client, auth, make_user, outbox, clock):
    make_user()
    auth.sign_in()
    enable_sms(client, outbox)
    auth.sign_out()
    clock.shift(61)
    sent = len(outbox.messages("sms"))
    auth.sign_in()
    for _ in range(2):
        doc = page(client.get("/sign-in/verify"))
        assert SMS_PROMPT in doc.words and doc.buttons("Resend code")
        assert not doc.buttons("Use SMS") and not doc.buttons("Use authenticator app")
        assert len(outbox.messages("sms")) == sent + 1
    r = post(client, "/sign-in/verify/method", {"method": "app"},
             token=csrf_token(client, "/sign-in/verify"), htmx=True)
    assert r.status_code == 422
    assert SMS_PROMPT in page(client.get("/sign-in/verify")).words
    assert verify(client, last_sms_code(outbox)).status_code == 303


# --- recovery: the same choice ------------------------------------------------------

def forgot(client, outbox, email=EMAIL) -> str:
    """Ask for a reset link; return its path."""
    r = post(client, "/forgot-password", {"email": email},
             token=csrf_token(client, "/forgot-password"))
    assert r.status_code == 200
    return outbox.last_link(email)


def new_password_form(response) -> bool:
    return bool(page(response).find("input", name="new_password"))


def test_recovery_offers_the_same_choice(app, client, signed_in_halfway, outbox, clock):
    _, secret = signed_in_halfway
    sign_out_halfway(client)
    link = forgot(client, outbox)
    sent = len(outbox.messages("sms"))
    r = client.get(link)
    doc = page(r)
    assert r.status_code == 200 and APP_PROMPT in doc.words and not new_password_form(r)
    assert doc.action_of("Use SMS") == f"{link}/method"
    assert len(outbox.messages("sms")) == sent

    r = click(client, r, "Use SMS")
    assert is_fragment(r) and SMS_PROMPT in page(r).words
    assert page(r).by_id("second-step") is not None
    assert len(outbox.messages("sms")) == sent + 1
    r = click(client, r, "Use authenticator app")
    assert APP_PROMPT in page(r).words
    r = click(client, r, "Use SMS", htmx=False)
    assert SMS_PROMPT in page(r).words and "<html" in r.get_data(as_text=True)
    assert len(outbox.messages("sms")) == sent + 1
    r = same_step(client, post(client, f"{link}/method", {"method": "email"},
                               token=csrf_token(client, link)), link)
    assert r.status_code == 422
    r = click(client, client.get(link), "Use authenticator app")
    r = post(client, link, {"code": oath(secret, clock.now())}, token=csrf_token(client, link))
    assert r.headers["Location"] == link
    assert new_password_form(client.get(link))


def test_recovery_by_sms_after_switching(app, client, signed_in_halfway, outbox):
    sign_out_halfway(client)
    link = forgot(client, outbox)
    click(client, client.get(link), "Use SMS")
    r = post(client, link, {"code": last_sms_code(outbox, PHONE)},
             token=csrf_token(client, link))
    assert r.headers["Location"] == link
    assert new_password_form(client.get(link))


def test_recovery_right_code_redirects_with_303(client, signed_in_halfway, outbox, clock):
    _, secret = signed_in_halfway
    sign_out_halfway(client)
    link = forgot(client, outbox)
    r = post(client, link, {"code": oath(secret, clock.now())}, token=csrf_token(client, link))
    assert r.status_code == 303 and r.headers["Location"] == link


def test_recovery_with_sms_only_has_no_choice(app, client, auth, make_user, outbox, clock):
    make_user()
    auth.sign_in()
    enable_sms(client, outbox)
    auth.sign_out()
    clock.shift(61)
    link = forgot(client, outbox)
    sent = len(outbox.messages("sms"))
    doc = page(client.get(link))
    assert SMS_PROMPT in doc.words and not doc.buttons("Use authenticator app")
    assert not doc.buttons("Use SMS") and len(outbox.messages("sms")) == sent + 1
    r = same_step(client, post(client, f"{link}/method", {"method": "app"},
                               token=csrf_token(client, link)), link)
    assert r.status_code == 422



def test_the_answer_field_is_the_one_the_factor_declares(app):
    """The second step reads a factor's answer by the field it names: SMS and the
    app ``code`` (numeric keyboard); another factor its own field and keyboard."""
    key_like = replace(factors.get("app"), answer_field="credential", numeric=False,
                       answer_missing="Use your security key.", answer_max=4)
    with app.test_request_context(method="POST", data={"credential": "toolong"}):
        app.config["WTF_CSRF_ENABLED"] = False
        form = answer_form(key_like)()
        assert not form.validate() and form.credential.errors == ["Use your security key."]
        assert 'inputmode="text"' in str(form.credential)
        assert answer_form(factors.get("sms")) is answer_form(factors.get("app"))
        assert 'inputmode="numeric"' in str(answer_form(factors.get("sms"))().code)
