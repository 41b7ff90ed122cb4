"""SMS budgets: ordinary use never meets an SMS limit, abuse still does.

The limits (hubweb.twostep.sendlimits): codes to the verified number and
set-up/change-of-number claims have separate budgets; resends wait 60 s, 2 min,
then 5 min; 10 sends per budget an hour and 20 per account a day; 5 claims an
hour and 10 a day on one number from all accounts.
"""

from __future__ import annotations

from hubweb.extensions import db
from hubweb.models import User
from hubweb.twostep import smscodes
from tests.support.accounts import PASSWORD, csrf_token
from tests.support.authenticator import click, enable_sms, get_secret_key, oath, page, verify
from tests.support.sms import (
    EMAIL,
    OTHER_PHONE,
    PHONE,
    PHONE_INPUT,
    last_sms_code,
    post,
    sms_list,
    start_second_step,
    text,
)

BASE = "/settings/two-step"
STEP = 15  # seconds a person takes to read a text message and type its code
PASSWORDS = [PASSWORD, "tangerine lighthouse ceremony velvet", "orchard pebble saxophone mint"]


def no_wait(response) -> None:
    """A code was sent at once: no error and no wait, only the usual minute
    before "Resend code" ("You can ask for a new code in 1 minute.")."""
    assert response.status_code == 200, text(response)
    body = text(response)
    assert 'role="alert"' not in body and "Wait " not in body, body
    assert "Enter the 6-digit code we sent by text message" in body
    assert countdown(response)["words"] == "You can ask for a new code in 1 minute."


def forgot(client, outbox) -> str:
    post(client, "/forgot-password", {"email": EMAIL},
         token=csrf_token(client, "/forgot-password"))
    return outbox.last_link(EMAIL)


def sign_in(client, password):
    r = post(client, "/sign-in", {"email": EMAIL, "password": password},
             token=csrf_token(client, "/sign-in"))
    assert r.status_code == 303, text(r)
    return r.headers["Location"]


def sign_out(client):
    post(client, "/sign-out", token=csrf_token(client, "/"))


def normal_session(client, outbox, clock, password: str, new_password: str) -> list[str]:
    """A normal first session, a step every :data:`STEP` seconds: set-up,
    a sign-in, a sign-in choosing SMS, a password reset, a change of number.

    :return: the purpose of each SMS it caused, in order.
    """
    sent = []

    def one_more(purpose, to=PHONE):
        assert len(sms_list(outbox)) == len(sent) + before + 1, purpose
        assert sms_list(outbox)[0].recipient == to
        sent.append(purpose)

    before = len(sms_list(outbox))
    assert sign_in(client, password) == "/"  # two-step verification is off
    enable_sms(client, outbox, PHONE_INPUT, password)
    one_more("setup")
    sign_out(client)
    clock.shift(STEP)  # the first sign-in within a minute of the set-up: no refusal
    assert sign_in(client, password) == "/sign-in/verify"
    no_wait(client.get("/sign-in/verify"))
    one_more("sign_in")
    assert verify(client, last_sms_code(outbox)).status_code == 303
    clock.shift(STEP)
    panel = get_secret_key(client, password)
    r = click(client, panel.response, "Confirm", {"code": oath(panel.secret, clock.now())})
    assert "Your authenticator app is on." in text(r)
    secret = panel.secret
    sign_out(client)
    clock.shift(STEP)
    sign_in(client, password)
    r = click(client, "/sign-in/verify", "Use SMS")
    no_wait(r)
    one_more("sign_in")
    assert verify(client, last_sms_code(outbox)).status_code == 303
    sign_out(client)
    clock.shift(STEP)
    link = forgot(client, outbox)
    no_wait(click(client, client.get(link), "Use SMS"))
    one_more("recovery")
    r = post(client, link, {"code": last_sms_code(outbox)}, token=csrf_token(client, link))
    assert r.status_code == 303
    r = post(client, link, {"new_password": new_password}, token=csrf_token(client, link))
    assert r.headers["Location"] == "/sign-in"
    clock.shift(STEP)
    sign_in(client, new_password)
    assert verify(client, oath(secret, clock.now())).status_code == 303
    clock.shift(STEP)
    token = csrf_token(client, "/settings/account")
    for step, data in [("start", {}), ("password", {"password": new_password}),
                       ("phone", {"phone": "+44 7400 654321"})]:
        r = post(client, f"{BASE}/phone/{step}", data, token=token, htmx=True)
        assert r.status_code == 200, (step, text(r))
    one_more("change_phone", OTHER_PHONE)
    r = post(client, f"{BASE}/phone/code", {"code": last_sms_code(outbox, OTHER_PHONE)},
             token=token, htmx=True)
    assert "Your phone number for two-step verification has been changed." in text(r)
    return sent


def turn_two_step_off(client, password) -> None:
    token = csrf_token(client, "/settings/account")
    post(client, f"{BASE}/disable/start", token=token, htmx=True)
    r = post(client, f"{BASE}/disable/password", {"password": password}, token=token, htmx=True)
    assert "Two-step verification is off." in text(r)


def test_the_normal_session_twice_within_an_hour_is_never_refused(app, client, make_user,
                                                                   outbox, clock):
    make_user()
    start = clock.now()
    first = normal_session(client, outbox, clock, PASSWORDS[0], PASSWORDS[1])
    # The same person at once does it all again (2SV off, then set up anew).
    turn_two_step_off(client, PASSWORDS[1])
    sign_out(client)
    second = normal_session(client, outbox, clock, PASSWORDS[1], PASSWORDS[2])
    assert first == second == ["setup", "sign_in", "sign_in", "recovery", "change_phone"]
    assert len(sms_list(outbox)) == 10
    assert clock.now() - start < 3600


def test_the_first_sign_in_right_after_set_up_gets_its_code(app, client, make_user, outbox,
                                                            clock):
    """No error the person did not cause: no "Wait 36 seconds" above "We have
    not sent a code yet"."""
    make_user()
    sign_in(client, PASSWORD)
    enable_sms(client, outbox)
    sign_out(client)
    clock.shift(24)
    sign_in(client, PASSWORD)
    r = client.get("/sign-in/verify")
    no_wait(r)
    assert [m.recipient for m in sms_list(outbox)] == [PHONE, PHONE]


# --- the wait, said calmly -------------------------------------------------------------


def countdown(response) -> dict:
    """The wait line's data attributes, and the button it holds back."""
    doc = page(response)
    [line] = [e for e in doc.find("p") if "data-countdown" in e.attrs]
    button = doc.by_id(line.attrs["data-countdown-button"])
    return {"seconds": int(line.attrs["data-countdown"]), "words": line.words,
            "role": line.attrs.get("role"), "text": line.attrs["data-countdown-text"],
            "done": line.attrs["data-countdown-done"], "button": button.words,
            "described": button.attrs.get("aria-describedby") == line.attrs["id"]}


def test_a_wait_is_said_calmly_beside_the_button_it_holds(app, with_sms, outbox, clock):
    """Another browser's sign-in code went out 20 s ago: this second step says
    when a code can be sent, as a status (not an error), and the page carries
    what a countdown needs; the server still holds the send back."""
    start_second_step(app.test_client())
    clock.shift(20)
    client = app.test_client()
    token = start_second_step(client)
    r = client.get("/sign-in/verify")
    assert r.status_code == 200 and 'role="alert"' not in text(r)
    assert countdown(r) == {
        "seconds": 40, "role": "status", "button": "Send code", "described": True,
        "words": "A code was sent a moment ago. Wait 40 seconds before asking for another.",
        "text": "A code was sent a moment ago. Wait {wait} before asking for another.",
        "done": 'You can choose "Send code" now.'}
    assert "when the wait below is over" in text(r)
    clock.shift(39)
    r = post(client, "/sign-in/verify/resend", token=token, htmx=True)
    assert r.status_code == 429 and r.headers["Retry-After"] == "1"
    assert countdown(r)["seconds"] == 1 and 'role="alert"' not in text(r)
    clock.shift(1)
    r = post(client, "/sign-in/verify/resend", token=token, htmx=True)
    assert r.status_code == 200 and len(sms_list(outbox)) == 2
    # The code is on its way; it is the number's 2nd unentered code in a row, so
    # "Resend code" waits 2 minutes, said as a time, not as a refusal.
    assert countdown(r) | {"text": None} == {
        "seconds": 120, "role": "status", "button": "Resend code", "described": True,
        "words": "You can ask for a new code in 2 minutes.", "text": None,
        "done": 'You can choose "Resend code" now.'}


def test_units_for_the_countdown_come_from_the_page(app, client, with_sms, outbox, clock):
    start_second_step(client)
    html = client.get("/sign-in/verify").get_data(as_text=True)
    assert "&#34;second&#34;: &#34;1 second&#34;, &#34;seconds&#34;: &#34;{count} seconds" in html
    assert 'data-countdown-minutes-up-to="7200"' in html


# --- floods ---------------------------------------------------------------------------


def flood(app, outbox, clock, user_id, phones, purpose, seconds, *, enter_codes=False):
    """Ask for codes as fast as the limits let, for ``seconds``: after each
    refusal wait exactly what it says. With ``enter_codes`` every code is also
    entered right at once (someone who holds the number, e.g. a pumper's own).

    :return: ``(seconds after the start of each send, refusals as (problem, wait))``.
    """
    start, sent, refused = clock.now(), [], []
    with app.test_request_context():
        user = db.session.get(User, user_id)
        while (at := clock.now() - start) < seconds:
            phone = phones[len(sent) % len(phones)]
            result = smscodes.send_code(user, phone, purpose)
            if not result.ok:
                refused.append((result.problem, result.wait))
                clock.shift(result.wait)
                continue
            sent.append(round(at))
            if enter_codes:
                assert smscodes.check_code(user, phone, purpose,
                                           last_sms_code(outbox, phone)).ok
                db.session.commit()
    return sent, refused


def test_a_flood_of_resends_is_held_to_ten_an_hour(app, with_sms, outbox, clock):
    sent, refused = flood(app, outbox, clock, with_sms, [PHONE], "sign_in", 3600)
    assert sent == [0, 60, 180, 480, 780, 1080, 1380, 1680, 1980, 2280]
    assert refused[-1] == (smscodes.Problem.ACCOUNT_LIMIT, 3600 - 2280)
    # The recovery codes share the budget of the verified number.
    with app.test_request_context():
        clock.shift(-1)
        user = db.session.get(User, with_sms)
        assert smscodes.send_limit(user, PHONE, "recovery").problem is (
            smscodes.Problem.ACCOUNT_LIMIT)


def test_codes_entered_right_are_capped_at_twenty_a_day(app, with_sms, outbox, clock):
    """A pumper who holds the number enters every code: no cooldown then, but
    10 an hour per budget and 20 a day per account."""
    sent, refused = flood(app, outbox, clock, with_sms, [PHONE], "sign_in", 2 * 86400,
                          enter_codes=True)
    assert sent == [0] * 10 + [3600] * 10 + [86400] * 10 + [86400 + 3600] * 10
    problems = {problem for problem, _ in refused}
    assert problems == {smscodes.Problem.ACCOUNT_LIMIT}
    assert (smscodes.Problem.ACCOUNT_LIMIT, 86400 - 3600) in refused  # the daily ceiling
    result = smscodes.Result(smscodes.Problem.ACCOUNT_LIMIT, 86400 - 3600)
    assert result.message == (
        "Too many codes were sent to this account. Wait 23 hours and try again.")


def test_claims_to_many_numbers_from_one_account_are_held(app, make_user, outbox, clock):
    """SMS pumping through set-up: one account asking for set-up codes to a
    different (premium-rate) number each time."""
    user_id = make_user()
    numbers = [f"+4474009{i:05d}" for i in range(40)]
    sent, _ = flood(app, outbox, clock, user_id, numbers, "setup", 86400)
    assert len(sent) == 20 and sent[:4] == [0, 60, 180, 480]
    assert len([s for s in sent if s < 3600]) == 10


def test_claims_on_one_number_from_many_accounts_are_held(app, make_user, clock):
    """Flooding someone's number with set-up codes from many accounts: 5 an hour, 10 a day."""
    users = [make_user(f"user{i}@example.com") for i in range(12)]
    times = []
    start = clock.now()
    with app.test_request_context():
        for user_id in users:
            user = db.session.get(User, user_id)
            while not (result := smscodes.send_code(user, PHONE, "setup")).ok:
                assert result.problem is smscodes.Problem.PHONE_LIMIT
                clock.shift(result.wait)
            times.append(round(clock.now() - start))
    assert times == [0] * 5 + [3600] * 5 + [86400] * 2
