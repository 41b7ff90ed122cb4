"""The authenticator app ("Get secret key", flow ``app``): current password,
the secret key panel (key, QR code, otpauth link), a code from the app.

Confirming turns the app on, or moves it to the new key; the current key
keeps working until then (RFC 6238; the key itself is
:mod:`hubweb.twostep.appcodes`'s).
"""

from __future__ import annotations

from flask import session

from ..auth.forms import CodeForm
from ..twostep import appcodes, changes
from ..twostep import messages as msg
from ..twostep.keys import group_secret
from ..twostep.qr import qr_image
from . import flow as flowstate
from .context import signed_in_user
from .flow_table import Flow, Panel, register
from .two_step_replies import finished, reauth_again, section, show, status_of


def after_password(state: dict, reauth_at: float):
    """Make a new pending key and show the secret key panel."""
    user = signed_in_user()
    appcodes.start_setup(user)
    return show(flowstate.move(state, "secret", reauth_at=reauth_at,
                               replacing=user.totp_enabled), "secret")


def confirm(name: str, state: dict | None):
    """A right code from the new key turns the app on (or moves it to that key)."""
    if not flowstate.reauthed(state) or state["step"] != "secret":
        return reauth_again(name)
    user, form = signed_in_user(), CodeForm()
    if appcodes.pending_secret(user) is None:
        if _settled(state):
            return finished(state)
        flowstate.end()
        return section(409, notice=msg.APP_KEY_EXPIRED)
    if not form.validate_on_submit():
        return show(state, "secret", 422, form)
    replacing = bool(state.get("replacing"))
    result = changes.confirm_app(user, form.code.data, replacing, keep_session=session.id)
    if result.ok:
        return finished(state, recorded="app_replaced" if replacing else "app_enabled")
    if _settled(state):  # a parallel submission confirmed the key
        return finished(state)
    form.code.errors.append(result.message)
    return show(state, "secret", status_of(result), form)


def _settled(state: dict) -> bool:
    """True when the app was confirmed (by a parallel request of the same
    click) after this flow's re-authentication."""
    return changes.app_confirmed_since(signed_in_user(), state.get("reauth_at", 0))


def secret_context(state: dict, form) -> dict:
    """What the secret key panel shows: key (grouped and plain), QR code, URI;
    ``{}`` when no key is being set up (it expired)."""
    user = signed_in_user()
    secret = appcodes.pending_secret(user)
    if secret is None:
        return {}
    uri = appcodes.uri_for(user, secret)
    return {"panel": "secret", "flow": "app", "code_form": form, "secret": secret,
            "secret_grouped": group_secret(secret), "uri": uri, "qr": qr_image(uri)}


register(
    Flow("app", None, lambda u: u.sms_enabled,
         lambda s: msg.APP_REPLACED if s.get("replacing") else msg.APP_ENABLED,
         lambda u, s: u.totp_enabled, after_password,
         lambda u: msg.REAUTH_PROMPTS["app_move" if u.totp_enabled else "app"], confirm),
    panels=(Panel("secret", CodeForm, secret_context),),
)
