"""Operator commands: ``users create``, ``users list``, ``sessions purge``."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

import sqlalchemy as sa

from hubweb import passwords
from hubweb.extensions import db
from hubweb.models import User, UserSession
from hubweb.sessions import token_hash
from hubweb.timeutil import utcnow
from tests.support.accounts import PASSWORD, get_user


def users(app) -> list[User]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(User).order_by(User.id)))
        db.session.expunge_all()
        return rows


def create(runner, email: str, password: str = PASSWORD, again: str | None = None):
    typed = f"{password}\n{password if again is None else again}\n"
    return runner.invoke(args=["users", "create", email], input=typed)


# -- users create ---------------------------------------------------------------------------


def test_create_makes_a_confirmed_account(app, runner, client):
    result = create(runner, "Bob.Smith@Example.COM")
    assert result.exit_code == 0, result.output
    (user,) = users(app)
    assert user.email == "Bob.Smith@example.com"  # normalised: domain lower-cased
    assert f"Created account {user.id} for Bob.Smith@example.com." in result.output
    assert user.email_confirmed
    assert PASSWORD not in result.output  # the prompt does not echo it
    with app.app_context():
        assert passwords.verify_password(user.password_hash, PASSWORD)
    # Confirmed: the account signs in at once, without an emailed link.
    page = client.get("/sign-in").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    reply = client.post("/sign-in", data={
        "csrf_token": token, "email": "bob.smith@example.com", "password": PASSWORD})
    assert reply.status_code == 303
    assert client.get("/").status_code == 200


def test_create_asks_for_the_password_twice(app, runner):
    result = create(runner, "bob@example.com", again="something else entirely")
    assert result.exit_code != 0
    assert "do not match" in result.output
    assert users(app) == []


def test_weak_password_is_refused_with_the_policy_message(app, runner):
    result = create(runner, "bob@example.com", password="password1234")
    assert result.exit_code != 0
    assert "This password is too easy to guess." in result.output
    assert users(app) == []


def test_short_password_is_refused(app, runner):
    result = create(runner, "bob@example.com", password="Tr0ub4dor&3")  # 11 characters
    assert result.exit_code != 0
    assert "Use at least 12 characters." in result.output
    assert users(app) == []


def test_duplicate_email_is_refused(app, runner):
    assert create(runner, "bob@example.com").exit_code == 0
    result = create(runner, "BOB@Example.com")
    assert result.exit_code != 0
    assert "already exists" in result.output
    assert len(users(app)) == 1


def test_invalid_email_is_refused(app, runner):
    result = create(runner, "not an email")
    assert result.exit_code != 0
    assert "Error:" in result.output
    assert users(app) == []


# -- users list -----------------------------------------------------------------------------


def test_list_shows_id_email_and_confirmed(app, runner, make_user):
    alice = make_user("alice@example.com")
    carol = make_user("carol@example.com", confirmed=False)
    result = runner.invoke(args=["users", "list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert re.search(r"\bid\b.*\bconfirmed\b.*\bemail\b", lines[0])
    rows = {line.split()[-1]: line.split() for line in lines[1:] if line.strip()}
    assert rows["alice@example.com"][0] == str(alice)
    assert rows["alice@example.com"][1] == "yes"
    assert rows["carol@example.com"][0] == str(carol)
    assert rows["carol@example.com"][1] == "no"
    assert get_user(app, carol).email_confirmed is False


def test_list_with_no_accounts(runner):
    result = runner.invoke(args=["users", "list"])
    assert result.exit_code == 0
    assert len([line for line in result.output.splitlines() if line.strip()]) == 1


# -- sessions purge -------------------------------------------------------------------------


def _session(user_id, state: str, created_ago: timedelta, seen_ago: timedelta) -> UserSession:
    now = utcnow()
    return UserSession(id=token_hash(secrets.token_urlsafe(32)), user_id=user_id, state=state,
                       data="{}", created_at=now - created_ago, last_seen_at=now - seen_ago,
                       ip="127.0.0.1", user_agent="test")


def test_purge_deletes_expired_sessions_only(app, runner, make_user):
    user_id = make_user()
    m, h = timedelta(minutes=1), timedelta(hours=1)
    rows = {
        # kept
        "fresh": _session(user_id, "signed_in", 2 * h, 5 * m),
        "idle almost an hour": _session(user_id, "signed_in", 2 * h, 58 * m),
        "23 hours old, active": _session(user_id, "signed_in", 23 * h, m),
        "pending, 5 minutes": _session(user_id, "pending", 5 * m, 5 * m),
        "anonymous, active": _session(None, "anonymous", 10 * m, m),
        # expired
        "idle over an hour": _session(user_id, "signed_in", 3 * h, 61 * m),
        "older than 24 hours": _session(user_id, "signed_in", 25 * h, m),
        "pending, 11 minutes": _session(user_id, "pending", 11 * m, m),
        "anonymous, idle": _session(None, "anonymous", 3 * h, 2 * h),
    }
    expired = {"idle over an hour", "older than 24 hours", "pending, 11 minutes",
               "anonymous, idle"}
    with app.app_context():
        db.session.add_all(rows.values())
        db.session.commit()
        ids = {name: row.id for name, row in rows.items()}

    result = runner.invoke(args=["sessions", "purge"])
    assert result.exit_code == 0, result.output
    assert f"Deleted {len(expired)} expired sessions." in result.output
    with app.app_context():
        left = set(db.session.scalars(sa.select(UserSession.id)))
    assert left == {ids[name] for name in rows if name not in expired}

    again = runner.invoke(args=["sessions", "purge"])
    assert "Deleted 0 expired sessions." in again.output
