"""The gate in front of the Account section's actions: "Change email
address", "Download your data" and "Delete account" (CONTRACT.md).

Each asks for the current password ("Enter your current password",
:func:`hubweb.settings.reauth.confirm_password`) and, while two-step
verification is on, a fresh second step too: a third :class:`Place` of
the second step (after sign-in and recovery), purpose ``account``
(:mod:`hubweb.settings.account_actions`), so the person passes the same
factors, limits and throttle as at sign-in (OWASP ASVS 5.0 V7.5.1 and
V6.3.x: re-authentication at the account's assurance level before
changing or reading sensitive account data).

Both answers are good for :data:`~.reauth.REAUTH_SECONDS` of one action, kept
in the server session under ``session["account_action"]``::

    {"action": "email", "reauth_at": 1733580010.0, "second_at": 1733580042.0,
     "step": {...}}   # "step": the second step's own state (SecondStep)

Starting another action (or the same one again after the window) asks again.
"""

from __future__ import annotations

import time

from flask import session

from ..models import User
from .reauth import require_recent_password

KEY = "account_action"
#: The actions behind the gate, in the order the Account section shows them.
ACTIONS = ("email", "export", "delete")


def state(action: str) -> dict | None:
    """The gate's record for ``action`` while its password is recent, else ``None``."""
    record = session.get(KEY)
    if not record or record.get("action") != action:
        return None
    return record if require_recent_password(record.get("reauth_at")) else None


def password_given(action: str, reauth_at: float) -> dict:
    """Record the right password for ``action`` (a fresh record: any second
    step given before for another action does not count)."""
    record = session[KEY] = {"action": action, "reauth_at": reauth_at, "step": {}}
    return record


def second_step_given(record: dict) -> None:
    """Record the right second-factor answer in ``record`` (now)."""
    record["second_at"] = time.time()
    session.modified = True


def needs_second_step(user: User, record: dict | None) -> bool:
    """True while two-step verification is on and no second step was given
    for this action within :data:`~.reauth.REAUTH_SECONDS`."""
    return user.two_step_enabled and not (
        record and require_recent_password(record.get("second_at")))


def cleared(user: User, action: str) -> bool:
    """True when ``user`` may do ``action`` now: a recent password, and a
    recent second step while two-step verification is on."""
    record = state(action)
    return record is not None and not needs_second_step(user, record)


def end() -> None:
    """Forget the gate (the action is done, or was cancelled)."""
    session.pop(KEY, None)
