"""Trusted browsers: "Don't ask again on this browser for N days".

When ``TRUST_BROWSER_DAYS`` is over 0 (at most 30; 0, the default, turns it
off), the second step of sign-in (never of a password reset) offers the
checkbox ``remember``. A right code with it ticked gives the browser a random
token (``secrets.token_urlsafe(32)``, 256 bits) in a cookie of its own:
``__Host-hubweb-trust`` (``Secure``, ``Path=/``, no ``Domain``) when
``BASE_URL`` is https, ``hubweb_trust`` otherwise; ``HttpOnly``,
``SameSite=Lax``, ``Max-Age`` the N days. The server keeps only the token's
SHA-256 (:class:`~hubweb.models.TrustedBrowser`), with the account, the
times, the browser, the IP and the account's ``credential_version``.

At sign-in, after the right password, a browser whose cookie matches a row of
*this* account, before its ``expires_at`` and made under the account's
current ``credential_version``, skips the second step: the session gets both
factors, as after a code. It never skips the password: the cookie is looked
at only once the password was right, so a stolen cookie alone reaches
nothing (NIST SP 800-63B section 7.1 session bindings, 4.2.3
reauthentication; OWASP ASVS 4.0.3 V3.4 cookie attributes).

Every trust of an account ends at once on any change of the password
(settings or reset), of the email address or of the two-step set-up, the
operator's ``reset-2sv``, a recovery code used, and "Sign out of all other
sessions": each raises ``credential_version``
(:func:`hubweb.accounts.credentials_changed`), which also deletes the rows
(:func:`end_all`). The version is checked again in the one ``UPDATE`` that
lets a browser skip, so a trust made concurrently with a change, under the
older version, is refused all the same.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import after_this_request, current_app, g, request

from . import events
from .extensions import client_ip, db
from .models import TrustedBrowser, User
from .sessions import cookie_options, secure_cookies, token_hash, user_agent
from .timeutil import utcnow

#: The longest cookie value looked up; a token is 43 characters.
MAX_TOKEN_LENGTH = 128
DAY = 24 * 3600


def days() -> int:
    """How many days a trusted browser skips the second step (``TRUST_BROWSER_DAYS``,
    0 to 30; 0: the offer is off and no browser skips)."""
    return current_app.config["TRUST_BROWSER_DAYS"]


def cookie_name(app=None) -> str:
    """``__Host-hubweb-trust`` on https (Secure, host-only), else ``hubweb_trust``
    (named like the session cookie, :mod:`hubweb.sessions`)."""
    return "__Host-hubweb-trust" if secure_cookies(app or current_app) else "hubweb_trust"


def _cookie_token() -> str | None:
    """This browser's trust token, or ``None`` (none, or not one the app could have set)."""
    token = request.cookies.get(cookie_name())
    return token if token and len(token) <= MAX_TOKEN_LENGTH else None


def has_cookie() -> bool:
    """True when this browser carries a trust cookie (the sign-out form then
    offers "Forget this browser")."""
    return _cookie_token() is not None


def remember(user: User) -> TrustedBrowser:
    """Trust this browser for ``user`` for :func:`days` days from now.

    Adds the row and a ``browser_trusted`` event; the reply sets the cookie.
    The caller commits (with the signed-in session).

    :raises RuntimeError: when trusted browsers are off (``TRUST_BROWSER_DAYS`` 0).
    """
    if days() <= 0:
        raise RuntimeError("trusted browsers are off (TRUST_BROWSER_DAYS is 0)")
    token, now = secrets.token_urlsafe(32), utcnow()
    version = db.session.scalar(sa.select(User.credential_version).where(User.id == user.id))
    browser = TrustedBrowser(user_id=user.id, token_hash=token_hash(token), created_at=now,
                             expires_at=now + timedelta(days=days()), user_agent=user_agent(),
                             ip=client_ip()[:64], credential_version=version)
    db.session.add(browser)
    events.record(user, "browser_trusted")
    max_age = days() * DAY

    @after_this_request
    def _set_cookie(response):
        response.set_cookie(cookie_name(), token, max_age=max_age,
                            **cookie_options(current_app))
        return response

    return browser


def _in_force(user_id: int, now: datetime):
    """The condition of a row that still lets a browser of account ``user_id`` skip."""
    current = (sa.select(User.credential_version).where(User.id == user_id)
               .scalar_subquery())
    return sa.and_(TrustedBrowser.user_id == user_id, TrustedBrowser.expires_at > now,
                   TrustedBrowser.credential_version == current)


def skips_second_step(user: User) -> bool:
    """True when this browser is trusted by ``user``'s account right now.

    Ask only after the right password. One conditional ``UPDATE`` (it also
    stamps ``last_used_at``) that must change one row: the cookie's token, of
    this account, unexpired, under the account's current credential version.
    A cookie of another account, a tampered or forgotten one, or any cookie
    while the offer is off, skips nothing. The caller commits.
    """
    token = _cookie_token()
    if token is None or days() <= 0:
        return False
    now = utcnow()
    changed = db.session.execute(
        sa.update(TrustedBrowser)
        .where(TrustedBrowser.token_hash == token_hash(token), _in_force(user.id, now))
        .values(last_used_at=now),
        execution_options={"synchronize_session": False},
    ).rowcount
    return changed == 1


def in_force(user: User) -> list[sa.Row]:
    """The account's trusted browsers that still skip the second step, newest first.

    :return: read-only rows with ``id``, ``token_hash``, ``ip``, ``user_agent``,
        ``created_at`` and ``expires_at`` (what the settings page shows and
        :func:`this_browser_id` reads), from a statement built once
        (:data:`_IN_FORCE`: bound parameters, so its cache key is computed once).
    """
    return db.session.execute(_IN_FORCE, {"user_id": user.id, "now": utcnow()}).all()


_TRUSTED = TrustedBrowser.__table__
_IN_FORCE = (
    sa.select(_TRUSTED.c.id, _TRUSTED.c.token_hash, _TRUSTED.c.ip, _TRUSTED.c.user_agent,
              _TRUSTED.c.created_at, _TRUSTED.c.expires_at)
    .where(_in_force(sa.bindparam("user_id"), sa.bindparam("now")))
    .order_by(_TRUSTED.c.created_at.desc(), _TRUSTED.c.id.desc())
)


def this_browser_id(browsers) -> int | None:
    """The id of this browser's row among ``browsers``, or ``None``."""
    token = _cookie_token()
    if token is None:
        return None
    mine = token_hash(token)
    return next((b.id for b in browsers if b.token_hash == mine), None)


def forget(user: User, browser_id: int) -> bool:
    """Forget one trusted browser of ``user``'s account ("Forget").

    :return: True when it was trusted until now (an event is recorded); False
        when there was no such browser (already forgotten, in another tab, or
        ended by a change). The caller commits.
    """
    row = db.session.scalar(sa.select(TrustedBrowser).where(
        TrustedBrowser.id == browser_id, _in_force(user.id, utcnow())))
    if row is None or not _delete(TrustedBrowser.id == row.id):
        return False
    events.record(user, "browser_forgotten")
    if this_browser_id([row]) is not None:
        forget_cookie()
    return True


def forget_all(user: User) -> int:
    """Forget every trusted browser of ``user``'s account ("Forget all browsers").

    :return: how many were trusted until now; with any, an event is recorded.
        The caller commits.
    """
    # Counted by the DELETE itself: of two parallel requests (two tabs), one
    # deletes them and the other finds none, so one event is recorded.
    count = _delete(_in_force(user.id, utcnow()))
    _delete(TrustedBrowser.user_id == user.id)  # and those already out of force
    if count:
        events.record(user, "browsers_forgotten")
    if has_cookie():
        forget_cookie()
    return count


def forget_this_browser(user: User | None) -> bool:
    """At sign-out, when asked: forget this browser (its row, if it belongs to
    ``user``'s account, and its cookie).

    :return: True when this browser was trusted by ``user``'s account (an
        event is recorded). The caller commits.
    """
    token = _cookie_token()
    if request.cookies.get(cookie_name()) is not None:
        forget_cookie()
    if token is None or user is None:
        return False
    gone = _delete(TrustedBrowser.token_hash == token_hash(token),
                   _in_force(user.id, utcnow()))
    if gone:
        events.record(user, "browser_forgotten")
    return bool(gone)


def end_all(user_id: int) -> int:
    """Delete every trusted browser of the account (a credential change; see
    :func:`hubweb.accounts.credentials_changed`). The version stamp ends them
    anyway; this keeps no dead rows. When any went, ``g.trusted_browsers_ended``
    says so, and the settings reply carries the emptied list.

    :return: rows deleted. The caller commits.
    """
    count = _delete(TrustedBrowser.user_id == user_id)
    if count:
        g.trusted_browsers_ended = True
    return count


def purge_expired() -> int:
    """Delete the rows past their ``expires_at``. :return: how many. The caller commits."""
    return _delete(TrustedBrowser.expires_at <= utcnow())


def forget_cookie() -> None:
    """Delete this browser's trust cookie with the reply."""

    @after_this_request
    def _delete_cookie(response):
        response.delete_cookie(cookie_name(), **cookie_options(current_app))
        return response


def _delete(*where) -> int:
    return db.session.execute(sa.delete(TrustedBrowser).where(*where),
                              execution_options={"synchronize_session": False}).rowcount
