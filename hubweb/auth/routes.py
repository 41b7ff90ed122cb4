"""Views of sign-up, sign-in, sign-out, email confirmation and recovery."""

from __future__ import annotations

from flask import (
    Response,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from .. import accounts, events, mail, passwords, tokens
from ..extensions import db, limiter
from ..htmx import redirect_to, render
from ..sessions import SIGNED_IN, end_user_sessions
from ..timeutil import utcnow
from . import bp, flows
from . import messages as msg
from .forms import (
    CodeForm,
    EmptyForm,
    ForgotPasswordForm,
    NewPasswordForm,
    RegisterForm,
    SignInForm,
)
from .second_step import SecondStep

CONFIRM_SENDS_PER_HOUR = 3
RESET_SENDS_PER_HOUR = 3


def _ip_limit(name: str) -> str:
    return current_app.config.get(f"RATELIMIT_{name}", "10 per minute; 60 per hour")


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(lambda: _ip_limit("REGISTER"), methods=["POST"])
def register():
    """Create an account; with confirmation on, the same reply for a taken email."""
    if current_user.is_authenticated:
        return redirect(url_for("views.home"))
    form = RegisterForm()
    if not form.validate_on_submit():
        return _page("auth/register.html", form, request.method == "POST")
    confirm = current_app.config["REQUIRE_EMAIL_CONFIRMATION"]
    try:
        email = accounts.normalize_email(form.email.data)
        # The password rule first, so a taken email cannot be told apart by
        # a weak password being refused only for new addresses.
        check = passwords.check_policy(form.password.data, email)
        if not check.ok:
            raise accounts.AccountError(" ".join(check.problems), field="password")
        existing = accounts.find_by_email(email)
        if existing is not None and confirm:
            # Tell the owner, not the visitor: no account enumeration.
            mail.notify(existing, "Someone tried to create an account with your email",
                        "register_existing")
            return render_template("auth/check_email.html",
                                   message=msg.CHECK_EMAIL_CONFIRM.format(email=email))
        user = accounts.create_user(email, form.password.data, confirmed=not confirm)
        events.record(user, "account_created")
        if confirm:
            _send_confirmation(user)
        db.session.commit()
    except accounts.AccountError as exc:
        db.session.rollback()
        form[exc.field].errors.append(str(exc))
        return _page("auth/register.html", form, True)
    except IntegrityError:
        db.session.rollback()
        form.email.errors.append(msg.EMAIL_TAKEN)
        return _page("auth/register.html", form, True)
    except mail.MailError:
        db.session.rollback()
        form.email.errors.append(msg.MAIL_FAILED)
        return _page("auth/register.html", form, True, status=503)
    if confirm:
        return render_template("auth/check_email.html",
                               message=msg.CHECK_EMAIL_CONFIRM.format(email=user.email))
    flash(msg.ACCOUNT_CREATED, "success")
    return redirect_to(url_for("auth.sign_in"))


def _send_confirmation(user) -> None:
    raw = tokens.issue(user, "confirm")
    link = _external("auth.confirm_email", token=raw)
    mail.send(user.email, "Confirm your email address", "confirm_email", user=user, link=link)


@bp.route("/confirm-email/<token>", methods=["GET", "POST"])
def confirm_email(token: str):
    """GET shows a button; POST confirms. Link scanners that prefetch a GET
    therefore cannot use up the single-use link."""
    found, problem = tokens.find(token, "confirm")
    if problem is not None:
        return render_template("auth/link_problem.html",
                               message=msg.LINK_PROBLEMS[problem.value]), 400
    form = EmptyForm()
    if not form.validate_on_submit():
        return render_template("auth/confirm_email.html", form=form)
    if tokens.consume(found):
        user = found.user
        if not user.email_confirmed:
            user.email_confirmed_at = utcnow()
            events.record(user, "email_confirmed")
        db.session.commit()
    flash(msg.CONFIRMED, "success")
    return redirect_to(url_for("auth.sign_in"))


@bp.post("/confirm-email/resend")
@limiter.limit(lambda: _ip_limit("REGISTER"))
def resend_confirmation():
    """Send a new link to the account whose right password was just given."""
    form = EmptyForm()
    user_id = session.get("confirm_user_id")
    if not form.validate_on_submit() or user_id is None:
        return redirect_to(url_for("auth.sign_in"))
    user = db.session.get(accounts.User, user_id)
    if user is None or user.email_confirmed:
        return redirect_to(url_for("auth.sign_in"))
    if tokens.count_recent(user, "confirm", 3600) >= CONFIRM_SENDS_PER_HOUR:
        flash(msg.CONFIRM_LIMIT, "error")
        return redirect_to(url_for("auth.sign_in"))
    try:
        _send_confirmation(user)
        db.session.commit()
        flash(msg.CONFIRM_SENT, "success")
    except mail.MailError:
        db.session.rollback()
        flash(msg.MAIL_FAILED, "error")
    return redirect_to(url_for("auth.sign_in"))


@bp.route("/sign-in", methods=["GET", "POST"])
@limiter.limit(lambda: _ip_limit("SIGN_IN"), methods=["POST"])
def sign_in():
    """Check email and password; one message for every kind of failure."""
    if current_user.is_authenticated:
        return redirect(url_for("views.home"))
    form = SignInForm()
    if not form.validate_on_submit():
        return _page("auth/sign_in.html", form, request.method == "POST")
    user = flows.check_password(form.email.data, form.password.data)
    if user is None:
        form.form_errors.append(msg.BAD_CREDENTIALS)
        return _page("auth/sign_in.html", form, True)
    if not flows.may_sign_in(user):
        db.session.commit()  # a rehash, if any
        session["confirm_user_id"] = user.id
        return _page("auth/sign_in.html", form, True, unconfirmed=True)
    return redirect_to(flows.after_password(user))


@bp.post("/sign-out")
def sign_out():
    """End the session on the server; the old cookie is then worthless."""
    form = EmptyForm()
    if form.validate_on_submit() and session.user is not None:
        if session.state == SIGNED_IN:
            events.record(session.user, "sign_out")
        session.end()
        db.session.commit()
    flash(msg.SIGNED_OUT, "success")
    return redirect_to(url_for("auth.sign_in"))


@bp.route("/forgot-password", methods=["GET", "POST"])
@limiter.limit(lambda: _ip_limit("FORGOT"), methods=["POST"])
def forgot_password():
    """Send a reset link; the same page and status whether the email is known."""
    form = ForgotPasswordForm()
    if not form.validate_on_submit():
        return _page("auth/forgot_password.html", form, request.method == "POST")
    user = accounts.find_by_email(form.email.data)
    if user is not None and tokens.count_recent(user, "reset", 3600) < RESET_SENDS_PER_HOUR:
        try:
            raw = tokens.issue(user, "reset")
            mail.send(user.email, "Reset your password", "reset_password", user=user,
                      link=_external("auth.reset_password", token=raw))
            events.record(user, "reset_requested")
            db.session.commit()
        except mail.MailError as exc:
            db.session.rollback()
            current_app.logger.error("reset mail for user %s failed: %s", user.id, exc)
    return render_template("auth/check_email.html",
                           message=msg.RESET_SENT.format(email=form.email.data))


@bp.route("/reset-password/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """Recovery after the emailed link: the steps of :func:`flows.reset_steps`."""
    found, problem = tokens.find(token, "reset")
    if problem is not None:
        session.pop("reset", None)
        return _link_problem(problem.value)
    state = session.get("reset")
    if not state or state.get("token_id") != found.id:
        state = session["reset"] = {"token_id": found.id, "done": []}
    user = found.user
    step = next(s for s in flows.reset_steps(user) if s not in state["done"])
    if step == "second_factor":
        return _no_referrer(_reset_code_step(user, state))
    form = NewPasswordForm()
    if not form.validate_on_submit():
        return _no_referrer(_page("auth/reset_password.html", form,
                                  request.method == "POST", step=step))
    check = passwords.check_policy(form.new_password.data, user.email)
    if not check.ok:
        form.new_password.errors.extend(check.problems)
        return _no_referrer(_page("auth/reset_password.html", form, True, step=step))
    if not tokens.consume(found):
        db.session.rollback()
        return _link_problem("used")
    accounts.set_password(user, form.new_password.data)
    end_user_sessions(user.id)
    events.record(user, "reset_done")
    session.end()
    db.session.commit()
    mail.notify(user, "Your password was changed", "password_changed")
    flash(msg.RESET_DONE, "success")
    return redirect_to(url_for("auth.sign_in"))


def _reset_code_step(user, state: dict):
    """Recovery's second step: a code (app or SMS) between the link and the new password."""
    step, form = SecondStep(user, state, "recovery"), CodeForm()
    if request.method == "GET":
        sent = step.begin()
        return _reset_code_page(step, form, notice=None if sent.ok else sent.message)
    if not form.validate_on_submit():
        return _reset_code_page(step, form, 422)
    result = step.verify(form.code.data)
    if not result.ok:
        form.code.errors.append(result.message)
        return _reset_code_page(step, form, result.status)
    state["done"].append("second_factor")
    session.modified = True
    db.session.commit()
    return redirect_to(request.path)


def _reset_code_page(step, form, status=200, **context):
    token_path = url_for("auth.reset_password", token=request.view_args["token"])
    return render("auth/reset_code.html", "twostep/_second_step.html", status, step=step,
                  form=form, code_action=token_path, resend_action=token_path + "/resend",
                  method_action=token_path + "/method", **context)


def _reset_second_step(token: str) -> SecondStep | None:
    """The recovery second step of this browser's reset of ``token``, if any."""
    found, problem = tokens.find(token, "reset")
    state = session.get("reset")
    if problem is not None or not state or state.get("token_id") != found.id:
        return None
    if not found.user.two_step_enabled or not EmptyForm().validate_on_submit():
        return None
    return SecondStep(found.user, state, "recovery")


@bp.post("/reset-password/<token>/resend")
def reset_password_resend(token: str):
    """Send a new recovery code by SMS (the send limits apply)."""
    step = _reset_second_step(token)
    if step is None:
        return redirect_to(url_for("auth.reset_password", token=token))
    result = step.resend()
    return _no_referrer(_reset_code_page(
        step, CodeForm(formdata=None), result.status,
        notice=None if result.ok else result.message, resent=result.ok))


@bp.post("/reset-password/<token>/method")
def reset_password_method(token: str):
    """Switch method in recovery: "Use SMS" / "Use authenticator app"."""
    step = _reset_second_step(token)
    if step is None:
        return redirect_to(url_for("auth.reset_password", token=token))
    try:
        result = step.choose(request.form.get("method", ""))
    except ValueError:
        return _no_referrer(_reset_code_page(step, CodeForm(formdata=None), 422,
                                             notice="Choose the authenticator app or SMS."))
    return _no_referrer(_reset_code_page(step, CodeForm(formdata=None),
                                         notice=None if result.ok else result.message))


def _page(template: str, form, posted: bool, status: int | None = None, **context):
    """Render a form page: 422 when a submitted form has errors (htmx swaps it)."""
    code = status or (422 if posted else 200)
    return render_template(template, form=form, **context), code


def _link_problem(problem: str):
    """400 with the reason a reset link cannot be used."""
    html = render_template("auth/link_problem.html", message=msg.LINK_PROBLEMS[problem])
    return _no_referrer((html, 400))


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


def _external(endpoint: str, **values) -> str:
    """A link for an email, built from ``BASE_URL``, never the Host header."""
    return current_app.config["BASE_URL"].rstrip("/") + url_for(endpoint, **values)
