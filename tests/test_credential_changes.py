"""Issue 10, item 1: no emailed link outlives a credential change.

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
from app_helpers import (
    EMAIL,
    both_on,
    click,
    enable_app,
    enable_sms,
    get_secret_key,
    oath,
    page,
    verify,
)
from conftest import PASSWORD, Auth, csrf_token
from sms_helpers import OTHER_PHONE, last_sms_code, post, set_sms, sign_in_with_sms, user_row

from hubweb import accounts, tokens
from hubweb.auth import messages as auth_msg
from hubweb.extensions import db
from hubweb.models import EmailToken, User

NEW_PASSWORD = "granite lantern orbit meadow"
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


# --- the changes --------------------------------------------------------------------
# Each signs in as the change needs (see sign_in_for), makes the change through
# the settings forms as a person would, and checks it took effect.

def change_password(client, **_):
    r = click(client, "/settings/account", "Change password",
              {"password": PASSWORD, "new_password": NEW_PASSWORD})
    assert "Your password has been changed." in page(r).words


def turn_sms_on(client, outbox, **_):
    enable_sms(client, outbox)


def change_phone(client, outbox, **_):
    r = click(client, "/settings/account", "Change phone number")
    r = click(client, r, "Continue", {"password": PASSWORD})
    r = click(client, r, "Send code", {"phone": "+44 7400 654321"})
    r = click(client, r, "Confirm", {"code": last_sms_code(outbox, OTHER_PHONE)})
    assert "Your phone number for two-step verification has been changed." in page(r).words


def turn_app_on(client, clock, **_):
    enable_app(client, clock)


def move_app_to_new_key(client, clock, **_):
    clock.shift(30)  # past the step the sign-in code used (replay guard)
    panel = get_secret_key(client)
    r = click(client, panel.response, "Confirm", {"code": oath(panel.secret, clock.now())})
    assert "Your authenticator app now uses the new key." in page(r).words


def turn_app_off(client, **_):
    r = click(client, "/settings/account", "Disable authenticator app")
    r = click(client, r, "Continue", {"password": PASSWORD})
    assert "Your authenticator app is off." in page(r).words


def turn_two_step_off(client, **_):
    r = click(client, "/settings/account", "Disable two-step verification")
    r = click(client, r, "Continue", {"password": PASSWORD})
    assert "Two-step verification is off." in page(r).words


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


def sign_in_for(app, client, outbox, clock, uid, before: str) -> None:
    """Sign ``client`` in fully, with the account set up as ``before`` says."""
    auth = Auth(client)
    if before == "app":
        secret = both_on(client, auth, outbox, clock)
        auth.sign_in()
        clock.shift(30)
        assert verify(client, oath(secret, clock.now())).status_code == 303
    elif before == "sms":
        set_sms(app, uid)
        sign_in_with_sms(client, outbox)
    else:
        auth.sign_in()
    clock.shift(61)  # past every SMS send cooldown


@pytest.mark.parametrize("change", CHANGES, ids=lambda f: f.__name__)
def test_a_reset_link_from_before_the_change_is_refused(app, client, runner, make_user,
                                                        outbox, clock, change):
    uid = make_user()
    sign_in_for(app, client, outbox, clock, uid, CHANGES[change])
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
