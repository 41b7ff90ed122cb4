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
finished answers with what is now true (issue 11, rules 1 and 2). Without
JavaScript every POST answers 303 to the settings page, which shows the step.
Leaving half-way changes nothing. Every change records a security event and
emails the user.
"""

from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa
from flask import abort, current_app, session, url_for
from flask_login import current_user, login_required

from .. import events, mail, passwords
from ..auth.forms import CodeForm, EmptyForm, PhoneForm, ReauthForm
from ..extensions import db, limiter
from ..htmx import done, is_htmx, redirect_to, render
from ..models import User
from ..sessions import end_user_sessions
from ..timeutil import utcnow
from ..twostep import appcodes, smscodes
from ..twostep import messages as msg
from ..twostep.keys import group_secret
from ..twostep.models import SmsCode
from ..twostep.phone import PhoneError, format_international, mask_phone, parse_phone
from ..twostep.qr import qr_image
from . import bp
from . import flow as flowstate
from .routes import PAGE, settings_context

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
MAX_ACCOUNTS_PER_NUMBER = 5
#: A refused resend within this many seconds of a sent code is a repeated
#: click: it answers "We sent a new code" (the one just sent).
RESEND_REPEAT_SECONDS = 10


def _here() -> str:
    """Where a plain POST of a step answers 303 to. No ``#two-step-verification``:
    a URL fragment turns off ``autofocus`` (HTML, "flush autofocus candidates"),
    and the focused field of the step scrolls into view by itself."""
    return url_for("settings.account")


def _user() -> User:
    return current_user._get_current_object()


@bp.get("/two-step/cancel")
@bp.get("/two-step/<flow>/<step>")
@login_required
def two_step_step_page(flow: str | None = None, step: str | None = None):
    """A step's URL opened directly (bookmark, Back without JavaScript): the
    settings page, which shows the step the flow is at."""
    return redirect_to(_here())


@bp.post("/two-step/<flow>/start")
@login_required
def two_step_start(flow: str):
    """First panel of every flow: "Enter your current password"."""
    if flow not in FLOWS:
        abort(404)
    if not ALLOWED[flow](_user()):
        return _overtaken(flow)
    return _show(flowstate.begin(flow), "reauth")


@bp.post("/two-step/<flow>/password")
@login_required
@limiter.limit("10 per minute")
def two_step_password(flow: str):
    """Check the current password, then show the flow's next panel."""
    late = _late(flow)
    if late is not None:
        return late
    state, form = _live(flow) or flowstate.begin(flow), ReauthForm()
    if not form.validate_on_submit() or not passwords.verify_password(
        _user().password_hash, form.password.data
    ):
        if form.password.data:
            form.password.errors.append(msg.WRONG_PASSWORD)
        return _show(state, "reauth", 422, form)
    if flow == "disable":
        return _disable(state)
    if flow == "app_disable":
        return _disable_app(state)
    now = time.time()
    if flow == "app":
        appcodes.start_setup(_user())
        return _show(flowstate.move(state, "secret", reauth_at=now,
                               replacing=_user().totp_enabled), "secret")
    keep_code = state["step"] == "code" and flowstate.reauthed(state)  # a second "Continue"
    return _show(flowstate.move(state, "code" if keep_code else "phone", reauth_at=now),
                 "code" if keep_code else "phone")


@bp.post("/two-step/<flow>/phone")
@login_required
def two_step_phone(flow: str):
    """Read the number, check it may be used, and send a code to it."""
    late = _late(flow)
    if late is not None:
        return late
    state, form = _live(flow), PhoneForm()
    if not flowstate.reauthed(state) or flow not in SMS_FLOWS:
        return _reauth_again(flow)
    if not form.validate_on_submit():
        return _show(state, "phone", 422, form)
    try:
        phone = parse_phone(form.phone.data, current_app.config["PHONE_DEFAULT_REGION"])
    except PhoneError as exc:
        form.phone.errors.append(str(exc))
        return _show(state, "phone", 422, form)
    if state["step"] == "code" and state.get("phone") == phone:
        return _show(state, "code")  # sent already (a second click): no new SMS
    problem = _phone_problem(phone)
    if problem:
        form.phone.errors.append(problem)
        return _show(state, "phone", 422, form)
    result = smscodes.send_code(_user(), phone, FLOWS[flow])
    if not result.ok and not _code_sent_since(phone, FLOWS[flow], state["reauth_at"]):
        form.phone.errors.append(result.message)
        return _show(state, "phone", smscodes.reply_status(result), form)
    return _show(flowstate.move(state, "code", phone=phone), "code")


def _phone_problem(phone: str) -> str | None:
    """Why ``phone`` cannot be this account's 2SV number, or ``None``."""
    user = _user()
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
        .where(SmsCode.user_id == _user().id, SmsCode.phone == phone,
               SmsCode.purpose == purpose, SmsCode.used_at.is_(None),
               SmsCode.expires_at > now, SmsCode.created_at >= sent_after)
    ) > 0


@bp.post("/two-step/<flow>/resend")
@login_required
def two_step_resend(flow: str):
    """Send a new code to the number being verified."""
    late = _late(flow)
    if late is not None:
        return late
    state = _live(flow)
    if (not flowstate.reauthed(state) or "phone" not in state
            or not EmptyForm().validate_on_submit()):
        return _reauth_again(flow)
    result = smscodes.send_code(_user(), state["phone"], FLOWS[flow])
    if not result.ok and _code_sent_since(state["phone"], FLOWS[flow],
                                          time.time() - RESEND_REPEAT_SECONDS):
        result = smscodes.Result()  # a second click: the code just sent is the new one
    return _show(state, "code", smscodes.reply_status(result),
                 notice=None if result.ok else result.message, resent=result.ok)


@bp.post("/two-step/<flow>/code")
@login_required
def two_step_code(flow: str):
    """The right code turns SMS 2SV on, or switches the number."""
    late = _late(flow)
    if late is not None:
        return late
    state, form = _live(flow), CodeForm()
    if flow == "app":
        return _confirm_app(state, form)
    if not flowstate.reauthed(state) or "phone" not in state:
        return _reauth_again(flow)
    phone = state["phone"]
    if flowstate.TRUE_WHEN_DONE[flow](_user(), state):  # a parallel click finished it
        return _done(state, _DONE[flow](state))
    if not form.validate_on_submit():
        return _show(state, "code", 422, form)
    problem = _phone_problem(phone)
    if problem:  # another account took the last place for this number meanwhile
        return _show(state, "code", 409, form, notice=problem)
    result = smscodes.check_code(_user(), phone, FLOWS[flow], form.code.data)
    if not result.ok:
        if _settled(state):  # a parallel submission of the same code won
            return _done(state, _DONE[flow](state))
        form.code.errors.append(result.message)
        return _show(state, "code", smscodes.reply_status(result), form)
    user = _user()
    user.sms_phone, user.sms_enabled_at = phone, user.sms_enabled_at or utcnow()
    kind = "sms_enabled" if flow == "sms" else "phone_changed"
    events.record(user, kind)
    db.session.commit()
    subject = ("Two-step verification is on" if flow == "sms"
               else "Your phone number for two-step verification changed")
    mail.notify(user, subject, f"two_step_{flow}", phone=mask_phone(phone))
    return _done(state, _DONE[flow](state), recorded=kind)


@bp.post("/two-step/cancel")
@login_required
def two_step_cancel():
    """Leave a flow half-way: nothing changes."""
    flowstate.end()
    return _section()


#: flow -> its finished state's sentence, given its record.
_DONE = {
    "sms": lambda s: msg.SMS_ENABLED,
    "phone": lambda s: msg.PHONE_CHANGED,
    "disable": lambda s: msg.TWO_STEP_DISABLED,
    "app": lambda s: msg.APP_REPLACED if s.get("replacing") else msg.APP_ENABLED,
    "app_disable": lambda s: msg.APP_DISABLED,
}


def _disable(state: dict):
    """Turn 2SV off (both methods), end the other sessions, tell the user.

    The first of two parallel submissions turns it off (a conditional UPDATE);
    the other answers with the same outcome, recording and emailing nothing.
    """
    user = _user()
    if not _claim(User.sms_enabled_at, sms_enabled_at=None, sms_phone=None):
        return _done(state, msg.TWO_STEP_DISABLED)
    appcodes.disable(user)  # the app is only ever on top of SMS
    end_user_sessions(user.id, keep=session.id)
    events.record(user, "two_step_disabled")
    db.session.commit()
    mail.notify(user, "Two-step verification was turned off", "two_step_disabled")
    return _done(state, msg.TWO_STEP_DISABLED, recorded="two_step_disabled",
                 sessions_changed=True)


def _disable_app(state: dict):
    """Turn the authenticator app off; SMS stays on (first submission only)."""
    user = _user()
    if not _claim(User.totp_enabled_at, totp_enabled_at=None):
        return _done(state, msg.APP_DISABLED)
    appcodes.disable(user)
    events.record(user, "app_disabled")
    db.session.commit()
    mail.notify(user, "Your authenticator app was turned off", "app_disabled")
    return _done(state, msg.APP_DISABLED, recorded="app_disabled")


def _claim(column, **values) -> bool:
    """Compare-and-set on the user's row: set ``values`` where ``column`` is set.

    :return: True for the one request that changed the row.
    """
    return db.session.execute(
        sa.update(User).where(User.id == _user().id, column.is_not(None)).values(**values)
        .execution_options(synchronize_session="fetch")
    ).rowcount == 1


def _confirm_app(state, form):
    """A right code from the new key turns the app on (or moves it to that key)."""
    if not flowstate.reauthed(state) or state["step"] != "secret":
        return _reauth_again("app")
    user = _user()
    if appcodes.pending_secret(user) is None:
        if _settled(state):
            return _done(state, _DONE["app"](state))
        flowstate.end()
        return _section(409, notice=msg.APP_KEY_EXPIRED)
    if not form.validate_on_submit():
        return _show(state, "secret", 422, form)
    result = appcodes.confirm_setup(user, form.code.data)
    if not result.ok:
        if _settled(state):  # a parallel submission confirmed the key
            return _done(state, _DONE["app"](state))
        form.code.errors.append(result.message)
        return _show(state, "secret", smscodes.reply_status(result), form)
    kind = "app_replaced" if state.get("replacing") else "app_enabled"
    events.record(user, kind)
    db.session.commit()
    mail.notify(user, "An authenticator app was set up for your account", "app_enabled",
                replacing=state.get("replacing"))
    return _done(state, _DONE["app"](state), recorded=kind)


def _settled(state: dict) -> bool:
    """True when the account, read again, shows this flow finished (by a
    parallel request of the same click) after its re-authentication."""
    user = _user()
    db.session.refresh(user)
    if state["flow"] == "app":
        enabled = user.totp_enabled_at
        return enabled is not None and enabled.timestamp() >= state.get("reauth_at", 0) - 1
    return flowstate.TRUE_WHEN_DONE[state["flow"]](user, state)


# --- replies ---------------------------------------------------------------------

def _live(name: str) -> dict | None:
    """This flow's state while under way (not finished, not expired)."""
    state = flowstate.current(name)
    return state if state and state["step"] != "done" else None


def _late(name: str):
    """The reply to a step of ``name`` that can no longer go on, or ``None``.

    A flow that finished (its outcome still true) answers with that outcome, as
    its last step did; a flow the account has moved past (another tab or
    session changed it) shows the section as it now is.
    """
    if name not in FLOWS:
        abort(404)
    state = flowstate.current(name)
    if flowstate.finished_truly(state, _user()):
        return _done(state, state["message"])
    if not ALLOWED[name](_user()):
        if state is not None and flowstate.TRUE_WHEN_DONE[name](_user(), state):
            # A parallel request of the same click finished it (its session
            # write may not have landed yet): the same outcome.
            return _done(state, _DONE[name](state))
        return _overtaken(name)
    return None


def _overtaken(name: str):
    """The account is past this flow: show the section as it is (409)."""
    if flowstate.current(name) is not None:
        flowstate.end()
    return _section(409)


def _done(state: dict, message: str, *, recorded: str | None = None,
          sessions_changed: bool = False):
    """A flow finished: the section (with the new activity row and, when other
    sessions ended, the sessions list, out of band) for htmx; else a 303 to the
    settings page with ``message`` flashed.

    :param recorded: the kind of security event this request recorded; none
        for a repeated submission, which changed nothing.
    """
    flowstate.finish(state, message)
    return done(PAGE, FRAGMENT, message, url_for("settings.account"),
                **settings_context(done=message, new_kind=recorded,
                                   sessions_changed=sessions_changed))


def _show(state: dict, panel: str, status: int = 200, form=None, *,
          notice: str | None = None, resent: bool = False):
    """The ``panel`` of the flow in ``state``: the fragment for htmx; without
    JavaScript a 303 to the settings page, which shows it (and ``form``'s errors)."""
    if not is_htmx():
        flowstate.stash(panel, status, form, notice=notice, resent=resent)
        return redirect_to(_here())
    return render(PAGE, FRAGMENT, status, **settings_context(
        **panel_context(panel, state, form), notice=notice, resent=resent))


def _section(status: int = 200, notice: str | None = None):
    """The section without a flow (after Cancel, or when a flow cannot go on)."""
    if not is_htmx():
        flowstate.stash(None, status, notice=notice)
        return redirect_to(_here())
    return render(PAGE, FRAGMENT, status, **settings_context(notice=notice))


def _reauth_again(name: str):
    """A step whose re-authentication expired asks for the password again (409);
    with no flow under way (cancelled, or never started) the section shows as it is."""
    state = session.get("two_step")
    if not state or state.get("flow") != name or state.get("step") == "done":
        return _section(409)
    return _show(flowstate.begin(name), "reauth", 409, notice=msg.REAUTH_EXPIRED)


# --- what a panel shows ------------------------------------------------------------

def panel_context(panel: str | None, state: dict | None, form=None) -> dict:
    """Template context of ``panel`` for the flow in ``state`` (``{}`` for none).

    :param form: the submitted form (with its errors); a blank one otherwise.
    """
    if panel is None or state is None:
        return {}
    name = state["flow"]
    if panel == "reauth":
        return {"panel": panel, "flow": name, "reauth_form": form or ReauthForm(formdata=None)}
    if panel == "phone":
        return {"panel": panel, "flow": name, "phone_form": form or PhoneForm(formdata=None)}
    if panel == "code":
        phone = state["phone"]
        step = {"masked_phone": mask_phone(phone), "international": format_international(phone)}
        return {"panel": panel, "flow": name, "code_form": form or CodeForm(formdata=None),
                "step": step}
    return secret_context(form or CodeForm(formdata=None))


def secret_context(form) -> dict:
    """What the secret key panel shows: key (grouped and plain), QR code, URI;
    ``{}`` when no key is being set up (it expired)."""
    user = _user()
    secret = appcodes.pending_secret(user)
    if secret is None:
        return {}
    uri = appcodes.uri_for(user, secret)
    return {"panel": "secret", "flow": "app", "code_form": form, "secret": secret,
            "secret_grouped": group_secret(secret), "uri": uri, "qr": qr_image(uri)}


_FORMS = {"reauth": ReauthForm, "phone": PhoneForm, "code": CodeForm, "secret": CodeForm}


def current_view() -> tuple[dict, int]:
    """What the settings page shows in the section on a GET: the step the flow
    is at (with the errors of the POST that led here, once), and its status.

    :return: ``(template context, HTTP status)``.
    """
    view, state = flowstate.take() or {}, flowstate.current()
    if state is not None and not (ALLOWED[state["flow"]](_user()) or state["step"] == "done"):
        flowstate.end()  # another session moved the account past this flow
        state = None
    step = state["step"] if state and state["step"] != "done" else None
    panel = view.get("panel", step) if view else step
    if panel not in (None, "reauth") and not flowstate.reauthed(state):
        panel = None
    form = None
    if panel:
        form = _FORMS[panel](formdata=None, data={"phone": view.get("phone")})
        for field, errors in (view.get("errors") or {}).items():
            if field in form._fields:
                form[field].errors = list(errors)
    context = panel_context(panel, state, form)
    if panel == "secret" and not context:
        flowstate.end()  # the key expired
    return ({**context, "notice": view.get("notice"), "resent": view.get("resent")},
            view.get("status", 200))
