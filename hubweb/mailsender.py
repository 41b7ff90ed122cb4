"""The sender of the mail queue: in the web process, or as ``flask mail work``.

``HUBWEB_MAIL_SENDER=inprocess`` (the default with the smtp backend): each web
process runs one daemon thread that delivers the queue. It is started lazily
by the first request or commit *in that process*, never in gunicorn's master
(a thread does not survive ``fork``, and a master thread would hold a database
connection the workers inherit). A commit that queued mail wakes it at once;
otherwise it looks for due rows every :data:`POLL_SECONDS`.

``HUBWEB_MAIL_SENDER=off``: the web processes only queue; ``flask --app wsgi
mail work`` (one or more, on any host) delivers. Under ``TESTING`` the default
is ``off``, so a test drives delivery with :func:`deliver_due` or asks for the
thread explicitly.
"""

from __future__ import annotations

import logging
import os
import threading

import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import Session

from . import addresses, mail, mailqueue
from .extensions import db

log = logging.getLogger(__name__)

POLL_SECONDS = 5.0
#: Rows one round attempts before it looks at ``stop`` and the clock again.
BATCH = 100
EXTENSION = "hubweb.mail_sender"


def deliver_due(limit: int = BATCH, stop: threading.Event | None = None) -> int:
    """Deliver due rows, one claim at a time, until none is due, ``limit``, or ``stop``.

    Needs an app context. :return: how many rows were attempted.
    """
    done = 0
    while done < limit and not (stop and stop.is_set()):
        claim = mailqueue.claim_next()
        if claim is None:
            break
        done += 1
        try:
            mail.deliver(claim.recipient, _message(claim))
        except mail.MailError as exc:
            outcome = mailqueue.mark_failed(claim, str(exc), exc.permanent)
            log.error("mail queue row %s: attempt %s failed (%s): %s",
                      claim.id, claim.attempts, outcome, exc)
            continue
        mailqueue.mark_sent(claim)
        log.info("mail queue row %s sent (attempt %s)", claim.id, claim.attempts)
    return done


def _message(claim: mailqueue.Claim) -> bytes:
    """The RFC 5322 bytes of a claimed row; refused for good if its To would change."""
    try:
        return mail.message_bytes(mail.Rendered.from_json(claim.payload))
    except addresses.AddressError as exc:
        raise mail.MailError(str(exc), permanent=True) from exc


def work(app: Flask, stop: threading.Event, wake: threading.Event | None = None) -> None:
    """Deliver the queue until ``stop`` is set; any error is logged and retried later.

    Sleeps :data:`POLL_SECONDS` between rounds unless woken, or at once when a
    round stopped at its :data:`BATCH` limit.
    """
    wake = wake or threading.Event()
    while not stop.is_set():
        wake.clear()  # before the round: a commit during it wakes the next one
        done = 0
        with app.app_context():
            try:
                done = deliver_due(stop=stop)
            except sa.exc.SQLAlchemyError as exc:
                log.error("mail sender: database unavailable: %s", exc)
            except Exception:  # the thread must outlive any one row's surprise
                log.exception("mail sender: unexpected error")
            finally:
                db.session.remove()
        if done < BATCH:
            wake.wait(POLL_SECONDS)


class InProcessSender:
    """The daemon thread of one web process (see the module docstring)."""

    def __init__(self, app: Flask):
        self.app = app
        self.pid: int | None = None
        self.wake = threading.Event()
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def ensure_started(self) -> None:
        """Start the thread in this process unless it runs already (after a fork too)."""
        if self.pid == os.getpid():
            return
        with self.lock:
            if self.pid == os.getpid():
                return
            self.wake, self.stop = threading.Event(), threading.Event()
            thread = threading.Thread(target=work, args=(self.app, self.stop, self.wake),
                                      name="hubweb-mail-sender", daemon=True)
            thread.start()
            self.pid = os.getpid()

    def shut_down(self) -> None:
        """Stop the thread after its current row (tests; the process exit ends it too)."""
        self.stop.set()
        self.wake.set()

    def poke(self) -> None:
        """Wake the thread: a commit queued mail.

        Only a thread of this process: a command (``flask users reset-2sv``)
        queues its email and exits, and a web process started its thread at
        its first request.
        """
        if self.pid == os.getpid():
            self.wake.set()


def init_app(app: Flask) -> None:
    """Run the in-process sender when ``MAIL_SENDER`` is ``inprocess`` with smtp."""
    if app.config["MAIL_BACKEND"] != "smtp" or app.config["MAIL_SENDER"] != "inprocess":
        return
    sender = app.extensions[EXTENSION] = InProcessSender(app)
    app.before_request(sender.ensure_started)


@sa.event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop("hubweb.mail_queued", False):
        sender = current_app.extensions.get(EXTENSION) if has_app_context() else None
        if sender is not None:
            sender.poke()


@sa.event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop("hubweb.mail_queued", None)
