"""Email behind one small interface, with ``console`` and ``smtp`` backends.

Call sites use :func:`queue` before they commit the change the email reports,
so the email and the change are committed together or not at all:

    events.record(user, "password_changed")
    mail.queue(user, "Your password was changed", "password_changed")
    db.session.commit()

Every email has a text and an HTML part, rendered from
``templates/email/<name>.txt`` and ``templates/email/<name>.html``.

What "queued" means depends on the backend:

- ``smtp``: a row of the mail queue (:mod:`hubweb.mailqueue`), delivered by
  the sender (:mod:`hubweb.mailsender`) after the commit, with retries. No
  request waits for the SMTP server, so a known and an unknown address get
  the same reply in the same time, and an SMTP outage delays mail instead of
  refusing sign-ups.
- ``console`` (development): the message is written straight to the
  development outbox (``/dev/outbox``) in the same transaction, so it is
  "delivered" exactly when the change commits. Developers and the tests read
  the outbox right after a request; a queue and a sender in between would
  make them wait or poll for nothing, since there is no server to retry.

The SMTP client is the standard library's :mod:`smtplib` with a socket timeout
of ``MAIL_TIMEOUT`` seconds on every connection (Flask-Mail 0.10 sets none).
"""

from __future__ import annotations

import contextlib
import json
import logging
import smtplib
import ssl
from dataclasses import asdict, dataclass
from email import message_from_string, policy
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr

from flask import current_app, render_template
from flask_babel import force_locale

from . import addresses, i18n, mailqueue, outbox
from .extensions import db

log = logging.getLogger(__name__)

#: CRLF lines, and a 7-bit message (quoted-printable or base64 bodies) that
#: every SMTP server takes; an internationalised address instead needs UTF-8
#: headers as such (SMTPUTF8, RFC 6532), where any header parser reads it as typed.
SEVEN_BIT = policy.SMTP.clone(cte_type="7bit")
SMTPUTF8 = policy.SMTPUTF8


class MailError(Exception):
    """The message could not be handed to the mail server (for the operator log).

    :ivar permanent: True when retrying cannot help (the server refused the
        recipient with a 5xx reply, or cannot take an internationalised address).
    """

    def __init__(self, text: str, permanent: bool = False):
        super().__init__(text)
        self.permanent = permanent


@dataclass(frozen=True)
class Rendered:
    """An email as rendered in the request: what the queue keeps (encrypted).

    The MIME message is built from it by the sender (:func:`message_bytes`),
    off the request path; ``message_id`` is fixed here, so a message sent twice
    (a sender killed mid-send) is recognisably the same message.
    """

    to: str
    subject: str
    text: str
    html: str
    message_id: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Rendered:
        return cls(**json.loads(text))


def render(to: str, subject: str, template: str, **context) -> Rendered:
    """Render ``template``'s text and HTML parts for ``to``, in the current
    language (:func:`queue` sets the recipient's); ``subject`` may be a lazy
    text, and is kept as a plain ``str``.

    :raises addresses.AddressError: when the ``To:`` header would name another address.
    """
    cfg = current_app.config
    context.setdefault("portal", cfg["PORTAL_NAME"])
    context.setdefault("base_url", cfg["BASE_URL"].rstrip("/"))
    return Rendered(
        to=addresses.to_header(to), subject=str(subject),
        text=render_template(f"email/{template}.txt", **context),
        html=render_template(f"email/{template}.html", **context),
        message_id=make_msgid(domain=sender_address().rpartition("@")[2] or None),
    )


def compose(rendered: Rendered) -> EmailMessage:
    """The ``multipart/alternative`` message (text, then HTML) of ``rendered``."""
    to = rendered.to
    msg = EmailMessage(policy=SMTPUTF8 if not to.isascii() else SEVEN_BIT)
    msg["From"] = current_app.config["MAIL_DEFAULT_SENDER"]
    msg["To"] = addresses.to_header(to)
    msg["Subject"] = rendered.subject
    msg["Message-ID"] = rendered.message_id
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg


def build_message(to: str, subject: str, template: str, **context) -> EmailMessage:
    """Render ``template`` as a text+HTML message (``multipart/alternative``).

    :raises addresses.AddressError: when the ``To:`` header would name another address.
    """
    return compose(render(to, subject, template, **context))


def message_bytes(rendered: Rendered) -> bytes:
    """The message as sent, checked to parse back to exactly one recipient, ``rendered.to``.

    :raises addresses.AddressError: when it does not (a last guard after
        :func:`hubweb.addresses.check` and :func:`hubweb.addresses.to_header`).
    """
    data = compose(rendered).as_bytes()
    back = message_from_string(data.decode("utf-8"), policy=policy.SMTPUTF8)
    if [a.addr_spec for a in back["To"].addresses] != [rendered.to]:
        raise addresses.AddressError(addresses.ADDRESS_REINTERPRETED)
    return data


def sender_address() -> str:
    """The envelope sender: the address of ``MAIL_DEFAULT_SENDER`` (no display name)."""
    return parseaddr(current_app.config["MAIL_DEFAULT_SENDER"])[1]


def queue(user, subject: str, template: str, **context) -> bool:
    """Queue an email to ``user`` (its stored address) in the current transaction.

    The caller commits, together with the change the email reports. Subject,
    text and HTML are rendered now, in the language of ``user``
    (:func:`hubweb.i18n.language_of`: the account's, else the page's).

    :return: False when the stored address would be read as another address
        by mail software (logged for the operator; nothing is queued).
    """
    with force_locale(i18n.language_of(user)):
        return queue_to(user.email, subject, template, user=user, **context)


def queue_to(to: str, subject: str, template: str, **context) -> bool:
    """Queue an email to the address ``to``; see :func:`queue`."""
    try:
        rendered = render(to, subject, template, **context)
    except addresses.AddressError as exc:
        log.error("mail %s not queued: %s", template, exc)
        return False
    if current_app.config["MAIL_BACKEND"] == "console":
        _send_console(rendered)
    else:
        mailqueue.add(to, template, rendered.to_json())
    return True


def rehearse(to: str, subject: str, template: str, **context) -> None:
    """Do the work of :func:`queue_to` (render, encrypt) and keep nothing.

    For a reply that must take as long whether or not an email goes out
    (``/forgot-password`` for an unknown address; OWASP WSTG-IDNT-04, account
    enumeration by response time).
    """
    with contextlib.suppress(addresses.AddressError):
        rendered = render(to, subject, template, **context)
        if current_app.config["MAIL_BACKEND"] != "console":
            mailqueue.seal(rendered.to_json())


def notify(user, subject: str, template: str, **context) -> bool:
    """Queue a notice to ``user`` and commit it on its own.

    For a change committed already; prefer :func:`queue` before that commit,
    so the change and its email cannot be split by a crash between them.
    """
    queued = queue(user, subject, template, **context)
    db.session.commit()
    return queued


def _send_console(rendered: Rendered) -> None:
    # The body holds links (tokens): it goes to the outbox only, never to the log.
    log.info("EMAIL (console backend) to %s: %s; kept in the development outbox",
             rendered.to, rendered.subject)
    outbox.record("email", rendered.to, rendered.text, subject=rendered.subject,
                  html=rendered.html)


def deliver(recipient: str, message: bytes) -> None:
    """Hand ``message`` to the SMTP server for exactly ``recipient``.

    The envelope is given explicitly (``MAIL FROM`` the sender address, ``RCPT
    TO`` the stored address): nothing is derived from the headers again. A
    non-ASCII address needs the server's SMTPUTF8 extension (RFC 6531).

    :raises MailError: refused, timed out, no server; ``permanent`` as above.
    """
    cfg = current_app.config
    host, port, timeout = cfg["MAIL_SERVER"], int(cfg["MAIL_PORT"]), cfg["MAIL_TIMEOUT"]
    sender = sender_address()
    try:
        with _connect(host, port, timeout) as conn:
            options = []
            if not (recipient + sender).isascii():
                if not conn.has_extn("smtputf8"):
                    raise MailError(f"SMTP {host}:{port} does not offer SMTPUTF8, needed "
                                    "for an internationalised address", permanent=True)
                options = ["SMTPUTF8"]
            conn.sendmail(sender, [recipient], message, mail_options=options)
    except smtplib.SMTPRecipientsRefused as exc:
        code = next(iter(exc.recipients.values()))[0]
        raise MailError(f"SMTP {host}:{port}: recipient refused: {code}",
                        permanent=500 <= code < 600) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"SMTP {host}:{port}: {type(exc).__name__}: {exc}") from exc


def _connect(host: str, port: int, timeout: float) -> smtplib.SMTP:
    cfg = current_app.config
    if cfg["MAIL_USE_SSL"]:
        conn = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        conn = smtplib.SMTP(host, port, timeout=timeout)
    try:
        conn.ehlo()
        if cfg["MAIL_USE_TLS"]:
            conn.starttls(context=ssl.create_default_context())
            conn.ehlo()
        if cfg["MAIL_USERNAME"]:
            conn.login(cfg["MAIL_USERNAME"], cfg["MAIL_PASSWORD"] or "")
    except BaseException:
        conn.close()
        raise
    return conn
