"""Turning factors off: "Disable two-step verification" (flow ``disable``:
SMS and, as every other factor needs it, the app; other sessions end) and
"Disable authenticator app" (flow ``app_disable``: SMS stays on).

Each is a warning and the current password; the password step then calls
the flow's function here (its row, registered below). The first of two
parallel submissions makes the change; the other answers with the same
outcome, recording and emailing nothing (:mod:`hubweb.twostep.changes`).
"""

from __future__ import annotations

from flask import session

from ..twostep import changes
from ..twostep import messages as msg
from .context import signed_in_user
from .flow_table import Flow, register
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


register(
    Flow("disable", None, lambda u: u.sms_enabled, lambda s: msg.TWO_STEP_DISABLED,
         lambda u, s: not u.sms_enabled, turn_off, lambda u: msg.REAUTH_PROMPTS["disable"],
         danger=True, warning=msg.DISABLE_WARNING),
    Flow("app_disable", None, lambda u: u.totp_enabled, lambda s: msg.APP_DISABLED,
         lambda u, s: u.sms_enabled and not u.totp_enabled, turn_off_app,
         lambda u: msg.REAUTH_PROMPTS["app_disable"], danger=True),
)
