"""The mail queue and its sender: mail survives an SMTP outage, against a real SMTP server.

The email is written with the change it reports, encrypted at rest, and sent
after the commit with retries: an SMTP outage delays mail and loses none, a
sender killed mid-send makes an email go at most twice, several senders never
send one row twice. Runs on SQLite and, with ``HUBWEB_TEST_BACKEND=postgres``,
on PostgreSQL (``SELECT ... FOR UPDATE SKIP LOCKED``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from hubweb import mail, mailqueue, mailsender
from hubweb.extensions import db
from hubweb.mailqueue import QueuedMail
from hubweb.models import User
from hubweb.timeutil import utcnow
from hubweb.twostep.appcodes import keybox
from tests.support.mail import (
    Collector,
    DataRecorder,
    deliver,
    forgot,
    free_port,
    make_due,
    parse,
    queued,
    register,
    smtp_server,
    use_smtp,
)
from tests.support.sms import add_sms

ROOT = Path(__file__).resolve().parents[2]
RESET_LINK = re.compile(r"/reset-password/([A-Za-z0-9_-]{43})")


@pytest.fixture
def smtp(app):
    with smtp_server(Collector()) as handler:
        use_smtp(app, handler.port)
        yield handler


def queue_notices(app, count: int, prefix: str = "user") -> list[str]:
    """Queue one notice each to ``count`` new accounts; their addresses."""
    emails = [f"{prefix}{i}@example.com" for i in range(count)]
    with app.test_request_context():
        from hubweb import accounts

        for address in emails:
            user = accounts.create_user(address, "correct horse battery staple", confirmed=True)
            mail.queue(user, "Your password was changed", "password_changed")
        db.session.commit()
    return emails


# -- written with the change, encrypted, emptied once sent ----------------------------------


def test_the_link_is_encrypted_at_rest_and_the_body_deleted_once_sent(app, make_user, smtp):
    make_user("alice@example.com")
    assert forgot(app.test_client(), "alice@example.com").status_code == 200
    [row] = queued(app)
    assert (row.recipient, row.kind, row.attempts) == ("alice@example.com", "reset_password", 0)
    assert "reset-password" not in row.body and "alice" not in row.body
    with app.app_context():
        plain = keybox().decrypt(row.body)
    token = RESET_LINK.search(plain.replace("=\r\n", "")).group(1)
    assert token not in row.body

    assert deliver(app) == 1
    [row] = queued(app)
    assert row.body is None and row.sent_at is not None and row.attempts == 1
    assert row.recipient == "alice@example.com" and row.last_error is None
    assert token in parse(smtp.envelopes[0]).get_body(("plain",)).get_content()


def test_email_and_change_are_committed_together_or_not_at_all(app, make_user, smtp):
    user_id = make_user()
    with app.test_request_context():
        user = db.session.get(User, user_id)
        mail.queue(user, "Your password was changed", "password_changed")
        db.session.rollback()  # the change failed: its email goes with it
    assert queued(app) == []
    assert deliver(app) == 0 and smtp.envelopes == []


def test_nothing_is_queued_for_a_refused_registration(app, client, smtp):
    reply = client.post("/register", data={"email": "x@example.com", "password": "short"})
    assert reply.status_code in (400, 422)
    assert queued(app) == []


# -- retries ---------------------------------------------------------------------------------


def test_smtp_down_for_a_while_then_up_delivers_every_email_exactly_once(app, make_user):
    port = free_port()
    use_smtp(app, port)
    make_user("alice@example.com")
    expected = ["alice@example.com", "new@example.com", *queue_notices(app, 3)]
    assert forgot(app.test_client(), "alice@example.com").status_code == 200
    assert register(app.test_client(), "new@example.com").status_code == 200
    for _ in range(3):  # three rounds of the outage, each after the back-off
        assert deliver(app) == 5
        make_due(app)
    assert {r.attempts for r in queued(app)} == {3}
    assert all("ConnectionRefusedError" in r.last_error for r in queued(app))
    with smtp_server(Collector(), port=port) as server:
        assert deliver(app) == 5
        make_due(app)
        assert deliver(app) == 0  # nothing left: no second copy
    assert Counter(server.rcpt_tos()) == Counter(expected)
    assert all(r.sent_at and r.body is None and r.attempts == 4 for r in queued(app))


def test_back_off_doubles_up_to_its_cap_then_gives_up(app, smtp):
    queue_notices(app, 1)
    with app.app_context():
        start = utcnow()
        delays = []
        for attempt in range(1, 9):
            claim = mailqueue.claim_next(start + timedelta(days=1))
            assert claim.attempts == attempt
            assert mailqueue.mark_failed(claim, "SMTP down", permanent=False,
                                         now=start) == "retry"
            row = db.session.get(QueuedMail, claim.id, populate_existing=True)
            delays.append((row.next_attempt_at - start).total_seconds())
        assert delays == [15, 30, 60, 120, 240, 480, 900, 900]
        later = start + timedelta(seconds=mailqueue.GIVE_UP_AFTER + 1)
        claim = mailqueue.claim_next(later)
        assert mailqueue.mark_failed(claim, "SMTP down", permanent=False, now=later) == "given up"
        row = db.session.get(QueuedMail, claim.id, populate_existing=True)
        assert row.failed_at is not None and row.body is None and row.last_error == "SMTP down"
        assert mailqueue.claim_next(later + timedelta(days=1)) is None


class RefuseRecipient(Collector):
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        return "550 5.1.1 No such mailbox"


def test_a_recipient_refused_for_good_is_given_up_at_once(app):
    use_smtp(app, free_port())
    queue_notices(app, 1)
    with smtp_server(RefuseRecipient()) as server:
        use_smtp(app, server.port)
        assert deliver(app) == 1
    [row] = queued(app)
    assert row.failed_at is not None and row.attempts == 1 and row.body is None
    assert "recipient refused: 550" in row.last_error


# -- claims ----------------------------------------------------------------------------------


def test_a_claimed_row_waits_for_its_lease_and_the_old_claim_is_fenced(app, smtp):
    queue_notices(app, 1)
    with app.app_context():
        now = utcnow()
        first = mailqueue.claim_next(now)
        assert mailqueue.claim_next(now) is None  # held by the first claim
        lease = mailqueue.lease_seconds()
        assert mailqueue.claim_next(now + timedelta(seconds=lease - 1)) is None
        second = mailqueue.claim_next(now + timedelta(seconds=lease + 1))  # the first died
        assert (first.id, first.attempts, second.attempts) == (second.id, 1, 2)
        # The first claim's late failure cannot reschedule the second one's row.
        mailqueue.mark_failed(first, "late", permanent=False)
        row = db.session.get(QueuedMail, first.id, populate_existing=True)
        assert row.last_error is None and row.attempts == 2
        mailqueue.mark_sent(second)
        assert mailqueue.status().sent == 1


def test_several_senders_share_the_queue_without_sending_a_row_twice(app, smtp):
    emails = queue_notices(app, 24)
    errors = []

    def sender():
        try:
            deliver(app)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sender) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(smtp.rcpt_tos()) == sorted(emails)
    assert all(r.attempts == 1 and r.sent_at for r in queued(app))


# -- the sender killed mid-send --------------------------------------------------------------


def _sender_process(app, port: int) -> subprocess.Popen:
    """``flask --app wsgi mail work`` in its own process, on this test's database."""
    cfg = app.config
    env = {**os.environ, "HUBWEB_DATABASE_URL": cfg["DATABASE_URL"],
           "HUBWEB_SECRET_KEY": cfg["SECRET_KEY"],
           "HUBWEB_ENCRYPTION_KEYS": json.dumps(cfg["ENCRYPTION_KEYS"]),
           "HUBWEB_MAIL_BACKEND": "smtp", "HUBWEB_MAIL_SERVER": "127.0.0.1",
           "HUBWEB_MAIL_PORT": str(port), "HUBWEB_MAIL_TIMEOUT": "30",
           "HUBWEB_MAIL_SENDER": "off"}
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "mail", "work"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)


def test_sender_killed_after_data_sends_at_most_twice_never_loses(app, make_user):
    make_user("alice@example.com")
    with smtp_server(DataRecorder(delay=30)) as slow:
        use_smtp(app, slow.port)
        assert forgot(app.test_client(), "alice@example.com").status_code == 200
        worker = _sender_process(app, slow.port)
        try:
            assert slow.received.wait(30), worker.stdout.read1().decode()
        finally:
            os.killpg(worker.pid, signal.SIGKILL)  # our own process group
            worker.wait(10)
    [row] = queued(app)
    assert row.sent_at is None and row.attempts == 1 and row.body is not None
    with smtp_server(Collector()) as server:
        use_smtp(app, server.port)
        assert deliver(app) == 0  # the dead sender's lease still holds the row
        make_due(app)  # the lease ends
        assert deliver(app) == 1
    first, second = slow.envelopes[0], server.envelopes[0]
    assert first.rcpt_tos == second.rcpt_tos == ["alice@example.com"]
    assert parse(first)["Message-ID"] == parse(second)["Message-ID"]  # one email, twice
    [row] = queued(app)
    assert row.sent_at is not None and row.attempts == 2 and row.body is None


# -- the in-process sender -------------------------------------------------------------------


@pytest.mark.settings(MAIL_BACKEND="smtp", MAIL_SENDER="inprocess")
def test_in_process_sender_starts_with_the_first_request_and_is_woken_by_the_commit(app):
    sender = app.extensions[mailsender.EXTENSION]
    assert sender.pid is None  # nothing runs at import or in create_app (gunicorn's master)
    with smtp_server(Collector()) as server:
        use_smtp(app, server.port)
        try:
            assert register(app.test_client(), "new@example.com").status_code == 200
            assert sender.pid == os.getpid()
            deadline = time.monotonic() + 20
            while not server.envelopes and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            sender.shut_down()
    assert server.rcpt_tos() == ["new@example.com"]


def test_no_sender_thread_under_testing_unless_asked(app):
    assert app.config["MAIL_SENDER"] == "off"
    assert mailsender.EXTENSION not in app.extensions


# -- the operator's commands -----------------------------------------------------------------


def test_mail_status_shows_pending_failing_and_the_oldest_age(app, runner, time_machine):
    use_smtp(app, free_port())
    time_machine.move_to(utcnow(), tick=False)
    queue_notices(app, 3)
    deliver(app)  # all three fail: SMTP is down
    time_machine.shift(95)
    queue_notices(app, 1, prefix="late")
    result = runner.invoke(args=["mail", "status"])
    assert result.exit_code == 0, result.output
    assert "pending: 4\n" in result.output
    assert "failing: 3 " in result.output
    assert "given up: 0\n" in result.output
    assert "oldest pending: 95 s" in result.output


def test_mail_work_once_delivers_what_is_due(app, runner, smtp):
    emails = queue_notices(app, 2)
    result = runner.invoke(args=["mail", "work", "--once"])
    assert result.exit_code == 0 and "Attempted 2 queued emails." in result.output
    assert sorted(smtp.rcpt_tos()) == emails
    assert "pending: 0\n" in runner.invoke(args=["mail", "status"]).output


def test_keys_rotate_re_encrypts_queued_bodies(app, runner, smtp):
    queue_notices(app, 1)
    from cryptography.fernet import Fernet

    app.config["ENCRYPTION_KEYS"] = [Fernet.generate_key().decode(),
                                     *app.config["ENCRYPTION_KEYS"]]
    app.extensions.pop("hubweb.keybox", None)
    result = runner.invoke(args=["keys", "rotate"])
    assert "Re-encrypted 1 queued emails with the newest key." in result.output
    with app.app_context():
        assert not keybox().needs_rotation(queued(app)[0].body)
    assert deliver(app) == 1 and smtp.rcpt_tos() == ["user0@example.com"]


def test_a_row_no_key_opens_is_given_up_and_does_not_block_the_queue(app, smtp):
    from cryptography.fernet import Fernet

    queue_notices(app, 1, prefix="old")
    app.config["ENCRYPTION_KEYS"] = [Fernet.generate_key().decode()]  # the old key dropped
    app.extensions.pop("hubweb.keybox", None)
    queue_notices(app, 1, prefix="new")
    assert deliver(app) == 1
    assert smtp.rcpt_tos() == ["new0@example.com"]
    old, new = queued(app)
    assert old.failed_at is not None and old.body is None and "no key" in old.last_error
    assert new.sent_at is not None


@pytest.mark.settings(MAIL_BACKEND="smtp", MAIL_SENDER="inprocess")
def test_a_commit_that_queued_mail_wakes_the_sender_and_a_rollback_does_not(app, make_user):
    sender = app.extensions[mailsender.EXTENSION]
    sender.pid = os.getpid()  # as if its thread ran: watch the event instead
    user_id = make_user()
    assert not sender.wake.is_set()
    with app.test_request_context():
        user = db.session.get(User, user_id)
        mail.queue(user, "Your password was changed", "password_changed")
        db.session.rollback()
        assert not sender.wake.is_set()
        user = db.session.get(User, user_id)
        mail.queue(user, "Your password was changed", "password_changed")
        db.session.commit()
        assert sender.wake.is_set()


@pytest.mark.settings(MAIL_BACKEND="smtp", MAIL_SENDER="inprocess")
def test_a_command_that_queues_mail_starts_no_sender_thread(app, runner, make_user):
    """``users reset-2sv`` queues its notice and exits: the queue's senders deliver it."""
    user_id = make_user()
    with app.app_context():
        add_sms(user_id, "+447400123456")
        db.session.commit()
    result = runner.invoke(args=["users", "reset-2sv", "--yes", "alice@example.com"])
    assert result.exit_code == 0, result.output
    assert app.extensions[mailsender.EXTENSION].pid is None
    assert [(r.recipient, r.kind) for r in queued(app)] == [
        ("alice@example.com", "two_step_reset")]


def test_forgot_password_for_an_unknown_address_leaves_nothing(app, make_user, smtp):
    make_user("alice@example.com")
    assert forgot(app.test_client(), "nobody@example.com").status_code == 200
    assert queued(app) == []
    assert deliver(app) == 0 and smtp.envelopes == []
    with app.app_context():
        assert mailqueue.status().pending == 0


def test_mail_work_stops_on_sigterm_after_the_email_in_hand(app, make_user):
    """systemd's stop: the email being sent is finished and marked, then the process exits."""
    make_user("alice@example.com")
    with smtp_server(DataRecorder(delay=1)) as server:
        use_smtp(app, server.port)
        assert forgot(app.test_client(), "alice@example.com").status_code == 200
        worker = _sender_process(app, server.port)
        try:
            assert server.received.wait(30), worker.stdout.read1().decode()
            worker.send_signal(signal.SIGTERM)
            output = worker.communicate(timeout=30)[0].decode()
        finally:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
    assert worker.returncode == 0 and "Stopped." in output
    [row] = queued(app)
    assert row.sent_at is not None and row.attempts == 1 and row.body is None
