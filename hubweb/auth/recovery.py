"""Password recovery: ``/forgot-password`` and ``/reset-password/<token>``.

The reset runs as the steps of :func:`hubweb.auth.flows.reset_steps`: with
two-step verification on, a code (app or SMS) comes between opening the
emailed link and choosing the new password. The state of the steps lives in
the server session, bound to the link's token.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from types import SimpleNamespace

import sqlalchemy as sa
from flask import Response, flash, render_template, request, session, url_for

from .. import accounts, events, mail, mailqueue, passwords, tokens
from ..extensions import db, limiter
from ..htmx import redirect_to
from ..i18n import lazy_text as _l
from ..models import SecurityEvent
from ..sessions import end_user_sessions
from ..timeutil import utcnow
from . import flows
from . import messages as msg
from .blueprint import bp
from .forms import ForgotPasswordForm, NewPasswordForm
from .routes import external_url, form_page, ip_limit
from .second_step import SecondStep
from .second_step_views import Place

RESET_SENDS_PER_HOUR = 3


@bp.route("/forgot-password", methods=["GET", "POST"])
@limiter.limit(lambda: ip_limit("FORGOT"), methods=["POST"])
def forgot_password():
    """Send a reset link; the same page, status and time whether the email is known.

    The link is queued with the token in one transaction (hubweb.mail), so no
    reply waits for the SMTP server. A refused address gets the form again
    (422) with the reason: that depends only on the text typed.
    """
    form = ForgotPasswordForm()
    if not form.validate_on_submit() or not flows.address_accepted(form.email):
        return form_page("auth/forgot_password.html", form, request.method == "POST")
    user = accounts.find_by_email(form.email.data)
    if user is not None and tokens.count_recent(user, "reset", 3600) < RESET_SENDS_PER_HOUR:
        raw = tokens.issue(user, "reset")
        mail.queue(user, _l("Reset your password"), "reset_password",
                   link=external_url("auth.reset_password", token=raw))
        events.record(user, "reset_requested")
        db.session.commit()
    else:
        _rehearse_reset(form.email.data)
    return render_template("auth/check_email.html",
                           message=msg.RESET_SENT.format(email=form.email.data))


def _rehearse_reset(typed: str) -> None:
    """The work of a reset request, with no effect: an unknown address answers as slowly.

    The same look-up, rendering and encryption, and a write and a commit of
    like cost (a row added and deleted in the transaction: PostgreSQL still
    flushes its WAL at the commit), so that neither the reply's time nor the
    SMTP server's state tells whether the address has an account (OWASP Forgot
    Password Cheat Sheet: "a consistent response time"; WSTG-IDNT-04; measured:
    medians within 5 %, bench/mail_timing.py).
    """
    nobody = SimpleNamespace(email=typed, id=0)
    tokens.count_recent(nobody, "reset", 3600)
    mail.rehearse(typed, _l("Reset your password"), "reset_password", user=nobody,
                  link=external_url("auth.reset_password", token=secrets.token_urlsafe(32)))
    mailqueue.rehearse_write()
    db.session.commit()


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """Recovery after the emailed link: the steps of :func:`flows.reset_steps`."""
    found, problem = tokens.find(token, "reset")
    if problem is not None:
        session.pop("reset", None)
        if request.method == "POST" and _reset_completed(found):
            # The same form sent again after the reset finished (double click,
            # Back then resubmit): where the person now is (a step done twice
            # ends in the truthful state).
            flash(str(msg.RESET_DONE), "success")
            return redirect_to(url_for("auth.sign_in"))
        return _link_problem(problem.value)
    state = session.get("reset")
    if not state or state.get("token_id") != found.id:
        state = session["reset"] = {"token_id": found.id, "done": []}
    user = found.user
    step = next(s for s in flows.reset_steps(user) if s not in state["done"])
    if step == "second_factor":
        return RECOVERY.code(_second_step(user, state))
    if request.method == "POST" and "new_password" not in request.form:
        return _no_referrer(redirect_to(request.path))  # the code step sent again: done
    form = NewPasswordForm()
    if not form.validate_on_submit():
        return _no_referrer(form_page("auth/reset_password.html", form,
                                  request.method == "POST", step=step, email=user.email))
    check = passwords.check_policy(form.new_password.data, user.email)
    if not check.ok:
        form.new_password.errors.extend(check.problems)
        return _no_referrer(form_page("auth/reset_password.html", form, True, step=step,
                                      email=user.email))
    new_hash = passwords.hash_password(form.new_password.data)  # before any write (Busy)
    if not tokens.consume(found):
        db.session.rollback()
        return _link_problem("used")
    accounts.set_password(user, form.new_password.data, password_hash=new_hash)
    if user.email_confirmed_at is None:  # the emailed link proved the address
        user.email_confirmed_at = utcnow()
    end_user_sessions(user.id)
    events.record(user, "reset_done")
    session.end()
    mail.queue(user, _l("Your password was changed"), "password_changed")
    db.session.commit()
    flash(str(msg.RESET_DONE), "success")
    return redirect_to(url_for("auth.sign_in"))


def _second_step(user, state: dict) -> SecondStep:
    """The second step of the reset whose steps are ``state``; it keeps its own
    state in ``state["second_step"]``, apart from the list of steps done."""
    return RECOVERY.step(user, state.setdefault("second_step", {}))


def _code_done(step: SecondStep):
    """The right code in recovery: the step is done; on to the new password."""
    session["reset"]["done"].append("second_factor")
    session.modified = True
    db.session.commit()
    return redirect_to(request.path)


def _no_referrer(reply):
    """The reset URL carries the token: never send it on as a Referer.

    :param reply: a :class:`~flask.Response` (kept as is, e.g. a 303) or a
        ``(body, status)`` tuple or a body.
    """
    if isinstance(reply, Response):
        reply.headers["Referrer-Policy"] = "no-referrer"
        return reply
    body, status = reply if isinstance(reply, tuple) else (reply, 200)
    return body, status, {"Referrer-Policy": "no-referrer"}


RECOVERY = Place(purpose="recovery", page="auth/reset_code.html",
                 endpoint="auth.reset_password", succeeded=_code_done, wrap=_no_referrer)


def _reset_completed(found) -> bool:
    """True when the used reset link ``found`` was used by a finished reset
    (not voided by a newer link): a ``reset_done`` event at its use."""
    if found is None or found.used_at is None:
        return False
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(SecurityEvent)
        .where(SecurityEvent.user_id == found.user_id, SecurityEvent.kind == "reset_done")
        .where(SecurityEvent.created_at >= found.used_at - timedelta(seconds=5))
    ) > 0


def _reset_second_step(token: str) -> SecondStep | None:
    """The recovery second step of this browser's reset of ``token``, if any."""
    found, problem = tokens.find(token, "reset")
    state = session.get("reset")
    if problem is not None or not state or state.get("token_id") != found.id:
        return None
    if not found.user.two_step_enabled:
        return None
    return _second_step(found.user, state)


@bp.get("/reset-password/<token>/resend")
@bp.get("/reset-password/<token>/method")
def reset_password_step_page(token: str):
    """The URL of "Resend code" or a method switch opened directly: the reset page."""
    return _no_referrer(redirect_to(url_for("auth.reset_password", token=token)))


@bp.post("/reset-password/<token>/resend")
def reset_password_resend(token: str):
    """Send a new recovery code by SMS (the send limits apply)."""
    return _in_reset_step(token, RECOVERY.resend)


@bp.post("/reset-password/<token>/method")
def reset_password_method(token: str):
    """Switch method in recovery: "Use SMS" / "Use authenticator app"."""
    return _in_reset_step(token, RECOVERY.choose)


def _in_reset_step(token: str, handler):
    """``handler(step)`` in this browser's recovery second step; without one
    (another browser, a finished step, 2SV off), the reset page."""
    step = _reset_second_step(token)
    if step is None:
        return redirect_to(url_for("auth.reset_password", token=token))
    return handler(step)


def _link_problem(problem: str):
    """400 with the reason a reset link cannot be used."""
    html = render_template("auth/link_problem.html", message=msg.LINK_PROBLEMS[problem])
    return _no_referrer((html, 400))
