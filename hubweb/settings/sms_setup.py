"""SMS set-up ("Set up", flow ``sms``) and change of number ("Change phone
number", flow ``phone``): current password, a number, the code sent to it.

The number becomes the account's only once its code is right; until then
the old number keeps working. The rules on numbers and the change itself
are the domain's (:mod:`hubweb.twostep.changes`).
"""

from __future__ import annotations

import time

from flask import current_app, session
from flask_login import login_required

from ..auth.forms import CodeForm, EmptyForm, PhoneForm
from ..extensions import db
from ..twostep import changes, smscodes
from ..twostep import messages as msg
from ..twostep.phone import PhoneError, format_international, mask_phone, parse_phone
from . import flow as flowstate
from .blueprint import bp
from .context import signed_in_user
from .flow_table import FLOWS, Flow, register
from .panels import form_panel
from .two_step_replies import finished, flow_step, reauth_again, show, status_of

#: A refused resend within this many seconds of a sent code is a repeated
#: click: it answers "We sent a new code" (the one just sent).
RESEND_REPEAT_SECONDS = 10


def after_password(state: dict, reauth_at: float):
    """The number panel; a second "Continue" while a code is out keeps the code panel."""
    panel = "code" if state["step"] == "code" and flowstate.reauthed(state) else "phone"
    return show(flowstate.move(state, panel, reauth_at=reauth_at), panel)


@bp.post("/two-step/<flow>/phone")
@login_required
@flow_step
def two_step_phone(flow: str, state: dict | None):
    """Read the number, check it may be used, and send a code to it."""
    form = PhoneForm()
    if not flowstate.reauthed(state) or FLOWS[flow].purpose is None:
        return reauth_again(flow)
    phone = _typed_number(form)
    if phone is None:
        return show(state, "phone", 422, form)
    if state["step"] == "code" and state.get("phone") == phone:
        return show(state, "code")  # sent already (a second click): no new SMS
    refused = _send(state, phone)
    if refused is not None:
        form.phone.errors.append(refused[0])
        return show(state, "phone", refused[1], form)
    return show(flowstate.move(state, "code", phone=phone), "code")


def _typed_number(form) -> str | None:
    """The E.164 number typed in ``form``, or ``None`` (the form then has the error)."""
    if not form.validate_on_submit():
        return None
    try:
        return parse_phone(form.phone.data, current_app.config["PHONE_DEFAULT_REGION"])
    except PhoneError as exc:
        form.phone.errors.append(str(exc))
        return None


def _send(state: dict, phone: str) -> tuple[str, int] | None:
    """Send a code to ``phone`` for the flow in ``state``.

    :return: ``None`` when a code is on its way (sent now, or by a parallel
        request of the same click), else ``(message, HTTP status)``.
    """
    user, purpose = signed_in_user(), FLOWS[state["flow"]].purpose
    problem = changes.number_problem(user, phone)
    if problem:
        return problem, 422
    result = smscodes.send_code(user, phone, purpose)
    if result.ok or changes.code_sent_since(user, phone, purpose, state["reauth_at"]):
        return None
    return result.message, status_of(result)


@bp.post("/two-step/<flow>/resend")
@login_required
@flow_step
def two_step_resend(flow: str, state: dict | None):
    """Send a new code to the number being verified."""
    if (not flowstate.reauthed(state) or "phone" not in state
            or not EmptyForm().validate_on_submit()):
        return reauth_again(flow)
    user, phone, purpose = signed_in_user(), state["phone"], FLOWS[flow].purpose
    result = smscodes.send_code(user, phone, purpose)
    if not result.ok and changes.code_sent_since(user, phone, purpose,
                                                 time.time() - RESEND_REPEAT_SECONDS):
        result = smscodes.Result()  # a second click: the code just sent is the new one
    return show(state, "code", status_of(result),
                notice=None if result.ok else result.message, resent=result.ok)


def confirm(name: str, state: dict | None):
    """The right code turns SMS 2SV on, or switches the number (the code step)."""
    if not flowstate.reauthed(state) or "phone" not in state:
        return reauth_again(name)
    user, form, phone = signed_in_user(), CodeForm(), state["phone"]
    if FLOWS[state["flow"]].holds(user, state):  # a parallel click finished it
        return finished(state)
    if not form.validate_on_submit():
        return show(state, "code", 422, form)
    problem = changes.number_problem(user, phone)
    if problem:  # another account took the last place for this number meanwhile
        return show(state, "code", 409, form, notice=problem)
    result = changes.confirm_number(user, phone, FLOWS[state["flow"]].purpose,
                                    form.code.data, keep_session=session.id)
    if result.ok:
        return finished(state, recorded="sms_enabled" if name == "sms" else "phone_changed")
    if _settled(state):  # a parallel submission of the same code won
        return finished(state)
    form.code.errors.append(result.message)
    return show(state, "code", status_of(result), form)


def _settled(state: dict) -> bool:
    """True when the account, read again, has this flow's number on."""
    user = signed_in_user()
    db.session.refresh(user)
    return FLOWS[state["flow"]].holds(user, state)


def _number_in_use(user, state: dict) -> bool:
    return user.sms_enabled and user.sms_phone == state.get("phone")


def _code_step(state: dict) -> dict:
    """The code panel shows the number being verified: masked, and in full
    (what the person just typed)."""
    phone = state["phone"]
    return {"step": {"masked_phone": mask_phone(phone),
                     "international": format_international(phone)}}


register(
    Flow("sms", "setup", lambda u: not u.sms_enabled, lambda s: msg.SMS_ENABLED,
         _number_in_use, after_password, lambda u: msg.REAUTH_PROMPTS["sms"], confirm),
    Flow("phone", "change_phone", lambda u: u.sms_enabled, lambda s: msg.PHONE_CHANGED,
         _number_in_use, after_password, lambda u: msg.REAUTH_PROMPTS["phone"], confirm),
    panels=(form_panel("phone", "phone_form", PhoneForm),
            form_panel("code", "code_form", CodeForm, _code_step)),
)
