"""The Two-step verification section of User account settings.

Three flows, each a short sequence of panels that htmx swaps into
``#two-step`` inside the section ``#two-step-verification`` (the fragment is
``_two_step_body.html``: the section's inside, its forms without hidden CSRF
fields), and plain forms in whole pages without JavaScript:

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

Flow state (re-authentication time, the number being verified) lives in the
server session; leaving half-way changes nothing. Every change records a
security event, raises the credential version and ends sessions that fall
short (:func:`hubweb.accounts.credentials_changed`), and emails the user.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from flask import abort, current_app, session, url_for
from flask_login import current_user, login_required

from .. import accounts, events, mail, passwords
from ..auth.forms import CodeForm, EmptyForm, PhoneForm, ReauthForm
from ..extensions import db, limiter
from ..htmx import done, render
from ..models import User
from ..sessions import end_user_sessions
from ..timeutil import utcnow
from ..twostep import appcodes, smscodes
from ..twostep import messages as msg
from ..twostep.keys import group_secret
from ..twostep.phone import PhoneError, format_international, mask_phone, parse_phone
from ..twostep.qr import qr_image
from . import bp
from .routes import PAGE, offer_sign_out, settings_context

FRAGMENT = "settings/_two_step_body.html"
#: flow -> the SMS code purpose it sends (None: it sends no SMS).
FLOWS = {"sms": "setup", "phone": "change_phone", "disable": None, "app": None,
         "app_disable": None}
#: flow -> may it start, given the account's state?
ALLOWED = {
    "sms": lambda u: not u.sms_enabled,
    "phone": lambda u: u.sms_enabled,
    "disable": lambda u: u.sms_enabled,
    "app": lambda u: u.sms_enabled,
    "app_disable": lambda u: u.totp_enabled,
}
SMS_FLOWS = ("sms", "phone")
REAUTH_SECONDS = 600  # a re-authentication is good for 10 minutes of one flow
MAX_ACCOUNTS_PER_NUMBER = 5


def _reply(panel: str | None = None, status: int = 200, **context):
    return render(PAGE, FRAGMENT, status, **settings_context(panel=panel, **context))


def _done(message: str):
    """A flow finished: the section for htmx, else 303 to the settings page;
    either says how many other sessions are signed in (offer_sign_out)."""
    offer_sign_out("two-step")
    return done(PAGE, FRAGMENT, message, url_for("settings.account"),
                **settings_context(done=message))


def _flow(flow: str) -> None:
    """404 for an unknown flow; 409 when the flow does not fit the account's state."""
    if flow not in FLOWS:
        abort(404)
    if not ALLOWED[flow](current_user):
        abort(409)


def _state(flow: str) -> dict | None:
    """This flow's state if its re-authentication is recent enough."""
    state = session.get("two_step")
    if not state or state.get("flow") != flow:
        return None
    if time.time() - state.get("reauth_at", 0) > REAUTH_SECONDS:
        return None
    return state


@bp.post("/two-step/<flow>/start")
@login_required
def two_step_start(flow: str):
    """First panel of every flow: "Enter your current password"."""
    _flow(flow)
    session.pop("two_step", None)
    return _reply("reauth", flow=flow, reauth_form=ReauthForm(formdata=None))


@bp.post("/two-step/<flow>/password")
@login_required
@limiter.limit("10 per minute")
def two_step_password(flow: str):
    """Check the current password, then show the flow's next panel."""
    _flow(flow)
    form = ReauthForm()
    if not form.validate_on_submit() or not passwords.verify_password(
        current_user.password_hash, form.password.data
    ):
        if form.password.data:
            form.password.errors.append(msg.WRONG_PASSWORD)
        return _reply("reauth", 422, flow=flow, reauth_form=form)
    if flow == "disable":
        return _disable()
    if flow == "app_disable":
        return _disable_app()
    session["two_step"] = {"flow": flow, "reauth_at": time.time()}
    if flow == "app":
        return _secret_panel(CodeForm(formdata=None))
    return _reply("phone", flow=flow, phone_form=PhoneForm(formdata=None))


@bp.post("/two-step/<flow>/phone")
@login_required
def two_step_phone(flow: str):
    """Read the number, check it may be used, and send a code to it."""
    _flow(flow)
    state, form = _state(flow), PhoneForm()
    if state is None or flow not in SMS_FLOWS:
        return _reauth_again(flow)
    if not form.validate_on_submit():
        return _reply("phone", 422, flow=flow, phone_form=form)
    try:
        phone = parse_phone(form.phone.data, current_app.config["PHONE_DEFAULT_REGION"])
    except PhoneError as exc:
        form.phone.errors.append(str(exc))
        return _reply("phone", 422, flow=flow, phone_form=form)
    problem = _phone_problem(phone)
    if problem:
        form.phone.errors.append(problem)
        return _reply("phone", 422, flow=flow, phone_form=form)
    result = smscodes.send_code(current_user, phone, FLOWS[flow])
    if not result.ok:
        form.phone.errors.append(result.message)
        return _reply("phone", smscodes.reply_status(result),
                      flow=flow, phone_form=form)
    session["two_step"] = {**state, "phone": phone}
    return _code_panel(flow, phone, CodeForm(formdata=None))


def _phone_problem(phone: str) -> str | None:
    """Why ``phone`` cannot be this account's 2SV number, or ``None``."""
    if current_user.sms_enabled and current_user.sms_phone == phone:
        return msg.PHONE_SAME
    others = db.session.scalar(
        sa.select(sa.func.count()).select_from(User)
        .where(User.sms_phone == phone, User.sms_enabled_at.is_not(None))
        .where(User.id != current_user.id)
    )
    return msg.PHONE_IN_USE if others >= MAX_ACCOUNTS_PER_NUMBER else None


@bp.post("/two-step/<flow>/resend")
@login_required
def two_step_resend(flow: str):
    """Send a new code to the number being verified."""
    _flow(flow)
    state = _state(flow)
    if state is None or "phone" not in state or not EmptyForm().validate_on_submit():
        return _reauth_again(flow)
    result = smscodes.send_code(current_user, state["phone"], FLOWS[flow])
    return _code_panel(flow, state["phone"], CodeForm(formdata=None),
                       status=smscodes.reply_status(result),
                       notice=None if result.ok else result.message, resent=result.ok)


@bp.post("/two-step/<flow>/code")
@login_required
def two_step_code(flow: str):
    """The right code turns SMS 2SV on, or switches the number."""
    _flow(flow)
    state, form = _state(flow), CodeForm()
    if flow == "app":
        return _confirm_app(state, form)
    if state is None or "phone" not in state:
        return _reauth_again(flow)
    phone = state["phone"]
    if not form.validate_on_submit():
        return _code_panel(flow, phone, form, status=422)
    problem = _phone_problem(phone)
    if problem:  # another account took the last place for this number meanwhile
        return _code_panel(flow, phone, form, status=409, notice=problem)
    result = smscodes.check_code(current_user, phone, FLOWS[flow], form.code.data)
    if not result.ok:
        form.code.errors.append(result.message)
        return _code_panel(flow, phone, form, status=smscodes.reply_status(result))
    user = current_user._get_current_object()
    user.sms_phone, user.sms_enabled_at = phone, user.sms_enabled_at or utcnow()
    accounts.credentials_changed(user, keep_session=session.id)
    events.record(user, "sms_enabled" if flow == "sms" else "phone_changed")
    session.pop("two_step", None)
    subject = ("Two-step verification is on" if flow == "sms"
               else "Your phone number for two-step verification changed")
    mail.queue(user, subject, f"two_step_{flow}", phone=mask_phone(phone))
    db.session.commit()
    return _done(msg.SMS_ENABLED if flow == "sms" else msg.PHONE_CHANGED)


@bp.post("/two-step/cancel")
@login_required
def two_step_cancel():
    """Leave a flow half-way: nothing changes."""
    session.pop("two_step", None)
    return _reply()


def _disable():
    """Turn 2SV off (both methods), end the other sessions, tell the user."""
    user = current_user._get_current_object()
    user.sms_phone = user.sms_enabled_at = None
    appcodes.disable(user)  # the app is only ever on top of SMS
    accounts.credentials_changed(user, keep_session=session.id)
    end_user_sessions(user.id, keep=session.id)
    events.record(user, "two_step_disabled")
    session.pop("two_step", None)
    mail.queue(user, "Two-step verification was turned off", "two_step_disabled")
    db.session.commit()
    return _done(msg.TWO_STEP_DISABLED)


def _disable_app():
    """Turn the authenticator app off; SMS stays on."""
    user = current_user._get_current_object()
    appcodes.disable(user)
    accounts.credentials_changed(user, keep_session=session.id)
    events.record(user, "app_disabled")
    session.pop("two_step", None)
    mail.queue(user, "Your authenticator app was turned off", "app_disabled")
    db.session.commit()
    return _done(msg.APP_DISABLED)


def _secret_panel(form, status=200, **context):
    """The secret key panel: the same pending key until it expires or is confirmed."""
    return render(PAGE, FRAGMENT, status, **settings_context(**secret_context(form), **context))


def secret_context(form) -> dict:
    """What the secret key panel shows: key (grouped and plain), QR code, URI."""
    user = current_user._get_current_object()
    secret = appcodes.start_setup(user)
    uri = appcodes.uri_for(user, secret)
    return {"panel": "secret", "flow": "app", "code_form": form, "secret": secret,
            "secret_grouped": group_secret(secret), "uri": uri, "qr": qr_image(uri)}


def resumed_panel() -> dict:
    """On a reload of the settings page during "Get secret key", the same key panel.

    :return: template context for the panel, or ``{}`` when no set-up is under way.
    """
    user = current_user._get_current_object()
    if _state("app") is None or appcodes.pending_secret(user) is None:
        return {}
    return secret_context(CodeForm(formdata=None))


def _confirm_app(state, form):
    """A right code from the new key turns the app on (or moves it to that key)."""
    if state is None:
        return _reauth_again("app")
    user = current_user._get_current_object()
    if appcodes.pending_secret(user) is None:
        session.pop("two_step", None)
        return _reply(notice=msg.APP_KEY_EXPIRED, status=409)
    if not form.validate_on_submit():
        return _secret_panel(form, 422)
    replacing = user.totp_enabled
    result = appcodes.confirm_setup(user, form.code.data)
    if not result.ok:
        form.code.errors.append(result.message)
        return _secret_panel(form, smscodes.reply_status(result))
    accounts.credentials_changed(user, keep_session=session.id)
    events.record(user, "app_replaced" if replacing else "app_enabled")
    session.pop("two_step", None)
    mail.queue(user, msg.APP_MOVED_SUBJECT if replacing else msg.APP_ENABLED_SUBJECT,
               "app_enabled", replacing=replacing)
    db.session.commit()
    return _done(msg.APP_REPLACED if replacing else msg.APP_ENABLED)


def _code_panel(flow, phone, form, status=200, **context):
    step = {"masked_phone": mask_phone(phone), "international": format_international(phone)}
    return _reply("code", status, flow=flow, code_form=form, step=step, **context)


def _reauth_again(flow: str):
    session.pop("two_step", None)
    form = ReauthForm(formdata=None)
    return _reply("reauth", 409, flow=flow, reauth_form=form, notice=msg.REAUTH_EXPIRED)

