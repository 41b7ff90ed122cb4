"""Email addresses the mail path could reinterpret are refused at every entry.

Every place an address enters refuses encoded-word syntax (RFC 2047), control
characters and what email-validator refuses; every address that is stored
reaches a real SMTP server (aiosmtpd, SMTPUTF8 on) as exactly itself: the
envelope's ``RCPT TO`` is the stored address and the ``To:`` header parses
back to it. The variants follow "Splitting the Email Atom" (Gareth Heyes,
PortSwigger Research, 2024) and the usual header-injection tricks.
"""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from hubweb import accounts, addresses, mail
from hubweb.auth import messages as auth_msg
from hubweb.extensions import db
from hubweb.models import EmailToken, User
from tests.support.accounts import PASSWORD, csrf_token
from tests.support.mail import (
    Collector,
    deliver,
    forgot,
    parse,
    queued,
    register,
    smtp_server,
    use_smtp,
)

#: Refused wherever typed: (address, words of the reason shown).
HOSTILE = [
    ("=?utf-8?q?alice=40evil.example?=@example.com", "encoded text"),
    ("=?utf-8?b?YWxpY2VAZXZpbC5leGFtcGxl?=@example.com", "encoded text"),
    ("=?UTF-8?Q?=61=6C=69=63=65?=@example.com", "encoded text"),
    ("=?iso-8859-1?q?alice?=@example.com", "encoded text"),
    ("=?utf-8?q?alice=00?=@example.com", "encoded text"),  # a NUL once decoded
    ("=?utf-8?q?x=0D=0ARCPT_TO:<y@evil.example>?=@example.com", "encoded text"),
    ("alice@=?utf-8?q?evil.example?=", "encoded text"),
    ("al=?x?=ice@example.com", "encoded text"),
    ("=?utf-8?q?alice?= @example.com", "encoded text"),
    ("alice\x00@example.com", "control characters"),
    ("alice@example.com\x00.evil.example", "control characters"),
    ("alice@example.com\r\nBcc: x@evil.example", "control characters"),
    ("alice@example.com\nRCPT TO:<x@evil.example>", "control characters"),
    ("ali\rce@example.com", "control characters"),
    ("ali\x7fce@example.com", "control characters"),
    ("ali\x85ce@example.com", "control characters"),  # C1 NEXT LINE
    ("ali\x1bce@example.com", "control characters"),
    ("\"alice@evil.example\"@example.com", "Quoting"),
    ("\"alice\\\"x\"@example.com", "Quoting"),
    ("alice(comment)@example.com", "invalid characters"),
    ("(evil.example)alice@example.com", "invalid characters"),
    ("alice@example.com(comment)", "invalid characters"),
    ("Alice <alice@example.com>", "display name"),
    ("alice@example.com, bob@evil.example", "invalid characters"),
    ("alice@evil.example@example.com", "invalid characters"),
    ("alice@[127.0.0.1]", "bracketed"),
    ("alice@[IPv6:::1]", "bracketed"),
    ("ali\u202ece@example.com", "unsafe characters"),  # RIGHT-TO-LEFT OVERRIDE
    ("ali\u200bce@example.com", "unsafe characters"),  # ZERO WIDTH SPACE
    ("alice@exam\u00adple.com", "unsafe characters"),  # SOFT HYPHEN
    ("alice@localhost", "period"),
    ("@example.com", "something before the @-sign"),
]

#: Accepted: (as typed, as stored). Odd but honest addresses, confusables
#: included: each is a different mailbox, and mail goes to exactly that one.
ACCEPTED = [
    ("Alice+tag@EXAMPLE.com", "Alice+tag@example.com"),
    ("o'brien@example.com", "o'brien@example.com"),
    ("alice%evil.example@example.com", "alice%evil.example@example.com"),
    ("x#y!z&w@example.com", "x#y!z&w@example.com"),
    ("a=b?c@example.com", "a=b?c@example.com"),
    ("q?=x@example.com", "q?=x@example.com"),  # "?=" without a "=?" before it
    ("jürgen@exämple.de", "jürgen@exämple.de"),
    ("\u0430lice@example.com", "\u0430lice@example.com"),  # CYRILLIC SMALL LETTER A
    ("\uff41lice@example.com", "\uff41lice@example.com"),  # FULLWIDTH LATIN SMALL A
    ("alice@\uff45xample.com", "alice@example.com"),  # IDNA maps the fullwidth e
]


def assert_refused(reply, address: str, reason: str) -> None:
    """422 with the reason; a NUL anywhere in a form is refused before any view (400)."""
    if "\x00" in address:
        status, reason = 400, "cannot contain NUL characters"
    else:
        status = 422
    assert reply.status_code == status, address
    assert reason in reply.get_data(as_text=True).replace("&#39;", "'"), address


def ids(table):
    return [repr(row[0])[1:-1][:40] for row in table]


@pytest.mark.parametrize(("address", "reason"), HOSTILE, ids=ids(HOSTILE))
def test_check_refuses_with_a_clear_reason(address, reason):
    with pytest.raises(addresses.AddressError, match=None) as err:
        addresses.check(address)
    assert reason in str(err.value)


@pytest.mark.parametrize(("address", "reason"), HOSTILE, ids=ids(HOSTILE))
def test_registration_refuses_and_writes_nothing(app, client, address, reason):
    assert_refused(register(client, address), address, reason)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0
    assert queued(app) == []


@pytest.mark.settings(RATELIMIT_FORGOT="1000 per minute")
def test_forgot_password_refuses_the_text_whoever_has_an_account(app, client, make_user,
                                                                 outbox):
    """A 422 that depends only on the text typed: no account is looked up."""
    make_user("alice@example.com")
    for address, reason in HOSTILE:
        assert_refused(forgot(app.test_client(), address), address, reason)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(EmailToken)) == 0
    assert outbox.messages("email") == []


def test_sign_in_answers_the_generic_message(app, make_user):
    make_user("alice@example.com")
    for address in ("=?utf-8?q?alice?=@example.com", "alice\x85@example.com",
                    "alice@example.com\r\nBcc: x@evil.example", "\"alice\"@example.com"):
        client = app.test_client()
        reply = client.post("/sign-in", data={"email": address, "password": PASSWORD,
                                              "csrf_token": csrf_token(client)})
        assert reply.status_code == 422, address
        assert auth_msg.BAD_CREDENTIALS in reply.get_data(as_text=True).replace("&#39;", "'")


@pytest.mark.parametrize("address", [a for a, _ in HOSTILE[:3] + HOSTILE[9:12]])
def test_operator_cli_refuses(app, runner, address):
    result = runner.invoke(args=["users", "create", address],
                           input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 1 and "Error:" in result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_operator_cli_reset_2sv_gives_the_reason(runner):
    result = runner.invoke(args=["users", "reset-2sv", "--yes", "=?utf-8?q?a?=@example.com"])
    assert result.exit_code == 1 and "encoded text" in result.output


@pytest.mark.parametrize(("typed", "stored"), ACCEPTED, ids=ids(ACCEPTED))
def test_stored_address_is_the_envelope_recipient_and_the_to_header(app, client, typed,
                                                                    stored):
    with smtp_server(Collector(), enable_SMTPUTF8=True) as server:
        use_smtp(app, server.port)
        assert register(client, typed).status_code == 200
        with app.app_context():
            assert db.session.scalar(sa.select(User.email)) == stored
        assert deliver(app) == 1
    [envelope] = server.envelopes
    assert envelope.rcpt_tos == [stored]
    assert [a.addr_spec for a in parse(envelope)["To"].addresses] == [stored]
    assert ("SMTPUTF8" in envelope.mail_options) == (not stored.isascii())


def test_international_address_without_smtputf8_is_given_up_not_converted(app, client):
    with smtp_server(Collector(), enable_SMTPUTF8=False) as server:
        use_smtp(app, server.port)
        assert register(client, "jürgen@exämple.de").status_code == 200
        deliver(app)
    assert server.envelopes == []
    [row] = queued(app)
    assert row.failed_at is not None and row.body is None and "SMTPUTF8" in row.last_error


def test_a_stored_address_that_would_be_reinterpreted_gets_no_mail(app, caplog):
    """An account from before the check: nothing is queued for it, the operator is told."""
    legacy = "=?utf-8?q?alice=40evil.example?=@example.com"
    with app.test_request_context():
        user = User(email=legacy, email_key=legacy.casefold(), password_hash="x")
        db.session.add(user)
        db.session.commit()
        use_smtp(app, 25)
        with caplog.at_level(logging.ERROR, logger="hubweb.mail"):
            assert mail.queue(user, "Subject", "password_changed") is False
        db.session.commit()
        # It cannot be reached by typing it either.
        assert accounts.find_by_email(legacy) is None
    assert queued(app) == []


@pytest.mark.parametrize("stored", ["=?utf-8?q?a=40evil.example?=@example.com",
                                    "a(comment)@example.com"])
def test_to_header_refuses_what_the_parser_would_change(stored):
    with pytest.raises(addresses.AddressError):
        addresses.to_header(stored)
