"""What the Two-step verification section answers: the step panels, a
finished flow, the section as it is, and what a GET of the settings page shows.

With htmx the reply is the fragment ``_two_step_body.html``; without
JavaScript a 303 to the settings page, whose GET shows the step
(:func:`current_view`; issue 11, rule 2). The views are in :mod:`.two_step`.
"""

from __future__ import annotations

from flask import abort, session, url_for
from flask_login import current_user

from ..auth.forms import CodeForm, PhoneForm, ReauthForm
from ..htmx import done, is_htmx, redirect_to, render
from ..models import User
from ..twostep import appcodes
from ..twostep import messages as msg
from ..twostep.keys import group_secret
from ..twostep.phone import format_international, mask_phone
from ..twostep.qr import qr_image
from . import flow as flowstate
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
#: flow -> its finished state's sentence, given its record.
DONE = {
    "sms": lambda s: msg.SMS_ENABLED,
    "phone": lambda s: msg.PHONE_CHANGED,
    "disable": lambda s: msg.TWO_STEP_DISABLED,
    "app": lambda s: msg.APP_REPLACED if s.get("replacing") else msg.APP_ENABLED,
    "app_disable": lambda s: msg.APP_DISABLED,
}


def here() -> str:
    """Where a plain POST of a step answers 303 to. No ``#two-step-verification``:
    a URL fragment turns off ``autofocus`` (HTML, "flush autofocus candidates"),
    and the focused field of the step scrolls into view by itself."""
    return url_for("settings.account")


def signed_in_user() -> User:
    return current_user._get_current_object()


# --- replies ---------------------------------------------------------------------

def live(name: str) -> dict | None:
    """This flow's state while under way (not finished, not expired)."""
    state = flowstate.current(name)
    return state if state and state["step"] != "done" else None


def late_reply(name: str):
    """The reply to a step of ``name`` that can no longer go on, or ``None``.

    A flow that finished (its outcome still true) answers with that outcome, as
    its last step did; a flow the account has moved past (another tab or
    session changed it) shows the section as it now is.
    """
    if name not in FLOWS:
        abort(404)
    state = flowstate.current(name)
    if flowstate.finished_truly(state, signed_in_user()):
        return finished(state, state["message"])
    if not ALLOWED[name](signed_in_user()):
        if state is not None and flowstate.TRUE_WHEN_DONE[name](signed_in_user(), state):
            # A parallel request of the same click finished it (its session
            # write may not have landed yet): the same outcome.
            return finished(state, DONE[name](state))
        return overtaken(name)
    return None


def overtaken(name: str):
    """The account is past this flow: show the section as it is (409)."""
    if flowstate.current(name) is not None:
        flowstate.end()
    return section(409)


def finished(state: dict, message: str, *, recorded: str | None = None,
          sessions_changed: bool = False):
    """A flow finished: the section (with the new activity row and, when other
    sessions ended, the sessions list, out of band) for htmx; else a 303 to the
    settings page with ``message`` flashed.

    :param recorded: the kind of security event this request recorded; none
        for a repeated submission, which changed nothing.
    """
    flowstate.finish(state, message)
    offer_sign_out("two-step")
    return done(PAGE, FRAGMENT, message, url_for("settings.account"),
                **settings_context(done=message, new_kind=recorded,
                                   sessions_changed=sessions_changed))


def show(state: dict, panel: str, status: int = 200, form=None, *,
          notice: str | None = None, resent: bool = False):
    """The ``panel`` of the flow in ``state``: the fragment for htmx; without
    JavaScript a 303 to the settings page, which shows it (and ``form``'s errors)."""
    if not is_htmx():
        flowstate.stash(panel, status, form, notice=notice, resent=resent)
        return redirect_to(here())
    return render(PAGE, FRAGMENT, status, **settings_context(
        **panel_context(panel, state, form), notice=notice, resent=resent))


def section(status: int = 200, notice: str | None = None):
    """The section without a flow (after Cancel, or when a flow cannot go on)."""
    if not is_htmx():
        flowstate.stash(None, status, notice=notice)
        return redirect_to(here())
    return render(PAGE, FRAGMENT, status, **settings_context(notice=notice))


def reauth_again(name: str):
    """A step whose re-authentication expired asks for the password again (409);
    with no flow under way (cancelled, or never started) the section shows as it is."""
    state = session.get("two_step")
    if not state or state.get("flow") != name or state.get("step") == "done":
        return section(409)
    return show(flowstate.begin(name), "reauth", 409, notice=msg.REAUTH_EXPIRED)


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
    user = signed_in_user()
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
    moved_on = state is not None and not ALLOWED[state["flow"]](signed_in_user())
    if moved_on and state["step"] != "done":
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
