"""The second step of sign-in: ``/sign-in/verify``, its "Resend code" and
method switch (the handlers: :mod:`hubweb.auth.second_step_views`; the
half-signed-in state and its guard: :mod:`hubweb.auth.half_signed_in`).

A code sent again after the sign-in completed (double click, Back then
resubmit) goes where the person now is: signed in, at the home page (a step done
twice ends in the truthful state).
"""

from __future__ import annotations

from flask import flash, redirect, session, url_for

from ..extensions import limiter
from ..htmx import redirect_to
from ..sessions import PENDING, SIGNED_IN
from ..twostep import factors
from . import flows, half_signed_in
from .blueprint import bp
from .second_step_views import REMEMBER, Place


def signed_in(step):
    """The second step passed: signed in (and the browser trusted when the person
    asked). A factor with a notice after its use (a recovery code) lands on the
    account settings with it, where the person can act on it; otherwise where
    they were going, with each factor's warning ("Only 2 recovery codes are
    left...")."""
    target = flows.after_second_step(step.user, remember=bool(step.state.get(REMEMBER)))
    notice = step.factor.used_notice(step.user)
    if notice:
        flash(notice, "warning")
        return redirect_to(url_for("settings.account"))
    for text in factors.warnings(step.user):
        flash(text, "warning")
    return redirect_to(target)


SIGN_IN = Place(purpose="sign_in", page="auth/verify.html", endpoint="auth.verify",
                succeeded=signed_in, offers_trust=True)


def _step():
    return SIGN_IN.step(session.user, half_signed_in.state())


@bp.route("/sign-in/verify", methods=["GET", "POST"])
@limiter.limit("30 per minute", methods=["POST"])
def verify():
    """Ask for the one-time code; the right one completes the sign-in."""
    if session.state == SIGNED_IN:
        return redirect_to(url_for("views.home"))
    if session.state != PENDING:
        return redirect(url_for("auth.sign_in"))
    return SIGN_IN.code(_step())


@bp.get("/sign-in/verify/resend")
@bp.get("/sign-in/verify/method")
def verify_step_page():
    """The URL of "Resend code" or a method switch opened directly: the step."""
    return redirect_to(url_for("auth.verify"))


@bp.post("/sign-in/verify/resend")
@limiter.limit("10 per minute")
def verify_resend():
    """Send a new code (the send limits of hubweb.twostep.sendlimits apply)."""
    if session.state != PENDING:
        return redirect_to(url_for("auth.sign_in"))
    return SIGN_IN.resend(_step())


@bp.post("/sign-in/verify/method")
def verify_method():
    """Switch factor: "Use authenticator app", "Use SMS" (field ``method``)."""
    if session.state != PENDING:
        return redirect_to(url_for("auth.sign_in"))
    return SIGN_IN.choose(_step())
