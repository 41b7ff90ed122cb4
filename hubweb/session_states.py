"""The states of a server-side session and the words a person is told when one
ends, below :mod:`hubweb.sessions` and :mod:`hubweb.session_factors` (both use
them; neither imports the other's callers or ``hubweb.auth``).

States (``UserSession.state``): ``anonymous``; ``pending`` (half signed in:
the password, not yet the second step); ``signed_in``; ``ended`` (ended by a
change of the account's sign-in set-up, see :mod:`hubweb.session_factors`).
"""

from __future__ import annotations

import json

from .i18n import lazy_text as _l
from .models import UserSession

ANONYMOUS, PENDING, SIGNED_IN, ENDED = "anonymous", "pending", "signed_in", "ended"

# User-facing messages (re-exported by hubweb.auth.messages).
SESSION_EXPIRED = _l("Your session has expired. Please sign in again.")
SIGN_IN_EXPIRED = _l("Your sign-in was not finished in time. Please sign in again.")
SIGN_IN_AGAIN_TWO_STEP = (
    _l("You were signed out: two-step verification is now on for your account. "
    "Sign in again with your password and a code.")
)
SIGN_IN_AGAIN_CHANGED = (
    _l("You were signed out: your account's sign-in settings changed. Please sign in again.")
)


def session_data(record: UserSession) -> dict:
    """The data of a session row (``{}`` when it does not decode to a dict)."""
    try:
        data = json.loads(record.data)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
