"""Deleting an account and everything keyed to it (GDPR article 17, the right
to erasure), for the "Delete account" page and ``flask users delete``.

One transaction deletes, in order: every row of every table with a
``user_id`` column that names the account (sessions, so it is signed out
everywhere; second factors; SMS codes; emailed links; security events; and
any table added later with such a column, found from the schema, not a
list), the account itself, then what holds its address or number without
its id: the mail queue's emails to the address (sent or not) and to the new
addresses of its pending changes of address, and the
development outbox's emails to it and SMS to its numbers (a number another
account still uses is kept). Then the goodbye email is queued, the only row
left that holds the address, and one anonymous line is logged (its time; no
address, no id).
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask_babel import force_locale

from . import i18n, mail
from .extensions import db
from .i18n import lazy_text as _l
from .mailqueue import QueuedMail
from .models import Authenticator, EmailToken, OutboxMessage, User

log = logging.getLogger(__name__)

GOODBYE_SUBJECT = _l("Your account was deleted")


def keyed_tables() -> list[sa.Table]:
    """Every table of the schema with a ``user_id`` column (but ``users``)."""
    return [table for table in db.metadata.sorted_tables
            if "user_id" in table.c and table.name != User.__tablename__]


def delete_account(user: User) -> None:
    """Delete ``user`` and every row keyed to it; queue the goodbye email.

    The caller commits (the whole deletion lands at once, or nothing does) and
    signs the current browser out (its session row is gone with the rest).
    """
    email, user_id = user.email, user.id
    language = i18n.language_of(user)
    phones = [row.lookup for row in user.authenticators if row.kind == "sms" and row.lookup]
    # The links to new addresses this account asked for: their emails go too.
    addresses = {email.lower(), *(a.lower() for a in db.session.scalars(
        sa.select(EmailToken.new_email).where(EmailToken.user_id == user_id,
                                              EmailToken.new_email.is_not(None))))}
    for table in keyed_tables():
        db.session.execute(sa.delete(table).where(table.c.user_id == user_id))
    db.session.expunge(user)
    db.session.execute(sa.delete(User).where(User.id == user_id))
    db.session.execute(sa.delete(QueuedMail).where(
        sa.func.lower(QueuedMail.recipient).in_(sorted(addresses))))
    db.session.execute(sa.delete(OutboxMessage).where(
        OutboxMessage.channel == "email",
        sa.func.lower(OutboxMessage.recipient).in_(sorted(addresses))))
    still_used = set(db.session.scalars(sa.select(Authenticator.lookup).where(
        Authenticator.kind == "sms", Authenticator.lookup.in_(phones))))
    gone = [phone for phone in phones if phone not in still_used]
    if gone:
        db.session.execute(sa.delete(OutboxMessage).where(
            OutboxMessage.channel == "sms", OutboxMessage.recipient.in_(gone)))
    with force_locale(language):
        mail.queue_to(email, str(GOODBYE_SUBJECT), "account_deleted", email=email)
    log.info("An account was deleted.")
