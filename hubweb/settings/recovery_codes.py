"""Recovery codes ("Get recovery codes" / "Get new recovery codes", flow
``recovery``): current password, then the new set, shown once.

The right password makes the set (:func:`hubweb.twostep.recoverycodes.issue`:
the old set void at once, an event, an email) and shows the codes panel:
the codes in ``#recovery-codes-list``, "Download" (a ``.txt``) and "Print".
Until the person chooses "Done", or the re-authentication's ten minutes end,
the flow's state in the server session keeps the set (encrypted with
``ENCRYPTION_KEYS``), so a reload shows the same codes; afterwards nothing
can show them again, only how many are left. A set that another tab or
session has replaced is never shown or downloaded.

The download (``GET /settings/recovery-codes.txt``) delivers the set of
this flow once, from that state: nothing in its URL, ``no-store``, as an
attachment.
"""

from __future__ import annotations

from flask import Response, current_app, request, session
from flask_babel import format_date, gettext
from flask_login import login_required

from ..auth.forms import EmptyForm
from ..errors import error_reply
from ..twostep import messages as msg
from ..twostep import recoverycodes
from ..twostep.keyring import keybox
from . import flow as flowstate
from .blueprint import bp
from .context import signed_in_user
from .flow_table import Flow, Panel, register
from .two_step_replies import finished, reauth_again, show

FLOW = "recovery"


def _codes(state: dict | None) -> list[str] | None:
    """The set this flow made (normalised), while it is still the account's
    current set; ``None`` otherwise."""
    if not state or not state.get("codes"):
        return None
    codes = keybox().decrypt(state["codes"]).split()
    return codes if codes and recoverycodes.is_current(signed_in_user(), codes[0]) else None


def after_password(state: dict, reauth_at: float):
    """Make a new set (the old one void) and show it; a second "Continue" of
    the same click, while the set it made is shown, shows that set again."""
    if state.get("step") == "codes" and flowstate.reauthed(state) and _codes(state):
        return show(state, "codes")
    codes, recorded = recoverycodes.issue(signed_in_user(), keep_session=session.id)
    state = flowstate.move(state, "codes", reauth_at=reauth_at, download=True,
                           codes=keybox().encrypt(" ".join(codes)))
    return show(state, "codes", recorded=recorded)


def confirm(name: str, state: dict | None):
    """"Done": the codes are saved; they are not shown again."""
    if not flowstate.reauthed(state) or state.get("step") != "codes":
        return reauth_again(name)
    if not EmptyForm().validate_on_submit():
        return show(state, "codes", 400)
    return finished(state)


def codes_context(state: dict, form) -> dict:
    """What the codes panel shows; ``{}`` when the set is no longer the
    account's (a newer one replaced it), which ends the flow."""
    codes = _codes(state)
    if codes is None:
        return {}
    return {"panel": "codes", "flow": FLOW, "done_form": form,
            "codes": [recoverycodes.display(code) for code in codes],
            "can_download": bool(state.get("download"))}


@bp.get("/recovery-codes.txt")
@login_required
def recovery_codes_download():
    """The set just made, as a text file, once (410 afterwards, or when the
    flow is over)."""
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return error_reply(403)  # another site may not use up the one download
    state = flowstate.current(FLOW)
    codes = _codes(state) if state and state.get("step") == "codes" else None
    if codes is None or not state.get("download") or not flowstate.reauthed(state):
        return error_reply(410, msg.RECOVERY_DOWNLOAD_GONE)
    flowstate.move(state, "codes", download=False)
    user = signed_in_user()
    issuer = current_app.config["TOTP_ISSUER"]
    lines = [gettext("%(issuer)s recovery codes", issuer=issuer),
             gettext("Account: %(email)s", email=user.email),
             gettext("Made on: %(date)s", date=format_date(recoverycodes.made_at(user),
                                                           "long")),
             "",
             gettext("Each code works once, in place of a code from your phone or "
                     "authenticator app. Keep them somewhere safe, apart from your phone."),
             "", *(recoverycodes.display(code) for code in codes), ""]
    return Response("\r\n".join(lines), mimetype="text/plain", headers={
        "Content-Disposition": 'attachment; filename="recovery-codes.txt"',
        "Cache-Control": "no-store"})


register(
    Flow(FLOW, None, lambda u: u.sms_enabled, lambda s: msg.RECOVERY_SAVED,
         lambda u, s: u.sms_enabled and recoverycodes.has_set(u), after_password,
         lambda u: msg.REAUTH_PROMPTS["recovery_new" if recoverycodes.has_set(u)
                                      else "recovery"], confirm),
    panels=(Panel("codes", EmptyForm, codes_context),),
)
