"""Sign-up, email confirmation, sign-in, sign-out and password recovery.

Every test drives the real forms through the test client and checks what a
person would see (status, Location, text) and what the database and the
development outbox hold afterwards.
"""

from __future__ import annotations

import random
import re
import string
import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine
from zxcvbn import zxcvbn

from hubweb import create_app, passwords
from hubweb.auth import flows
from hubweb.auth import messages as msg
from hubweb.extensions import db
from hubweb.models import EmailToken, SecurityEvent, User, UserSession
from tests.support.accounts import PASSWORD, Auth, csrf_token, get_user, is_signed_in
from tests.support.pages import HX
from tests.support.pages import decoded as text

STRONG = "plum tractor violet anchor"
NEW_PASSWORD = "granite lantern orbit meadow"
CSRF_RE = re.compile(r'(value=|"X-CSRFToken": )"[A-Za-z0-9._-]{40,}"')


def post(client, path, data, page=None, **kw):
    """POST a form the way a browser does: with the CSRF token of its page."""
    data = {"csrf_token": csrf_token(client, page or path), **data}
    return client.post(path, data=data, **kw)


def register(client, email="alice@example.com", password=PASSWORD, **kw):
    return post(client, "/register", {"email": email, "password": password}, **kw)


def users(app) -> list[User]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(User).order_by(User.id)))
        db.session.expunge_all()
        return rows


def events(app, user_id=None) -> list[str]:
    with app.app_context():
        stmt = sa.select(SecurityEvent.kind).order_by(SecurityEvent.id)
        if user_id is not None:
            stmt = stmt.where(SecurityEvent.user_id == user_id)
        return list(db.session.scalars(stmt))


def session_rows(app, user_id) -> list[UserSession]:
    with app.app_context():
        rows = list(db.session.scalars(
            sa.select(UserSession).where(UserSession.user_id == user_id)))
        db.session.expunge_all()
        return rows


def later(**delta) -> time_machine.travel:
    return time_machine.travel(datetime.now(UTC) + timedelta(**delta), tick=False)


def weak_password_advice(password: str, email: str) -> list[str]:
    context = [email, *email.replace("@", " ").replace(".", " ").split()]
    feedback = zxcvbn(password, user_inputs=context)["feedback"]
    return [s for s in [feedback["warning"], *feedback["suggestions"]] if s]


# --------------------------------------------------------------------------- register


def test_register_page_has_the_contract_fields(client):
    page = client.get("/register")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert re.search(r'<form method="post" action="/register"', body)
    assert re.search(r'<input[^>]*name="email"', body)
    assert re.search(r'<input[^>]*autocomplete="new-password"[^>]*name="password"'
                     r'|<input[^>]*name="password"[^>]*autocomplete="new-password"', body)


def test_register_normalises_the_email_and_sends_a_confirmation(app, client, outbox):
    reply = register(client, "  Alice@Example.COM ")
    assert reply.status_code == 200
    assert "Check your email" in text(reply)
    assert msg.CHECK_EMAIL_CONFIRM.format(email="Alice@example.com") in text(reply)
    [user] = users(app)
    assert user.email == "Alice@example.com"
    assert user.email_key == "alice@example.com"
    assert user.email_confirmed_at is None
    assert user.password_hash.startswith("$argon2id$")
    [mail] = outbox.messages("email")
    assert mail.recipient == "Alice@example.com"
    assert mail.subject == "Confirm your email address"
    assert re.search(r"http://127\.0\.0\.1:5000/confirm-email/[A-Za-z0-9_-]{43}\b", mail.body)
    assert "/confirm-email/" in mail.html
    assert events(app, user.id) == ["account_created"]


@pytest.mark.parametrize("other", ["alice@example.com", "ALICE@EXAMPLE.COM", " aLiCe@example.com"])
def test_email_is_unique_case_insensitively(app, client, outbox, make_user, other):
    make_user("Alice@example.com")
    fresh = register(client, "newcomer@example.com")
    reply = register(client, other)
    # With confirmation on, the visitor sees the same reply as for a new address...
    assert reply.status_code == fresh.status_code == 200
    local, _, domain = other.strip().rpartition("@")
    shown = f"{local}@{domain.lower()}"  # normalised, as for a new address
    assert msg.CHECK_EMAIL_CONFIRM.format(email=shown) in text(reply)

    def same_shape(r, email):
        return CSRF_RE.sub("", text(r)).replace(email, "EMAIL")

    assert same_shape(reply, shown) == same_shape(fresh, "newcomer@example.com")
    # ...the owner is told by email, and no second account exists.
    assert [u.email for u in users(app)] == ["Alice@example.com", "newcomer@example.com"]
    [notice] = outbox.messages("email", to="Alice@example.com")
    assert notice.subject == "Someone tried to create an account with your email"
    assert "/confirm-email/" not in notice.body


@pytest.mark.settings(REQUIRE_EMAIL_CONFIRMATION=False)
def test_without_confirmation_a_taken_email_says_so(app, client, outbox, make_user):
    make_user("alice@example.com")
    reply = register(client, "ALICE@example.com")
    assert reply.status_code == 422
    assert "An account with this email address already exists." in text(reply)
    assert len(users(app)) == 1
    assert outbox.messages("email") == []


@pytest.mark.settings(REQUIRE_EMAIL_CONFIRMATION=False)
def test_without_confirmation_the_account_signs_in_at_once(app, client, outbox):
    reply = register(client, "bob@example.com")
    assert reply.status_code == 303
    assert reply.headers["Location"] == "/sign-in"
    [user] = users(app)
    assert user.email_confirmed_at is not None
    assert outbox.messages("email") == []
    assert msg.ACCOUNT_CREATED in text(client.get("/sign-in"))
    assert Auth(client).sign_in("bob@example.com").headers["Location"] == "/"


@pytest.mark.parametrize(
    ("email", "password", "field", "message"),
    [
        ("", PASSWORD, "email", "Enter your email address."),
        ("   ", PASSWORD, "email", "Enter your email address."),
        ("not-an-email", PASSWORD, "email", "An email address must have an @-sign."),
        ("a@b", PASSWORD, "email", "It should have a period."),
        ("x" * 100_000 + "@example.com", PASSWORD, "email", "That email address is too long."),
        ("alice@example.com", "", "password", "Enter your password."),
        ("alice@example.com", "a" * 11, "password", "Use at least 12 characters."),
        ("alice@example.com", "Zq8#vLm!2pRx", "password", None),  # 12 is enough length
        ("alice@example.com", "x" * 100_000, "password", "That password is too long."),
        ("alice@example.com", "password1234", "password", "This password is too easy to guess."),
        ("alice@example.com", "qwertyuiop12", "password", "This password is too easy to guess."),
        # The email is context for zxcvbn: strong alone, weak for this account.
        ("alice@example.com", "alice@example.com!", "password",
         "This password is too easy to guess."),
    ],
)
def test_register_validation(app, client, outbox, email, password, field, message):
    reply = register(client, email, password)
    if message is None:
        assert reply.status_code == 200
        assert len(users(app)) == 1
        return
    assert reply.status_code == 422
    body = text(reply)
    assert message in body
    assert re.search(rf'id="{field}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="{field}"',
                     reply.get_data(as_text=True))
    assert users(app) == []
    assert outbox.messages() == []


@pytest.mark.parametrize("password", ["password1234", "qwertyuiop12", "alice@example.com!"])
def test_weak_password_shows_zxcvbn_advice(client, password):
    reply = register(client, "alice@example.com", password)
    assert reply.status_code == 422
    advice = weak_password_advice(password, "alice@example.com")
    assert advice, "zxcvbn gives advice for these passwords"
    for line in advice:
        assert line in text(reply)


def test_password_length_limits(app, client):
    strong_128 = "".join(random.Random(7).choices(string.ascii_letters + string.digits, k=128))
    assert register(client, "a@example.com", strong_128[:11]).status_code == 422
    too_long = register(client, "b@example.com", strong_128 + "x")
    assert too_long.status_code == 422
    assert "Use at most 128 characters." in text(too_long)
    assert register(client, "c@example.com", strong_128).status_code == 200
    [user] = users(app)
    assert user.email == "c@example.com"
    with app.app_context():  # stored whole: the 128th character matters
        assert passwords.verify_password(user.password_hash, strong_128)
        assert not passwords.verify_password(user.password_hash, strong_128[:-1])


@pytest.mark.settings(REQUIRE_EMAIL_CONFIRMATION=False)
def test_non_ascii_password_registers_and_signs_in(app, client):
    password = "Ünïcødé-Pässwörd ☃ 日本語のテキスト"
    assert register(client, "uni@example.com", password).status_code == 303
    auth = Auth(client)
    assert auth.sign_in("uni@example.com", password).headers["Location"] == "/"
    assert auth.sign_out().status_code == 303
    # NFKC: the same password typed as decomposed characters still works.
    decomposed = unicodedata.normalize("NFD", password)
    assert decomposed != password
    assert auth.sign_in("uni@example.com", decomposed).headers["Location"] == "/"


def test_register_weak_password_does_not_reveal_a_taken_email(client, make_user):
    make_user("alice@example.com")
    taken = register(client, "alice@example.com", "password1234")
    free = register(client, "nobody@example.com", "password1234")
    assert taken.status_code == free.status_code


def test_signed_in_user_visiting_register_goes_home(client, make_user):
    make_user()
    Auth(client).sign_in()
    reply = client.get("/register")
    assert reply.status_code == 302
    assert reply.headers["Location"] == "/"


# --------------------------------------------------------------------------- confirmation


def test_confirmation_link_get_shows_a_button_post_confirms(app, client, outbox):
    register(client, "carol@example.com")
    link = outbox.last_link(to="carol@example.com")
    page = client.get(link)
    assert page.status_code == 200
    assert "Confirm my email address" in text(page)
    assert re.search(rf'<form method="post" action="{re.escape(link)}"', text(page))
    # A GET (a mail scanner prefetching the link) confirms nothing.
    assert users(app)[0].email_confirmed_at is None

    done = post(client, link, {"password": PASSWORD})
    assert done.status_code == 303
    assert done.headers["Location"] == "/sign-in"
    user = users(app)[0]
    assert user.email_confirmed_at is not None
    assert events(app, user.id) == ["account_created", "email_confirmed"]
    assert msg.CONFIRMED in text(client.get("/sign-in"))
    assert Auth(client).sign_in("carol@example.com").headers["Location"] == "/"


def test_confirmation_link_as_htmx_redirects_with_hx_redirect(app, client, outbox):
    register(client, "carol@example.com")
    link = outbox.last_link(to="carol@example.com")
    token = csrf_token(client, link)
    done = client.post(link, data={"csrf_token": token, "password": PASSWORD}, headers=HX)
    assert done.status_code == 200
    assert done.headers["HX-Redirect"] == "/sign-in"
    assert "HX-Request" in done.headers["Vary"]
    assert users(app)[0].email_confirmed_at is not None


def test_confirmation_link_works_once(client, outbox):
    register(client, "carol@example.com")
    link = outbox.last_link(to="carol@example.com")
    token = csrf_token(client, link)
    assert client.post(link, data={"csrf_token": token, "password": PASSWORD}).status_code == 303
    again_get = client.get(link)
    assert again_get.status_code == 400
    assert msg.LINK_PROBLEMS["used"] in text(again_get)
    again_post = client.post(link, data={"csrf_token": token, "password": PASSWORD})
    assert again_post.status_code == 400
    assert msg.LINK_PROBLEMS["used"] in text(again_post)


def test_confirmation_link_expires_after_24_hours(app, client, outbox):
    register(client, "carol@example.com")
    link = outbox.last_link(to="carol@example.com")
    with later(hours=23, minutes=59):
        assert client.get(link).status_code == 200
    with later(hours=24, seconds=5):
        token = csrf_token(client, "/sign-in")
        for reply in (client.get(link), client.post(link, data={"csrf_token": token})):
            assert reply.status_code == 400
            assert msg.LINK_PROBLEMS["expired"] in text(reply)
    assert users(app)[0].email_confirmed_at is None


@pytest.mark.parametrize("token", ["nonsense", "x" * 43, "x" * 500])
def test_confirmation_link_tampered(client, token):
    reply = client.get(f"/confirm-email/{token}")
    assert reply.status_code == 400
    assert msg.LINK_PROBLEMS["invalid"] in text(reply)


def test_unconfirmed_sign_in_says_so_and_offers_a_new_link(app, client, outbox):
    register(client, "carol@example.com")
    first_link = outbox.last_link(to="carol@example.com")
    reply = Auth(client).sign_in("carol@example.com")
    assert reply.status_code == 422
    assert "Confirm your email address before signing in" in text(reply)
    assert "Send a new link" in text(reply)
    assert '<form method="post" action="/confirm-email/resend">' in text(reply)
    assert not is_signed_in(client)

    sent = post(client, "/confirm-email/resend", {}, page="/sign-in")
    assert sent.status_code == 303
    assert sent.headers["Location"] == "/sign-in"
    assert msg.CONFIRM_SENT in text(client.get("/sign-in"))
    confirm_mails = outbox.messages("email", to="carol@example.com")
    assert len(confirm_mails) == 2
    new_link = outbox.last_link(to="carol@example.com")
    assert new_link != first_link
    # The older link is void; the new one works.
    old = client.get(first_link)
    assert old.status_code == 400
    assert msg.LINK_PROBLEMS["used"] in text(old)
    assert post(client, new_link, {"password": PASSWORD}).status_code == 303
    assert Auth(client).sign_in("carol@example.com").headers["Location"] == "/"


def test_unconfirmed_account_with_wrong_password_gets_the_generic_error(client, outbox):
    register(client, "carol@example.com")
    reply = Auth(client).sign_in("carol@example.com", "wrong password entirely")
    assert reply.status_code == 422
    assert msg.BAD_CREDENTIALS in text(reply)
    assert "Send a new link" not in text(reply)
    # Without the right password, no link can be requested.
    post(client, "/confirm-email/resend", {}, page="/sign-in")
    assert len(outbox.messages("email")) == 1


def test_at_most_three_confirmation_emails_per_hour(app, client, outbox):
    register(client, "carol@example.com")
    Auth(client).sign_in("carol@example.com")
    for _ in range(4):
        post(client, "/confirm-email/resend", {}, page="/sign-in")
    mails = outbox.messages("email", to="carol@example.com")
    assert len(mails) == 3  # the first email and two new links
    assert msg.CONFIRM_LIMIT in text(client.get("/sign-in"))
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(EmailToken)) == 3
    with later(hours=1, minutes=1):
        Auth(client).sign_in("carol@example.com")
        post(client, "/confirm-email/resend", {}, page="/sign-in")
    assert len(outbox.messages("email", to="carol@example.com")) == 4


# --------------------------------------------------------------------------- sign-in


def test_sign_in_page_has_contract_fields(client):
    body = client.get("/sign-in").get_data(as_text=True)
    assert '<form method="post" action="/sign-in"' in body
    assert re.search(r'<input[^>]*name="email"', body)
    assert re.search(r'<input[^>]*autocomplete="current-password"[^>]*name="password"'
                     r'|<input[^>]*name="password"[^>]*autocomplete="current-password"', body)
    assert "Forgot your password?" in body
    assert 'href="/forgot-password"' in body


def test_sign_in_success_creates_a_session_and_event(app, client, make_user):
    uid = make_user()
    reply = Auth(client).sign_in()
    assert reply.status_code == 303
    assert reply.headers["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "alice@example.com" in text(home)
    assert events(app, uid) == ["sign_in"]
    [row] = session_rows(app, uid)
    assert row.state == "signed_in"


def test_sign_in_as_htmx_answers_hx_redirect(client, make_user):
    make_user()
    reply = Auth(client).sign_in(headers=HX)
    assert reply.status_code == 200
    assert reply.headers["HX-Redirect"] == "/"
    assert "Location" not in reply.headers
    assert is_signed_in(client)


def test_wrong_password_and_unknown_email_get_the_same_reply(app, client, make_user):
    uid = make_user("alice@example.com")
    wrong = Auth(client).sign_in("alice@example.com", "not the right password")
    unknown = Auth(client).sign_in("nobody@example.com", "not the right password")
    assert wrong.status_code == unknown.status_code == 422

    def error_block(reply):
        return re.search(r'<div class="alert alert-error".*?</div>', reply.get_data(as_text=True),
                         re.S).group(0)

    assert error_block(wrong) == error_block(unknown)
    assert msg.BAD_CREDENTIALS in error_block(wrong)

    def shape(reply, email):
        return CSRF_RE.sub("", reply.get_data(as_text=True)).replace(email, "EMAIL")

    assert shape(wrong, "alice@example.com") == shape(unknown, "nobody@example.com")
    # The known account records the failed attempt; nothing else is written.
    assert events(app, uid) == ["sign_in_failed"]
    assert events(app) == ["sign_in_failed"]
    assert session_rows(app, uid) == []


def test_unknown_email_is_checked_against_a_dummy_hash(app, client, make_user, monkeypatch):
    """Both failures run one argon2 verification, so they take about the same time."""
    make_user()
    with app.app_context():
        ph = passwords.hasher()
    calls = []
    real_verify = type(ph).verify

    def counting_verify(self, hash_, password):
        calls.append(hash_)
        return real_verify(self, hash_, password)

    monkeypatch.setattr(type(ph), "verify", counting_verify)
    Auth(client).sign_in("nobody@example.com", "not the right password")
    Auth(client).sign_in("alice@example.com", "not the right password")
    assert len(calls) == 2
    assert all(h.startswith("$argon2id$") for h in calls)
    assert calls[0] == app.extensions["hubweb.dummy_hash"]


def test_sign_in_email_is_case_insensitive_and_trimmed(client, make_user):
    make_user("Alice@example.com")
    assert Auth(client).sign_in("  ALICE@EXAMPLE.COM ").headers["Location"] == "/"


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("", PASSWORD, "Enter your email address."),
        ("alice@example.com", "", "Enter your password."),
        ("alice@example.com", "p" * 2000, "That password is too long."),
        ("x" * 400, PASSWORD, "That email address is too long."),
    ],
)
def test_sign_in_validation(client, make_user, email, password, message):
    make_user()
    reply = Auth(client).sign_in(email, password)
    assert reply.status_code == 422
    assert message in text(reply)
    assert not is_signed_in(client)


def test_sign_in_rehashes_when_argon2_parameters_change(app, client, make_user):
    uid = make_user()
    old_hash = get_user(app, uid).password_hash
    assert "t=1," in old_hash
    stronger = create_app({**app.config, "ARGON2_TIME_COST": 2})
    other_client = stronger.test_client()
    assert Auth(other_client).sign_in().headers["Location"] == "/"
    new_hash = get_user(app, uid).password_hash
    assert new_hash != old_hash
    assert new_hash.startswith("$argon2id$")
    assert "t=2," in new_hash
    with stronger.app_context():
        assert passwords.verify_password(new_hash, PASSWORD)
        db.engine.dispose()
    # Same parameters: no rehash on the next sign-in.
    Auth(other_client).sign_out()
    Auth(stronger.test_client()).sign_in()
    assert get_user(app, uid).password_hash == new_hash


def test_default_argon2_parameters_are_rfc9106_low_memory(tmp_path):
    app = create_app({"TESTING": True, "SECRET_KEY": "x",
                      "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
                      "ENCRYPTION_KEYS": ["k2pGmHc1bq2Vb0Ij2d3LhS2Jbm0bXy6Vq8n2d3tqPaE="]})
    with app.app_context():
        ph = passwords.hasher()
        assert (ph.time_cost, ph.memory_cost, ph.parallelism) == (3, 65536, 4)


def test_next_redirect_after_sign_in(client, make_user):
    make_user()
    first = client.get("/settings/account?tab=sessions")
    assert first.status_code == 303
    assert first.headers["Location"] == "/sign-in"
    reply = Auth(client).sign_in()
    assert reply.status_code == 303
    assert reply.headers["Location"] == "/settings/account?tab=sessions"


@pytest.mark.parametrize(
    "target",
    ["//evil.example", "//evil.example/path", "https://evil.example/", "/\\evil.example",
     "\\\\evil.example", "/\t/evil.example", "javascript:alert(1)", "evil.example"],
)
def test_open_redirect_is_refused(client, make_user, target):
    make_user()
    with client.session_transaction() as sess:
        sess["next"] = target
    reply = Auth(client).sign_in()
    assert reply.status_code == 303
    assert reply.headers["Location"] == "/"


def test_next_query_parameter_cannot_redirect_off_site(client, make_user):
    make_user()
    token = csrf_token(client, "/sign-in?next=//evil.example")
    reply = client.post("/sign-in?next=//evil.example",
                        data={"email": "alice@example.com", "password": PASSWORD,
                              "csrf_token": token})
    assert reply.headers["Location"] == "/"


@pytest.mark.parametrize(
    ("target", "expected"),
    [("/settings/account", "/settings/account"), ("/?a=1", "/?a=1"), (None, "/"), ("", "/"),
     ("//evil.example", "/"), ("/\\evil.example", "/"), ("http://evil.example", "/")],
)
def test_safe_next(app, target, expected):
    with app.test_request_context():
        assert flows.safe_next(target) == expected


# --------------------------------------------------------------------------- sign-out


def test_sign_out_is_post_only(client, make_user):
    make_user()
    Auth(client).sign_in()
    reply = client.get("/sign-out")
    assert reply.status_code == 405
    assert "This page does not accept that kind of request." in text(reply)
    assert is_signed_in(client)


def test_sign_out_ends_the_session_and_a_replayed_cookie_is_anonymous(app, client, make_user):
    uid = make_user()
    Auth(client).sign_in()
    stolen = client.get_cookie("hubweb_session").value
    reply = Auth(client).sign_out()
    assert reply.status_code == 303
    assert reply.headers["Location"] == "/sign-in"
    assert msg.SIGNED_OUT in text(client.get("/sign-in"))
    assert session_rows(app, uid) == []
    assert events(app, uid) == ["sign_in", "sign_out"]

    thief = app.test_client()
    thief.set_cookie("hubweb_session", stolen)
    replay = thief.get("/settings/account")
    assert replay.status_code == 303
    assert replay.headers["Location"] == "/sign-in"
    home = thief.get("/")
    assert home.status_code == 302
    assert home.headers["Location"] == "/sign-in"


def test_sign_out_as_htmx(client, make_user):
    make_user()
    Auth(client).sign_in()
    token = csrf_token(client, "/")
    reply = client.post("/sign-out", headers={**HX, "X-CSRFToken": token})
    assert reply.status_code == 200
    assert reply.headers["HX-Redirect"] == "/sign-in"
    assert not is_signed_in(client)


# --------------------------------------------------------------------------- recovery


def forgot(client, email, **kw):
    return post(client, "/forgot-password", {"email": email}, **kw)


def reset_mails(outbox, to="alice@example.com"):
    return [m for m in outbox.messages("email", to=to) if m.subject == "Reset your password"]


def test_forgot_password_same_reply_for_known_and_unknown_email(app, client, make_user, outbox):
    make_user("alice@example.com")
    known = forgot(client, "alice@example.com")
    unknown = forgot(client, "bob@example.com")
    assert known.status_code == unknown.status_code == 200

    def shape(reply, email):
        return CSRF_RE.sub("", reply.get_data(as_text=True)).replace(email, "EMAIL")

    assert shape(known, "alice@example.com") == shape(unknown, "bob@example.com")
    assert msg.RESET_SENT.format(email="bob@example.com") in text(unknown)
    assert dict(known.headers).keys() == dict(unknown.headers).keys()
    [mail] = reset_mails(outbox)
    assert re.search(r"http://127\.0\.0\.1:5000/reset-password/[A-Za-z0-9_-]{43}\b", mail.body)
    assert outbox.messages("email", to="bob@example.com") == []
    assert "reset_requested" in events(app)


def test_forgot_password_validation(client):
    for email, message in [("", "Enter your email address."),
                           ("x" * 400, "That email address is too long.")]:
        reply = forgot(client, email)
        assert reply.status_code == 422
        assert message in text(reply)


def test_at_most_three_reset_emails_per_account_per_hour(app, client, make_user, outbox):
    make_user()
    replies = [forgot(client, "alice@example.com") for _ in range(4)]
    assert {r.status_code for r in replies} == {200}
    assert CSRF_RE.sub("", replies[3].get_data(as_text=True)) == CSRF_RE.sub(
        "", replies[0].get_data(as_text=True))
    assert len(reset_mails(outbox)) == 3
    assert events(app).count("reset_requested") == 3
    with later(hours=1, minutes=1):
        forgot(client, "alice@example.com")
    assert len(reset_mails(outbox)) == 4


def reset(client, link, new_password=NEW_PASSWORD, **kw):
    return post(client, link, {"new_password": new_password}, **kw)


def test_password_reset_full_flow(app, client, make_user, outbox):
    uid = make_user()
    other = app.test_client()  # a second browser, signed in
    Auth(other).sign_in()
    assert is_signed_in(other)
    forgot(client, "alice@example.com")
    link = outbox.last_link(to="alice@example.com")
    page = client.get(link)
    assert page.status_code == 200
    assert "Choose a new password" in text(page)
    assert re.search(r'<input[^>]*autocomplete="new-password"[^>]*name="new_password"'
                     r'|<input[^>]*name="new_password"[^>]*autocomplete="new-password"',
                     page.get_data(as_text=True))
    assert page.headers["Referrer-Policy"] == "no-referrer"

    old_hash = get_user(app, uid).password_hash
    done = reset(client, link)
    assert done.status_code == 303
    assert done.headers["Location"] == "/sign-in"
    assert done.headers["Referrer-Policy"] in ("no-referrer", "same-origin")
    # Not signed in by the reset; every session ended, the other browser's too.
    assert not is_signed_in(client)
    assert not is_signed_in(other)
    assert session_rows(app, uid) == []
    user = get_user(app, uid)
    assert user.password_hash != old_hash
    assert events(app, uid)[-2:] == ["reset_requested", "reset_done"]
    changed = [m for m in outbox.messages("email", to="alice@example.com")
               if m.subject == "Your password was changed"]
    assert len(changed) == 1
    assert msg.RESET_DONE in text(client.get("/sign-in"))
    # The new password works, the old one does not.
    assert Auth(client).sign_in(password=PASSWORD).status_code == 422
    assert Auth(client).sign_in(password=NEW_PASSWORD).headers["Location"] == "/"


def test_reset_link_is_single_use(app, client, make_user, outbox):
    uid = make_user()
    forgot(client, "alice@example.com")
    link = outbox.last_link(to="alice@example.com")
    assert reset(client, link).status_code == 303
    after_first = get_user(app, uid).password_hash
    again = client.get(link)
    assert again.status_code == 400
    assert msg.LINK_PROBLEMS["used"] in text(again)
    token = csrf_token(client, "/sign-in")
    replay = client.post(link, data={"new_password": "another strong passphrase here",
                                     "csrf_token": token})
    # The form sent again after the reset finished goes where the person now is (a
    # step done twice answers with what is now true): signed out, at sign-in, told
    # the password was changed.
    assert replay.status_code == 303 and replay.headers["Location"] == "/sign-in"
    assert msg.RESET_DONE in text(client.get("/sign-in"))
    assert get_user(app, uid).password_hash == after_first
    assert Auth(client).sign_in(password=NEW_PASSWORD).headers["Location"] == "/"


@pytest.mark.parametrize("case", ["used", "voided", "expired", "invalid"])
def test_unusable_reset_link_gets_400_and_a_clear_message(client, make_user, outbox, case):
    make_user()
    forgot(client, "alice@example.com")
    link = outbox.last_link(to="alice@example.com")
    expected = "used"
    if case == "used":
        assert reset(client, link).status_code == 303
    elif case == "voided":
        forgot(client, "alice@example.com")
    elif case == "invalid":
        link, expected = "/reset-password/" + "x" * 43, "invalid"
    travel = later(hours=1, seconds=5) if case == "expired" else later(seconds=0)
    with travel:
        reply = client.get(link)
    assert reply.status_code == 400
    assert msg.LINK_PROBLEMS["expired" if case == "expired" else expected] in text(reply)
    assert reply.headers["Referrer-Policy"] == "no-referrer"


def test_newer_reset_link_voids_the_older(client, make_user, outbox):
    make_user()
    forgot(client, "alice@example.com")
    first = outbox.last_link(to="alice@example.com")
    forgot(client, "alice@example.com")
    second = outbox.last_link(to="alice@example.com")
    assert first != second
    assert client.get(first).status_code == 400
    assert reset(client, first, page="/sign-in").status_code == 400
    assert client.get(second).status_code == 200
    assert reset(client, second).status_code == 303


def test_reset_link_expires_after_one_hour(app, client, make_user, outbox):
    uid = make_user()
    forgot(client, "alice@example.com")
    link = outbox.last_link(to="alice@example.com")
    old_hash = get_user(app, uid).password_hash
    with later(minutes=59):
        assert client.get(link).status_code == 200
    with later(hours=1, seconds=5):
        expired = client.get(link)
        assert expired.status_code == 400
        assert msg.LINK_PROBLEMS["expired"] in text(expired)
        token = csrf_token(client, "/sign-in")
        posted = client.post(link, data={"new_password": NEW_PASSWORD, "csrf_token": token})
        assert posted.status_code == 400
    assert get_user(app, uid).password_hash == old_hash


@pytest.mark.parametrize(
    ("new_password", "message"),
    [("", "Choose a new password."),
     ("a" * 11, "Use at least 12 characters."),
     ("a" * 129, "Use at most 128 characters."),
     ("password1234", "This password is too easy to guess.")],
)
def test_reset_validation_keeps_the_link_usable(app, client, make_user, outbox,
                                                new_password, message):
    uid = make_user()
    forgot(client, "alice@example.com")
    link = outbox.last_link(to="alice@example.com")
    old_hash = get_user(app, uid).password_hash
    reply = reset(client, link, new_password)
    assert reply.status_code == 422
    assert message in text(reply)
    assert reply.headers["Referrer-Policy"] == "no-referrer"
    assert get_user(app, uid).password_hash == old_hash
    assert reset(client, link).status_code == 303


@pytest.mark.settings(BASE_URL="https://portal.example.com", ALLOW_CONSOLE_BACKENDS=True)
def test_reset_link_is_built_from_base_url_not_host(app, make_user, outbox):
    make_user()
    client = app.test_client()
    token = csrf_token_at(client, "/forgot-password", "https://attacker.example")
    reply = client.post("/forgot-password", base_url="https://attacker.example",
                        data={"email": "alice@example.com", "csrf_token": token})
    assert reply.status_code == 200
    [mail] = reset_mails(outbox)
    assert "attacker.example" not in mail.body + mail.html
    assert re.search(r"https://portal\.example\.com/reset-password/[A-Za-z0-9_-]{43}\b",
                     mail.body)


def csrf_token_at(client, path, base_url):
    body = client.get(path, base_url=base_url).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', body).group(1)


@pytest.mark.parametrize("token", ["nonsense", "x" * 500])
def test_reset_link_tampered(client, token):
    reply = client.get(f"/reset-password/{token}")
    assert reply.status_code == 400
    assert msg.LINK_PROBLEMS["invalid"] in text(reply)
    assert reply.headers["Referrer-Policy"] == "no-referrer"


def test_confirming_needs_the_password_of_the_account(app, client, outbox):
    register(client, "carol@example.com")
    link = outbox.last_link(to="carol@example.com")
    wrong = post(client, link, {"password": "not the password at all"})
    assert wrong.status_code == 422
    assert msg.CONFIRM_WRONG_PASSWORD in text(wrong)
    assert users(app)[0].email_confirmed_at is None
    assert client.get(link).status_code == 200  # the link is not used up


def test_registering_first_cannot_hijack_someone_elses_address(app, outbox):
    """An attacker registers the victim's address first (pre-hijacking); the
    victim's own registration must leave the attacker with nothing."""
    attacker, victim = app.test_client(), app.test_client()
    register(attacker, "victim@example.com", "attacker chosen passphrase 1")
    attacker_link = outbox.last_link(to="victim@example.com")
    register(victim, "victim@example.com", PASSWORD)
    victim_link = outbox.last_link(to="victim@example.com")
    assert victim_link != attacker_link
    # The attacker's link is void; even so, it would need the attacker's password.
    assert client_get_status(victim, attacker_link) == 400
    assert post(victim, victim_link, {"password": PASSWORD}).status_code == 303
    assert Auth(attacker).sign_in("victim@example.com",
                                  "attacker chosen passphrase 1").status_code == 422
    assert Auth(victim).sign_in("victim@example.com").headers["Location"] == "/"


def client_get_status(client, path) -> int:
    return client.get(path).status_code


@pytest.mark.settings(RATELIMIT_REGISTER="100 per minute")
def test_taken_email_notices_are_capped_at_three_an_hour(app, client, make_user, outbox):
    make_user("alice@example.com")
    for _ in range(5):
        register(client, "alice@example.com")
    notices = [m for m in outbox.messages("email", to="alice@example.com")
               if m.subject == "Someone tried to create an account with your email"]
    assert len(notices) == 3


def test_wrong_passwords_are_counted_per_account_and_lock_at_100(app, client, make_user, outbox):
    """NIST SP 800-63B 5.2.2: at most 100 consecutive failures per account, across IPs."""
    from hubweb.auth import flows

    uid = make_user()
    with app.test_request_context():
        for _ in range(flows.LOCK_AFTER - 1):
            assert flows.check_password("alice@example.com", "wrong password here") is None
    subjects = [m.subject for m in outbox.messages("email", to="alice@example.com")]
    assert subjects == ["Several failed sign-ins to your account"]  # at 10
    # The 100th wrong password locks; then even the right one gets the generic reply.
    assert Auth(client).sign_in(password="wrong password here").status_code == 422
    locked = Auth(client).sign_in()
    assert locked.status_code == 422
    assert msg.BAD_CREDENTIALS in text(locked)
    assert outbox.messages("email", to="alice@example.com")[0].subject == (
        "Sign-in to your account is locked")
    assert get_user(app, uid).password_failures == flows.LOCK_AFTER + 1
    # A password reset unlocks.
    forgot = post(client, "/forgot-password", {"email": "alice@example.com"},
                  page="/forgot-password")
    assert forgot.status_code == 200
    link = outbox.last_link(to="alice@example.com")
    assert post(client, link, {"new_password": "a new and different passphrase"},
                page=link).status_code == 303
    assert get_user(app, uid).password_failures == 0
    assert Auth(client).sign_in(
        password="a new and different passphrase").headers["Location"] == "/"


def test_a_right_password_resets_the_count(app, client, make_user):
    uid = make_user()
    for _ in range(3):
        Auth(client).sign_in(password="wrong password here")
    assert get_user(app, uid).password_failures == 3
    assert Auth(client).sign_in().headers["Location"] == "/"
    assert get_user(app, uid).password_failures == 0
