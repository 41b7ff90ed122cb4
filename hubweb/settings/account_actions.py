"""The Account section's actions behind one gate (:mod:`.account_gate`):
``/settings/account/<action>`` for ``email``, ``export`` and ``delete``.

The page shows what the gate asks next: "Enter your current password", then
(while two-step verification is on) the second step, at
``/settings/account/<action>/verify`` (a :class:`Place`, purpose
``account``), then the action's own panel (``settings/_account_<action>.html``,
whose views live in :mod:`.email_change`, :mod:`.data_export` and
:mod:`.account_deletion`). Plain POSTs answer 303 (a refused form 422 with the
page); htmx gets the ``#account-action`` fragment.
"""

from __future__ import annotations

from flask import abort, flash, redirect, request, url_for
from flask_login import login_required

from ..auth.forms import EmptyForm, ReauthForm
from ..auth.second_step_views import Place
from ..extensions import limiter
from ..htmx import is_htmx, redirect_to, render
from . import account_gate as gate
from . import messages as msg
from . import reauth
from .blueprint import bp
from .context import signed_in_user

PAGE = "settings/account_action.html"
FRAGMENT = "settings/_account_action.html"

#: action -> ``user -> template context`` of its own panel (filled by the action modules).
PANELS: dict = {}


def page_url(action: str) -> str:
    """The path of ``action``'s page, ``/settings/account/<action>``."""
    return url_for("settings.account_action", action=action)


def _succeeded(step):
    """The right second-factor answer: noted on the gate, then the action's page
    (which asks for the password again when its window closed meanwhile)."""
    record = gate.state(_action())
    if record is not None:
        gate.second_step_given(record)
    return redirect_to(page_url(_action()))


def _action() -> str:
    """The action of this request's URL (``email``, ``export``, ``delete``)."""
    return (request.view_args or {}).get("action", "")


ACCOUNT = Place(purpose="account", page="settings/account_verify.html",
                endpoint="settings.account_verify", succeeded=_succeeded)


def _known(action: str) -> None:
    if action not in gate.ACTIONS:
        abort(404)


def render_action(action: str, status: int = 200, reauth_form=None, **extra):
    """The page (or htmx fragment) of ``action`` at the step the gate is at:
    the password prompt, or the action's panel (``extra`` adds to its context)."""
    user = signed_in_user()
    if gate.cleared(user, action):
        context = {"panel": action, **PANELS[action](user), **extra}
    else:
        context = {"panel": "reauth", "reauth_form": reauth_form or ReauthForm(formdata=None),
                   "reauth_prompt": msg.ACTION_PROMPTS[action], **extra}
    return render(PAGE, FRAGMENT, status, action=action,
                  heading=msg.ACTION_PROMPTS[action][0], **context)


def gate_reply(action: str):
    """The reply to an action's POST whose gate is not open (the password or
    the second step expired): back to the page, which asks again (409 for htmx)."""
    user = signed_in_user()
    if request.method == "GET":
        return redirect(page_url(action), code=303)
    if gate.state(action) is not None and gate.needs_second_step(user, gate.state(action)):
        return redirect_to(url_for("settings.account_verify", action=action))
    if not is_htmx():
        flash(str(msg.REAUTH_AGAIN), "error")
        return redirect_to(page_url(action))
    return render_action(action, 409, notice=msg.REAUTH_AGAIN)


@bp.get("/account/<action>")
@login_required
def account_action(action: str):
    """An action's page: the password prompt, the second step, or its panel."""
    _known(action)
    user, record = signed_in_user(), gate.state(action)
    if record is not None and gate.needs_second_step(user, record):
        return redirect(url_for("settings.account_verify", action=action), code=303)
    return render_action(action)


@bp.post("/account/<action>/password")
@login_required
@limiter.limit("10 per minute")
def account_action_password(action: str):
    """"Enter your current password" for an action; then its second step or panel."""
    _known(action)
    form = ReauthForm()
    reauth_at = reauth.confirm_password(signed_in_user(), form)
    if reauth_at is None:
        return render_action(action, 422, reauth_form=form)
    gate.password_given(action, reauth_at)
    if gate.needs_second_step(signed_in_user(), gate.state(action)):
        return redirect_to(url_for("settings.account_verify", action=action))
    return redirect_to(page_url(action))


def _step(action: str):
    """The second step of this action's gate, or a reply when the password
    must come first (none given, or too old)."""
    _known(action)
    record = gate.state(action)
    if record is None or not signed_in_user().two_step_enabled:
        return None, redirect_to(page_url(action))
    return ACCOUNT.step(signed_in_user(), record.setdefault("step", {})), None


@bp.route("/account/<action>/verify", methods=["GET", "POST"])
@login_required
@limiter.limit("30 per minute", methods=["POST"])
def account_verify(action: str):
    """The second step before an action (the factors' own ``begin``/``verify``)."""
    step, reply = _step(action)
    if reply is not None:
        return reply
    if not gate.needs_second_step(signed_in_user(), gate.state(action)):
        return redirect_to(page_url(action))  # done already (double click, Back)
    return ACCOUNT.code(step)


@bp.get("/account/<action>/verify/resend")
@bp.get("/account/<action>/verify/method")
@login_required
def account_verify_step_page(action: str):
    """"Resend code" or a method switch opened directly: the step."""
    return redirect_to(url_for("settings.account_verify", action=action))


@bp.post("/account/<action>/verify/resend")
@login_required
@limiter.limit("10 per minute")
def account_verify_resend(action: str):
    """Send a new code (the send limits apply)."""
    step, reply = _step(action)
    return reply if reply is not None else ACCOUNT.resend(step)


@bp.post("/account/<action>/verify/method")
@login_required
def account_verify_method(action: str):
    """Switch factor ("Use SMS", "Use authenticator app")."""
    step, reply = _step(action)
    return reply if reply is not None else ACCOUNT.choose(step)


@bp.post("/account/<action>/cancel")
@login_required
def account_action_cancel(action: str):
    """Leave an action: nothing changes; back to the settings page."""
    _known(action)
    if not EmptyForm().validate_on_submit():
        abort(400)
    gate.end()
    return redirect_to(url_for("settings.account"))
