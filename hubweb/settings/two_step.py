"""The Two-step verification section of User account settings.

Flows, each a short sequence of panels that htmx swaps into ``#two-step``
inside the section ``#two-step-verification`` (the fragment is
``_two_step_body.html``: the section's inside, its forms without hidden CSRF
fields), and plain forms without JavaScript:

- ``sms`` ("Set up"): current password, phone number, code -> SMS 2SV on.
- ``phone`` ("Change phone number"): current password, new number, code sent
  to the new number -> number switched (the old one works until then).
- ``disable`` ("Disable two-step verification"): a warning and the current
  password -> 2SV off (the authenticator app too), other sessions ended.
- ``app`` ("Get secret key", only while SMS 2SV is on): current password,
  the secret key panel (key, QR code, otpauth link), a code from the app ->
  the app is on (or moved to the new key).
- ``app_disable`` ("Disable authenticator app"): current password -> the app
  is off; SMS stays on.

Where a flow stands lives in the server session (:mod:`.flow`), so a reload,
Back or Forward shows the same step, and a step sent again after its flow
finished answers with what is now true. Without JavaScript every POST answers
303 to the settings page, which shows the step. Leaving half-way changes
nothing. Every change records a security event, raises the credential version
and ends sessions that fall short (:func:`hubweb.accounts.credentials_changed`),
and emails the user.
"""

from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa
from flask import abort, current_app, session
from flask_login import login_required

from .. import accounts, events, mail, passwords
from ..auth.forms import CodeForm, EmptyForm, PhoneForm, ReauthForm
from ..extensions import db, limiter
from ..htmx import redirect_to
from ..models import User
from ..replies import status_for
from ..sessions import end_user_sessions
from ..timeutil import utcnow
from ..twostep import appcodes, smscodes
from ..twostep import messages as msg
from ..twostep.models import SmsCode
from ..twostep.phone import PhoneError, mask_phone, parse_phone
from . import bp
from . import flow as flowstate
from .two_step_replies import (
    ALLOWED,
    DONE,
    FLOWS,
    finished,
    here,
    late_reply,
    live,
    overtaken,
    reauth_again,
    section,
    show,
    signed_in_user,
)

SMS_FLOWS = ("sms", "phone")
MAX_ACCOUNTS_PER_NUMBER = 5
#: A refused resend within this many seconds of a sent code is a repeated
#: click: it answers "We sent a new code" (the one just sent).
RESEND_REPEAT_SECONDS = 10


@bp.get("/two-step/cancel")
@bp.get("/two-step/<flow>/<step>")
@login_required
def two_step_step_page(flow: str | None = None, step: str | None = None):
    """A step's URL opened directly (bookmark, Back without JavaScript): the
    settings page, which shows the step the flow is at."""
    return redirect_to(here())


@bp.post("/two-step/<flow>/start")
@login_required
def two_step_start(flow: str):
    """First panel of every flow: "Enter your current password"."""
    if flow not in FLOWS:
        abort(404)
    if not ALLOWED[flow](signed_in_user()):
        return overtaken(flow)
    return show(flowstate.begin(flow), "reauth")


@bp.post("/two-step/<flow>/password")
@login_required
@limiter.limit("10 per minute")
def two_step_password(flow: str):
    """Check the current password, then show the flow's next panel."""
    late = late_reply(flow)
    if late is not None:
        return late
    state, form = live(flow) or flowstate.begin(flow), ReauthForm()
    if not form.validate_on_submit() or not passwords.verify_password(
        signed_in_user().password_hash, form.password.data
    ):
        if form.password.data:
            form.password.errors.append(msg.WRONG_PASSWORD)
        return show(state, "reauth", 422, form)
    if flow == "disable":
        return _disable(state)
    if flow == "app_disable":
        return _disable_app(state)
    now = time.time()
    if flow == "app":
        appcodes.start_setup(signed_in_user())
        return show(flowstate.move(state, "secret", reauth_at=now,
                                   replacing=signed_in_user().totp_enabled), "secret")
    keep_code = state["step"] == "code" and flowstate.reauthed(state)  # a second "Continue"
    return show(flowstate.move(state, "code" if keep_code else "phone", reauth_at=now),
                "code" if keep_code else "phone")


@bp.post("/two-step/<flow>/phone")
@login_required
def two_step_phone(flow: str):
    """Read the number, check it may be used, and send a code to it."""
    late = late_reply(flow)
    if late is not None:
        return late
    state, form = live(flow), PhoneForm()
    if not flowstate.reauthed(state) or flow not in SMS_FLOWS:
        return reauth_again(flow)
    if not form.validate_on_submit():
        return show(state, "phone", 422, form)
    try:
        phone = parse_phone(form.phone.data, current_app.config["PHONE_DEFAULT_REGION"])
    except PhoneError as exc:
        form.phone.errors.append(str(exc))
        return show(state, "phone", 422, form)
    if state["step"] == "code" and state.get("phone") == phone:
        return show(state, "code")  # sent already (a second click): no new SMS
    problem = _phone_problem(phone)
    if problem:
        form.phone.errors.append(problem)
        return show(state, "phone", 422, form)
    result = smscodes.send_code(signed_in_user(), phone, FLOWS[flow])
    if not result.ok and not _code_sent_since(phone, FLOWS[flow], state["reauth_at"]):
        form.phone.errors.append(result.message)
        return show(state, "phone", status_for(result), form)
    return show(flowstate.move(state, "code", phone=phone), "code")


def _phone_problem(phone: str) -> str | None:
    """Why ``phone`` cannot be this account's 2SV number, or ``None``."""
    user = signed_in_user()
    if user.sms_enabled and user.sms_phone == phone:
        return msg.PHONE_SAME
    others = db.session.scalar(
        sa.select(sa.func.count()).select_from(User)
        .where(User.sms_phone == phone, User.sms_enabled_at.is_not(None))
        .where(User.id != user.id)
    )
    return msg.PHONE_IN_USE if others >= MAX_ACCOUNTS_PER_NUMBER else None


def _code_sent_since(phone: str, purpose: str, since: float) -> bool:
    """True when an unused, unexpired code went to ``phone`` for ``purpose`` at or
    after Unix time ``since``: a parallel request of the same click sent it."""
    now = utcnow()
    sent_after = now - timedelta(seconds=max(0.0, time.time() - since) + 1)
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(SmsCode)
        .where(SmsCode.user_id == signed_in_user().id, SmsCode.phone == phone,
               SmsCode.purpose == purpose, SmsCode.used_at.is_(None),
               SmsCode.expires_at > now, SmsCode.created_at >= sent_after)
    ) > 0


@bp.post("/two-step/<flow>/resend")
@login_required
def two_step_resend(flow: str):
    """Send a new code to the number being verified."""
    late = late_reply(flow)
    if late is not None:
        return late
    state = live(flow)
    if (not flowstate.reauthed(state) or "phone" not in state
            or not EmptyForm().validate_on_submit()):
        return reauth_again(flow)
    result = smscodes.send_code(signed_in_user(), state["phone"], FLOWS[flow])
    if not result.ok and _code_sent_since(state["phone"], FLOWS[flow],
                                          time.time() - RESEND_REPEAT_SECONDS):
        result = smscodes.Result()  # a second click: the code just sent is the new one
    return show(state, "code", status_for(result),
                notice=None if result.ok else result.message, resent=result.ok)


@bp.post("/two-step/<flow>/code")
@login_required
def two_step_code(flow: str):
    """The right code turns SMS 2SV on, or switches the number."""
    late = late_reply(flow)
    if late is not None:
        return late
    state, form = live(flow), CodeForm()
    if flow == "app":
        return _confirm_app(state, form)
    if not flowstate.reauthed(state) or "phone" not in state:
        return reauth_again(flow)
    phone = state["phone"]
    if flowstate.TRUE_WHEN_DONE[flow](signed_in_user(), state):  # a parallel click finished it
        return finished(state, DONE[flow](state))
    if not form.validate_on_submit():
        return show(state, "code", 422, form)
    problem = _phone_problem(phone)
    if problem:  # another account took the last place for this number meanwhile
        return show(state, "code", 409, form, notice=problem)
    result = smscodes.check_code(signed_in_user(), phone, FLOWS[flow], form.code.data)
    if not result.ok:
        if _settled(state):  # a parallel submission of the same code won
            return finished(state, DONE[flow](state))
        form.code.errors.append(result.message)
        return show(state, "code", status_for(result), form)
    user = signed_in_user()
    user.sms_phone, user.sms_enabled_at = phone, user.sms_enabled_at or utcnow()
    kind = "sms_enabled" if flow == "sms" else "phone_changed"
    accounts.credentials_changed(user, keep_session=session.id)
    events.record(user, kind)
    subject = ("Two-step verification is on" if flow == "sms"
               else "Your phone number for two-step verification changed")
    mail.queue(user, subject, f"two_step_{flow}", phone=mask_phone(phone))
    db.session.commit()
    return finished(state, DONE[flow](state), recorded=kind)


@bp.post("/two-step/cancel")
@login_required
def two_step_cancel():
    """Leave a flow half-way: nothing changes."""
    flowstate.end()
    return section()


def _disable(state: dict):
    """Turn 2SV off (both methods), end the other sessions, tell the user.

    The first of two parallel submissions turns it off (a conditional UPDATE);
    the other answers with the same outcome, recording and emailing nothing.
    """
    user = signed_in_user()
    if not _claim(User.sms_enabled_at, sms_enabled_at=None, sms_phone=None):
        return finished(state, msg.TWO_STEP_DISABLED)
    appcodes.disable(user)  # the app is only ever on top of SMS
    accounts.credentials_changed(user, keep_session=session.id)
    end_user_sessions(user.id, keep=session.id)
    events.record(user, "two_step_disabled")
    mail.queue(user, "Two-step verification was turned off", "two_step_disabled")
    db.session.commit()
    return finished(state, msg.TWO_STEP_DISABLED, recorded="two_step_disabled",
                    sessions_changed=True)


def _disable_app(state: dict):
    """Turn the authenticator app off; SMS stays on (first submission only)."""
    user = signed_in_user()
    if not _claim(User.totp_enabled_at, totp_enabled_at=None):
        return finished(state, msg.APP_DISABLED)
    appcodes.disable(user)
    accounts.credentials_changed(user, keep_session=session.id)
    events.record(user, "app_disabled")
    mail.queue(user, "Your authenticator app was turned off", "app_disabled")
    db.session.commit()
    return finished(state, msg.APP_DISABLED, recorded="app_disabled")


def _claim(column, **values) -> bool:
    """Compare-and-set on the user's row: set ``values`` where ``column`` is set.

    :return: True for the one request that changed the row.
    """
    return db.session.execute(
        sa.update(User).where(User.id == signed_in_user().id, column.is_not(None)).values(**values)
        .execution_options(synchronize_session="fetch")
    ).rowcount == 1


def _confirm_app(state, form):
    """A right code from the new key turns the app on (or moves it to that key)."""
    if not flowstate.reauthed(state) or state["step"] != "secret":
        return reauth_again("app")
    user = signed_in_user()
    if appcodes.pending_secret(user) is None:
        if _settled(state):
            return finished(state, DONE["app"](state))
        flowstate.end()
        return section(409, notice=msg.APP_KEY_EXPIRED)
    if not form.validate_on_submit():
        return show(state, "secret", 422, form)
    result = appcodes.confirm_setup(user, form.code.data)
    if not result.ok:
        if _settled(state):  # a parallel submission confirmed the key
            return finished(state, DONE["app"](state))
        form.code.errors.append(result.message)
        return show(state, "secret", status_for(result), form)
    replacing = state.get("replacing")
    kind = "app_replaced" if replacing else "app_enabled"
    accounts.credentials_changed(user, keep_session=session.id)
    events.record(user, kind)
    mail.queue(user, msg.APP_MOVED_SUBJECT if replacing else msg.APP_ENABLED_SUBJECT,
               "app_enabled", replacing=replacing)
    db.session.commit()
    return finished(state, DONE["app"](state), recorded=kind)


def _settled(state: dict) -> bool:
    """True when the account, read again, shows this flow finished (by a
    parallel request of the same click) after its re-authentication."""
    user = signed_in_user()
    db.session.refresh(user)
    if state["flow"] == "app":
        enabled = user.totp_enabled_at
        return enabled is not None and enabled.timestamp() >= state.get("reauth_at", 0) - 1
    return flowstate.TRUE_WHEN_DONE[state["flow"]](user, state)


