"""Turning factors off: "Disable two-step verification" (flow ``disable``:
SMS and, as every other factor needs it, the app; other sessions end) and
"Disable authenticator app" (flow ``app_disable``: SMS stays on).

Each is a warning and the current password; the password step then calls
the flow's function here (the table in :mod:`.two_step`). The first of two
parallel submissions makes the change; the other answers with the same
outcome, recording and emailing nothing (:mod:`hubweb.twostep.changes`).
"""

from __future__ import annotations

from flask import session

from ..twostep import changes
from .context import signed_in_user
from .two_step_replies import finished


def turn_off(state: dict, reauth_at: float):
    """Turn 2SV off and end the other sessions."""
    if not changes.turn_off(signed_in_user(), keep_session=session.id):
        return finished(state)
    return finished(state, recorded="two_step_disabled", sessions_changed=True)


def turn_off_app(state: dict, reauth_at: float):
    """Turn the authenticator app off."""
    if not changes.turn_off_app(signed_in_user(), keep_session=session.id):
        return finished(state)
    return finished(state, recorded="app_disabled")
