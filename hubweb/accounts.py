"""Account operations shared by the views and the operator CLI."""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import gettext
from sqlalchemy.orm import joinedload

from . import addresses, passwords, session_factors, trusted_browsers
from .extensions import db
from .models import User
from .timeutil import utcnow


class AccountError(ValueError):
    """A user-facing reason why an account operation was refused.

    :ivar field: the form field the reason belongs to (``email`` or ``password``).
    """

    def __init__(self, message: str, field: str = "email"):
        super().__init__(message)
        self.field = field


def normalize_email(text: str) -> str:
    """Return the normalised address; the one check of :func:`hubweb.addresses.check`.

    :raises AccountError: with the reason, when the address is refused.
    """
    try:
        return addresses.check(text)
    except addresses.AddressError as exc:
        raise AccountError(str(exc)) from exc


def email_key(email: str) -> str:
    """The case-insensitive key under which an address is unique."""
    return email.strip().casefold()


#: The loader option of ``find_by_email(with_factors=True)``, built once.
_WITH_FACTORS = joinedload(User.authenticators)


def find_by_email(text: str, *, with_factors: bool = False) -> User | None:
    """Find the account for an address as typed; None for a refused address.

    A refused address is looked up by no other key: no account can have it,
    and an account stored before the check tightened is not reached by it.

    :param with_factors: load the account's second-factor rows
        (``User.authenticators``) in the same statement (an outer join), for a
        caller that reads them next: sign-in does, right after the password,
        and this saves it a round trip then (README, "Performance", figure 8a).
    """
    try:
        key = email_key(normalize_email(text))
    except AccountError:
        return None
    statement = sa.select(User).where(User.email_key == key)
    if not with_factors:
        return db.session.scalar(statement)
    statement = statement.options(_WITH_FACTORS)
    return db.session.scalars(statement).unique().one_or_none()


def check_registration(email: str, password: str) -> tuple[str, str]:
    """Check a registration's address and password, and hash the password, once.

    The password rule is checked first for any address, so a taken email
    cannot be told apart by a weak password being refused only for new ones.

    :return: ``(normalised email, password hash)``.
    :raises AccountError: a refused address, or a weak password
        (``field="password"``, the message lists the policy's problems).
    """
    normalized = normalize_email(email)
    check = passwords.check_policy(password, normalized)
    if not check.ok:
        raise AccountError(" ".join(check.problems), field="password")
    return normalized, passwords.hash_password(password)


def create_user(email: str, password: str, *, confirmed: bool,
                password_hash: str | None = None, language: str | None = None) -> User:
    """Create an account after checking the address and the password policy.

    :param password_hash: the hash of ``password`` when the caller made it already
        with :func:`check_registration` (which checked the policy), so
        registration hashes once.
    :param language: the account's language tag (at registration, the page's),
        or None to follow the browser.

    :raises AccountError: invalid address, address taken, or weak password
        (the message lists the policy's problems). The caller commits.
    """
    normalized = normalize_email(email)
    if find_by_email(normalized) is not None:
        raise AccountError(gettext("An account with this email address already exists."))
    if password_hash is None:
        check = passwords.check_policy(password, normalized)
        if not check.ok:
            raise AccountError(" ".join(check.problems), field="password")
    user = User(
        email=normalized,
        email_key=email_key(normalized),
        password_hash=password_hash or passwords.hash_password(password),
        email_confirmed_at=utcnow() if confirmed else None,
        language=language,
    )
    db.session.add(user)
    db.session.flush()
    return user


def set_password(user: User, password: str, password_hash: str | None = None) -> None:
    """Store a new password hash and its time; a credential change
    (:func:`credentials_changed`). The caller ends sessions and commits.

    :param password_hash: the hash of ``password`` when the caller made it already.
    :raises hubweb.admission.Busy: hashing refused (at capacity), before any change.
    """
    user.password_hash = password_hash or passwords.hash_password(password)
    user.password_changed_at = utcnow()
    user.password_failures = 0  # a new password ends a sign-in lock
    credentials_changed(user)


def credentials_changed(user: User, keep_session: str | None = None) -> None:
    """Record that ``user``'s password, email address or two-step set-up changed.

    Every such change calls this, in the transaction that makes the change
    (no emailed link or session outlives it): the password (settings or
    reset, via :func:`set_password`), the email address, the two-step set-up
    (SMS on, off or a new number; the authenticator app on, off or a new key;
    an operator's ``reset-2sv``), and "Sign out of all other sessions".

    - ``credential_version`` goes up by one, in SQL (``SET v = v + 1``), so two
      concurrent changes both count: every emailed link issued before is
      refused from now on (:mod:`hubweb.tokens`), and every trusted browser
      stops skipping the second step (:mod:`hubweb.trusted_browsers`; its rows
      are deleted too).
    - Sessions that fall short of what the account now requires end, and
      half-signed-in ones too (:func:`hubweb.session_factors.end_weaker_sessions`,
      OWASP ASVS 5.0 V7.4); ``keep_session`` (the id of the session making
      the change) is kept.

    Call it after assigning the new set-up to ``user``. The caller commits.
    """
    user.credential_version = User.credential_version + 1
    db.session.flush()
    trusted_browsers.end_all(user.id)
    session_factors.end_weaker_sessions(user, keep=keep_session)
