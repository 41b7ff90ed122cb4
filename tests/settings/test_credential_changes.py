"""No emailed link outlives a credential change.

Every change of the password (settings or reset) and of the two-step set-up
(SMS on, off, a new number; the app on, off, a new key; the operator's
reset-2sv) raises the account's credential version; a link issued before is
then refused with the usual "This link cannot be used" page, and using it
changes nothing. A link issued after the change works.
"""

from __future__ import annotations

import html

import pytest
import sqlalchemy as sa

from hubweb import accounts, tokens
from hubweb.auth import messages as auth_msg
from hubweb.extensions import db
from hubweb.models import EmailToken, User
from tests.support.accounts import PASSWORD, Auth, csrf_token
from tests.support.authenticator import (
    CHANGES,
    EMAIL,
    NEW_PASSWORD,
    change_phone,
    page,
    set_up,
    sign_in_for,
)
from tests.support.sms import last_sms_code, post, set_sms, sign_in_with_sms, user_row

SUPERSEDED = auth_msg.LINK_PROBLEMS["superseded"]


def request_reset_link(client, outbox) -> str:
    """ "Forgot password" for EMAIL; the path of the link it emails."""
    reply = post(client, "/forgot-password", {"email": EMAIL},
                 token=csrf_token(client, "/forgot-password"))
    assert reply.status_code == 200
    return outbox.last_link(to=EMAIL)


def assert_link_refused(client, link) -> None:
    """The link answers 400 with the page and the reason, on GET and on POST."""
    for reply in (client.get(link),
                  client.post(link, data={"new_password": "violet anchor tractor plum",
                                          "csrf_token": csrf_token(client, "/sign-in")})):
        assert reply.status_code == 400
        words = " ".join(html.unescape(reply.get_data(as_text=True)).split())
        assert "This link cannot be used" in words and SUPERSEDED in words


@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__)
def test_a_reset_link_from_before_the_change_is_refused(app, client, runner, make_user,
                                                        outbox, clock, change):
    uid = make_user()
    set_up(app, uid, CHANGES[change])
    sign_in_for(client, outbox, clock, CHANGES[change])
    stranger = app.test_client()  # whoever holds the mailbox's older email
    old_link = request_reset_link(stranger, outbox)
    version = user_row(app, uid)["credential_version"]

    change(client=client, outbox=outbox, clock=clock, runner=runner)

    after_change = user_row(app, uid)
    assert after_change["credential_version"] == version + 1
    assert_link_refused(stranger, old_link)
    assert user_row(app, uid) == after_change  # nothing changed: password, 2SV, ...
    # A link asked for now works.
    clock.shift(61)
    new_link = request_reset_link(stranger, outbox)
    assert new_link != old_link and stranger.get(new_link).status_code == 200


def test_a_reset_half_done_when_the_phone_changes_sets_no_password(app, client, make_user,
                                                                    outbox, clock):
    """The link opened and its recovery code entered in one browser; the phone
    number changed in another before the new password is chosen."""
    uid = make_user()
    set_sms(app, uid)
    stranger = app.test_client()
    link = request_reset_link(stranger, outbox)
    assert stranger.get(link).status_code == 200  # sends the recovery code
    r = post(stranger, link, {"code": last_sms_code(outbox)}, token=csrf_token(stranger, link))
    assert r.status_code == 303 and r.headers["Location"] == link
    assert "Choose a new password" in page(stranger.get(link)).words

    clock.shift(61)
    sign_in_with_sms(client, outbox)
    clock.shift(61)
    change_phone(client, outbox)
    before = user_row(app, uid)
    assert_link_refused(stranger, link)
    assert user_row(app, uid) == before
    assert Auth(app.test_client()).sign_in(password=NEW_PASSWORD).status_code == 422


@pytest.mark.settings(REQUIRE_EMAIL_CONFIRMATION=True)
def test_a_password_reset_voids_the_confirmation_link(app, client, outbox):
    """An unconfirmed account: the reset (which proves the address) raises the
    version, so the confirmation link sent at registration is refused."""
    post(client, "/register", {"email": EMAIL, "password": PASSWORD},
         token=csrf_token(client, "/register"))
    confirm_link = outbox.last_link(to=EMAIL)
    assert confirm_link.startswith("/confirm-email/")
    reset_link = request_reset_link(client, outbox)
    r = post(client, reset_link, {"new_password": NEW_PASSWORD},
             token=csrf_token(client, reset_link))
    assert r.status_code == 303
    with app.app_context():
        user = db.session.scalar(sa.select(User))
        uid, version = user.id, user.credential_version
    assert version == 1
    before = user_row(app, uid)
    reply = client.post(confirm_link, data={"password": NEW_PASSWORD,
                                            "csrf_token": csrf_token(client, "/sign-in")})
    assert reply.status_code == 400
    assert SUPERSEDED in " ".join(html.unescape(reply.get_data(as_text=True)).split())
    assert user_row(app, uid) == before


def test_a_change_committed_between_lookup_and_use_wins(app, make_user):
    """The version is checked again in the UPDATE that uses the token: a change
    that commits after :func:`tokens.find` still refuses it."""
    uid = make_user()
    with app.test_request_context():
        user = db.session.get(User, uid)
        raw = tokens.issue(user, "reset")
        db.session.commit()
        found, problem = tokens.find(raw, "reset")
        assert problem is None
        # Another request changes the password and commits, on its own connection.
        with db.engine.begin() as conn:
            conn.execute(sa.update(User).where(User.id == uid)
                         .values(credential_version=User.credential_version + 1))
        assert tokens.consume(found) is False
        db.session.rollback()
        assert db.session.get(EmailToken, found.id).used_at is None
        assert tokens.find(raw, "reset")[1] is tokens.TokenProblem.SUPERSEDED


def test_concurrent_changes_each_raise_the_version(app, make_user):
    """The bump is ``SET v = v + 1`` in SQL: a change computed from a stale copy
    of the row does not undo another one."""
    uid = make_user()
    with app.test_request_context():
        user = db.session.get(User, uid)
        assert user.credential_version == 0
        with db.engine.begin() as conn:  # someone else's change, meanwhile
            conn.execute(sa.update(User).where(User.id == uid)
                         .values(credential_version=User.credential_version + 1))
        accounts.credentials_changed(user)
        db.session.commit()
        assert db.session.scalar(sa.select(User.credential_version)
                                 .where(User.id == uid)) == 2
