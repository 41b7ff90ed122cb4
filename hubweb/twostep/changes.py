"""Changes to an account's second factors made from User account settings.

Each function makes one change whole: the new set-up, the credential version
and the sessions that fall short (:func:`hubweb.accounts.credentials_changed`),
a security event, the email to the account (queued in the same transaction,
:mod:`hubweb.mailqueue`), and the commit. The settings views call them and
only choose the reply.

The rules written here once: SMS is the base factor, so turning it off turns
every factor off (through :func:`.factors.disable`); a change made twice
(double click, two tabs) is made once (a conditional ``DELETE`` or
``UPDATE`` that one request wins), the other request is told it is already
so. The number of accounts one phone number may serve is SMS's own rule
(:func:`.smscodes.number_problem`).
"""

from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa

from .. import accounts, events, mail
from ..extensions import db
from ..models import User
from ..sessions import end_user_sessions
from ..timeutil import utcnow
from . import appcodes, factors, smscodes, webauthnkeys
from . import messages as msg
from .models import SmsCode
from .phone import mask_phone
from .store import remove_all

#: The rule and its number live with SMS (:func:`.smscodes.number_problem`).
MAX_ACCOUNTS_PER_NUMBER = smscodes.MAX_ACCOUNTS_PER_NUMBER
number_problem = smscodes.number_problem


def code_sent_since(user: User, phone: str, purpose: str, since: float) -> bool:
    """True when an unused, unexpired code went to ``phone`` for ``purpose`` at
    or after Unix time ``since`` (seconds): a parallel request of the same
    click sent it."""
    now = utcnow()
    sent_after = now - timedelta(seconds=max(0.0, time.time() - since) + 1)
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(SmsCode)
        .where(SmsCode.user_id == user.id, SmsCode.phone == phone,
               SmsCode.purpose == purpose, SmsCode.used_at.is_(None),
               SmsCode.expires_at > now, SmsCode.created_at >= sent_after)
    ) > 0


def confirm_number(user: User, phone: str, purpose: str, code: str | None,
                   keep_session: str | None) -> smscodes.Result:
    """Check ``code`` sent to ``phone``; when right, make ``phone`` the 2SV number
    (SMS 2SV on for purpose ``setup``, a new number for ``change_phone``).

    :return: the check's result; on success the change is committed and the
        event recorded is ``sms_enabled`` or ``phone_changed``.
    """
    result = smscodes.check_code(user, phone, purpose, code)
    if not result.ok:
        return result
    smscodes.enable(user, phone)
    first = purpose == "setup"
    _changed(user, keep_session, "sms_enabled" if first else "phone_changed",
             msg.SMS_ENABLED_SUBJECT if first else msg.PHONE_CHANGED_SUBJECT,
             "two_step_sms" if first else "two_step_phone", phone=mask_phone(phone))
    return result


def confirm_app(user: User, code: str | None, replacing: bool,
                keep_session: str | None) -> smscodes.Result:
    """Check ``code`` from the pending key; when right, the app is on (or, with
    ``replacing``, moved to the new key; RFC 6238). Commits on success."""
    result = appcodes.confirm_setup(user, code)
    if result.ok:
        _changed(user, keep_session, "app_replaced" if replacing else "app_enabled",
                 msg.APP_MOVED_SUBJECT if replacing else msg.APP_ENABLED_SUBJECT,
                 "app_enabled", replacing=replacing)
    return result


def app_confirmed_since(user: User, since: float) -> bool:
    """True when ``user``'s app, read again from the database, was confirmed at
    or after Unix time ``since`` (seconds; one second of slack for the clock
    resolution of the column): a parallel request of the same click confirmed it."""
    db.session.refresh(user)
    db.session.expire(user, ["authenticators"])
    enabled = user.totp_enabled_at
    return enabled is not None and enabled.timestamp() >= since - 1


def turn_off(user: User, keep_session: str | None) -> bool:
    """Turn 2SV off: SMS and, as every other factor needs SMS, the app; end
    every other session (OWASP ASVS 5.0 V7.4). Commits.

    :return: True for the one request that turned it off (a conditional
        UPDATE); False when it was off already.
    """
    if not remove_all(user, factors.base().key, enabled_only=True):
        return False
    factors.disable(user, factors.base())  # every other factor goes with the base one
    _changed(user, keep_session, "two_step_disabled", msg.TWO_STEP_DISABLED_SUBJECT,
             "two_step_disabled", end_others=True)
    return True


def turn_off_app(user: User, keep_session: str | None) -> bool:
    """Turn the authenticator app off; SMS stays on. Commits.

    :return: True for the one request that turned it off.
    """
    if not remove_all(user, appcodes.KIND, enabled_only=True):
        return False
    appcodes.disable(user)
    _changed(user, keep_session, "app_disabled", msg.APP_DISABLED_SUBJECT, "app_disabled")
    return True


def add_security_key(user: User, name: str, answer: str | None,
                     keep_session: str | None) -> smscodes.Result:
    """Add the key the browser created (:func:`.webauthnkeys.register`), named
    ``name``. Commits on success (event ``key_added``, email, other sessions
    offered sign-out)."""
    result = webauthnkeys.register(user, name, answer)
    if result.ok:
        _changed(user, keep_session, "key_added", webauthnkeys.ADDED_SUBJECT, "key_added",
                 key_name=name.strip())
    else:
        db.session.rollback()
    return result


def remove_security_key(user: User, key_id: int, keep_session: str | None) -> str | None:
    """Remove ``user``'s key ``key_id``. Commits.

    :return: the removed key's name for the one request that removed it;
        ``None`` when it was gone already (nothing recorded or emailed).
    """
    name = webauthnkeys.remove(user, key_id)
    if name is None:
        return None
    _changed(user, keep_session, "key_removed", webauthnkeys.REMOVED_SUBJECT, "key_removed",
             key_name=name)
    return name


def _changed(user: User, keep_session: str | None, kind: str, subject: str,
             template: str, *, end_others: bool = False, **context) -> None:
    """The rest of every change: credential version (and, with ``end_others``,
    every session but ``keep_session`` ended), event, email, commit."""
    accounts.credentials_changed(user, keep_session=keep_session)
    if end_others:
        end_user_sessions(user.id, keep=keep_session)
    events.record(user, kind)
    mail.queue(user, subject, template, **context)
    db.session.commit()
