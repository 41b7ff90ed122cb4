"""Keep nothing longer than needed (GDPR article 5(1)(c) and (e): data
minimisation and storage limitation): ``flask --app wsgi purge``.

Deletes what is older than ``RETENTION_DAYS`` (``HUBWEB_RETENTION_DAYS``,
default 90): security events; ended sessions and sessions past their
lifetimes (:func:`hubweb.sessions.purge_expired`, whatever their age); used
or expired emailed links and SMS codes; emails sent or given up (mail queue)
and the development outbox. In what is kept, IP addresses older than
:data:`IP_DAYS` become their network prefix (/24 for IPv4, /48 for IPv6),
enough to tell a country or provider in "Recent security activity", no longer
a person's connection.
"""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import sqlalchemy as sa

from . import sessions
from .extensions import db
from .mailqueue import QueuedMail
from .models import EmailToken, OutboxMessage, SecurityEvent, UserSession
from .session_states import ENDED
from .timeutil import utcnow
from .twostep.models import SmsCode

#: Days after which a stored IP address keeps only its network prefix.
IP_DAYS = 30
#: The prefix kept of an old address, by IP version.
PREFIX = {4: 24, 6: 48}


def network_prefix(ip: str) -> str:
    """``ip``'s network, ``"203.0.113.0/24"`` or ``"2001:db8:1::/48"``; a value
    that is no address (or a prefix already) comes back as it is."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    return str(ipaddress.ip_network(f"{address}/{PREFIX[address.version]}", strict=False))


def run(app) -> dict[str, int]:
    """Purge now; commit.

    :return: rows deleted or shortened, by what: ``events``, ``sessions``,
        ``tokens``, ``codes``, ``emails``, ``outbox``, ``ips``.
    """
    now = utcnow()
    cutoff = now - timedelta(days=app.config["RETENTION_DAYS"])
    counts = {"sessions": sessions.purge_expired(app)}

    def delete(name: str, stmt) -> None:
        counts[name] = db.session.execute(stmt).rowcount

    delete("events", sa.delete(SecurityEvent).where(SecurityEvent.created_at < cutoff))
    counts["sessions"] += db.session.execute(sa.delete(UserSession).where(
        UserSession.state == ENDED, UserSession.last_seen_at < cutoff)).rowcount
    delete("tokens", sa.delete(EmailToken).where(
        EmailToken.created_at < cutoff,
        sa.or_(EmailToken.used_at.is_not(None), EmailToken.expires_at < now)))
    delete("codes", sa.delete(SmsCode).where(
        SmsCode.created_at < cutoff,
        sa.or_(SmsCode.used_at.is_not(None), SmsCode.expires_at < now)))
    delete("emails", sa.delete(QueuedMail).where(sa.or_(
        QueuedMail.sent_at < cutoff, QueuedMail.failed_at < cutoff)))
    delete("outbox", sa.delete(OutboxMessage).where(OutboxMessage.created_at < cutoff))
    counts["ips"] = _shorten_ips(now - timedelta(days=IP_DAYS))
    db.session.commit()
    return counts


def _shorten_ips(before) -> int:
    """Replace the addresses of events and sessions older than ``before`` by
    their prefix; the number of rows changed."""
    changed = 0
    for model, when in ((SecurityEvent, SecurityEvent.created_at),
                        (UserSession, UserSession.created_at)):
        rows = db.session.execute(sa.select(model.id, model.ip).where(
            when < before, model.ip != "", ~model.ip.contains("/"))).all()
        for row_id, ip in rows:
            short = network_prefix(ip)
            if short != ip:
                db.session.execute(sa.update(model).where(model.id == row_id)
                                   .values(ip=short))
                changed += 1
    return changed
