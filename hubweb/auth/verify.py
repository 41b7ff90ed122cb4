"""The second step of sign-in (``/sign-in/verify``) and the half-signed-in guard.

After the right password a user with two-step verification is only half
signed in (session state ``pending``, at most 10 minutes). That session
reaches nothing but the endpoints in :data:`PENDING_ALLOWED`; every other
request is sent to ``/sign-in/verify`` (``HX-Redirect`` for htmx).
"""

from __future__ import annotations

from flask import redirect, request, session, url_for

from ..extensions import limiter
from ..htmx import is_htmx, redirect_to, render
from ..sessions import PENDING, SIGNED_IN
from ..twostep import smscodes
from . import bp, flows
from .forms import CodeForm, EmptyForm
from .second_step import SecondStep

#: What a half-signed-in session may reach. The development outbox is there so
#: a developer can read the code; it does not exist with real backends.
PENDING_ALLOWED = frozenset(
    {"auth.verify", "auth.verify_resend", "auth.verify_method", "auth.verify_step_page",
     "auth.sign_out", "static", "outbox.index"}
)


@bp.before_app_request
def pending_guard():
    """Keep a half-signed-in session on the second step."""
    if session.state == PENDING and request.endpoint not in PENDING_ALLOWED:
        return redirect_to(url_for("auth.verify"))
    return None


def left_second_step():
    """The reply to a second-step POST whose session is no longer half signed in,
    or ``None``: signed in (the sign-in finished; the form still carried the
    half-signed-in session's CSRF token) goes home, anything else to sign-in.

    :func:`hubweb.errors` asks this before refusing such a POST's CSRF token,
    so a code sent again after success lands where the person now is (issue
    11, rule 1) instead of on "This form has expired".
    """
    if request.endpoint not in {"auth.verify", "auth.verify_resend", "auth.verify_method"}:
        return None
    if session.state == SIGNED_IN:
        return redirect_to(url_for("views.home"))
    if session.state != PENDING:
        return redirect_to(url_for("auth.sign_in"))
    return None


def _step() -> SecondStep:
    state = session.setdefault("verify", {})
    return SecondStep(session.user, state, "sign_in")


@bp.route("/sign-in/verify", methods=["GET", "POST"])
@limiter.limit("30 per minute", methods=["POST"])
def verify():
    """Ask for the one-time code; the right one completes the sign-in.

    A code sent again after the sign-in completed (double click, Back then
    resubmit) goes where the person now is: signed in, at the home page
    (issue 11, rule 1). A plain POST that is refused answers 303 to this page,
    which shows the refusal once (rule 2).
    """
    if session.state == SIGNED_IN:
        return redirect_to(url_for("views.home"))
    if session.state != PENDING:
        return redirect(url_for("auth.sign_in"))
    step, form = _step(), CodeForm()
    if request.method == "GET":
        sent, view = step.begin(), step.take()
        form.code.errors = view.get("errors", [])
        return _render(step, form, status=view.get("status", 200),
                       notice=view.get("notice") or sent.alert, send=sent,
                       resent=view.get("resent", False))
    if not form.validate_on_submit():
        return _reply(step, form, status=422)
    result = step.verify(form.code.data)
    if not result.ok:
        form.code.errors.append(result.message)
        return _reply(step, form, status=smscodes.reply_status(result))
    return redirect_to(flows.after_second_step(session.user))


@bp.get("/sign-in/verify/resend")
@bp.get("/sign-in/verify/method")
def verify_step_page():
    """The URL of "Resend code" or a method switch opened directly: the step."""
    return redirect_to(url_for("auth.verify"))


@bp.post("/sign-in/verify/resend")
@limiter.limit("10 per minute")
def verify_resend():
    """Send a new SMS code (the send limits of hubweb.twostep.sendlimits apply)."""
    if session.state != PENDING:
        return redirect_to(url_for("auth.sign_in"))
    step = _step()
    if not EmptyForm().validate_on_submit():
        return _reply(step, CodeForm(formdata=None), status=400)
    result = step.resend()
    return _reply(step, CodeForm(formdata=None), status=smscodes.reply_status(result),
                  notice=result.alert, send=result, resent=result.ok)


@bp.post("/sign-in/verify/method")
def verify_method():
    """Switch between "Use authenticator app" and "Use SMS" (field ``method``)."""
    if session.state != PENDING:
        return redirect_to(url_for("auth.sign_in"))
    step = _step()
    if not EmptyForm().validate_on_submit():
        return _reply(step, CodeForm(formdata=None), status=400)
    try:
        result = step.choose(request.form.get("method", ""))
    except ValueError:
        return _reply(step, CodeForm(formdata=None), status=422,
                      notice="Choose the authenticator app or SMS.")
    # Switched; a refused send (limit, gateway) still says so in the status.
    return _reply(step, CodeForm(formdata=None), status=smscodes.reply_status(result),
                  notice=result.alert, send=result)


def _reply(step, form, status=200, **context):
    """The ``#second-step`` fragment for htmx; a plain POST answers 303 to the
    step's page, which shows this reply once (:meth:`SecondStep.stash`)."""
    if is_htmx():
        return _render(step, form, status, **context)
    step.stash(status, form.code.errors, notice=context.get("notice"),
               resent=context.get("resent", False),
               held=getattr(context.get("send"), "held", False))
    return redirect_to(url_for("auth.verify"))


def _render(step, form, status=200, **context):
    """The whole page, or the ``#second-step`` fragment for htmx."""
    return render(
        "auth/verify.html", "twostep/_second_step.html", status, step=step, form=form,
        code_action=url_for("auth.verify"), resend_action=url_for("auth.verify_resend"),
        method_action=url_for("auth.verify_method"), **context)
