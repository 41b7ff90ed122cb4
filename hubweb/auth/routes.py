"""Views of sign-up, email confirmation, sign-in and sign-out (recovery: recovery.py)."""

from __future__ import annotations

from flask import (
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

from .. import accounts, errors, events, i18n, mail, passwords, tokens, trusted_browsers
from ..extensions import db, limiter
from ..htmx import redirect_to
from ..i18n import lazy_text as _l
from ..sessions import SIGNED_IN
from ..timeutil import utcnow
from . import flows
from . import messages as msg
from .blueprint import bp
from .forms import ConfirmForm, EmptyForm, RegisterForm, SignInForm

#: The sign-out form's second button, "Forget this browser" (its trust cookie).
FORGET_BROWSER = "forget_browser"
CONFIRM_SENDS_PER_HOUR = 3
NOTICES_PER_HOUR = 3
#: Session key: the address just proved (email confirmed), shown filled in on
#: the next sign-in form of this browser, once.
SIGN_IN_EMAIL = "sign_in_email"


def ip_limit(name: str) -> str:
    """The per-IP limit ``RATELIMIT_<name>`` (Flask-Limiter syntax), with a default."""
    return current_app.config.get(f"RATELIMIT_{name}", "10 per minute; 60 per hour")


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit(lambda: ip_limit("REGISTER"), methods=["POST"])
def register():
    """Create an account; with confirmation on, the same reply for a taken email."""
    if current_user.is_authenticated:
        return redirect(url_for("views.home"))  # 302: a page visited while signed in
    form = RegisterForm()
    if not form.validate_on_submit():
        return form_page("auth/register.html", form, request.method == "POST")
    confirm = current_app.config["REQUIRE_EMAIL_CONFIRMATION"]
    try:
        email = _register(form.email.data, form.password.data, confirm)
    except passwords.Busy as exc:
        return busy_form_page("auth/register.html", form, exc)
    except accounts.AccountError as exc:
        db.session.rollback()
        form[exc.field].errors.append(str(exc))
        return form_page("auth/register.html", form, True)
    except IntegrityError:
        db.session.rollback()
        form.email.errors.append(msg.EMAIL_TAKEN)
        return form_page("auth/register.html", form, True)
    if confirm:
        return render_template("auth/check_email.html",
                               message=msg.CHECK_EMAIL_CONFIRM.format(email=email))
    flash(str(msg.ACCOUNT_CREATED), "success")
    return redirect_to(url_for("auth.sign_in"))


def _register(typed_email: str, password: str, confirm: bool) -> str:
    """Register ``typed_email``; return the address as stored. Commits.

    The address and the password policy are checked, and the password hashed,
    once (:func:`hubweb.accounts.check_registration`), before it is known
    whether the address is taken, so both cases take as long.

    :raises hubweb.accounts.AccountError: a refused address or a weak password.
    """
    email, password_hash = accounts.check_registration(typed_email, password)
    existing = accounts.find_by_email(email)
    if existing is not None and confirm:
        _register_again(existing, password_hash)
        return email
    user = accounts.create_user(email, password, confirmed=not confirm,
                                password_hash=password_hash,
                                language=i18n.current_language())
    events.record(user, "account_created")
    if confirm:
        _send_confirmation(user)
    db.session.commit()
    return user.email


def _register_again(user, password_hash: str) -> None:
    """A registration for an email that has an account; the visitor is told nothing.

    Unconfirmed account: nobody has proved they own the address, so the newest
    registration wins: its password replaces the old one and a new link (which
    voids older links) is sent. Whoever registered first therefore cannot
    keep an account on someone else's address ("pre-hijacking"). Confirmed
    account: its owner is told, at most :data:`NOTICES_PER_HOUR` times an hour.
    """
    if not user.email_confirmed:
        user.password_hash = password_hash
        user.language = i18n.current_language()
        if tokens.count_recent(user, "confirm", 3600) < CONFIRM_SENDS_PER_HOUR:
            _send_confirmation(user)
        db.session.commit()
        return
    if events.count_recent(user, "registration_attempted", 3600) >= NOTICES_PER_HOUR:
        return
    events.record(user, "registration_attempted")
    mail.queue(user, _l("Someone tried to create an account with your email"), "register_existing")
    db.session.commit()


def _send_confirmation(user) -> None:
    raw = tokens.issue(user, "confirm")
    link = external_url("auth.confirm_email", token=raw)
    mail.queue(user, _l("Confirm your email address"), "confirm_email", link=link)


@bp.route("/confirm-email/<token>", methods=["GET", "POST"])
@limiter.limit(lambda: ip_limit("SIGN_IN"), methods=["POST"])
def confirm_email(token: str):
    """Confirm the address: the link AND the account's password.

    The link alone is not enough: someone who registered another person's
    address would otherwise get an account confirmed by its owner's click.
    GET shows the form, so mail scanners that prefetch links use up nothing.
    """
    found, problem = tokens.find(token, "confirm")
    if problem is not None:
        return render_template("auth/link_problem.html", confirm=True,
                               message=msg.LINK_PROBLEMS[problem.value]), 400
    form, user = ConfirmForm(), found.user
    if not form.validate_on_submit():
        return form_page("auth/confirm_email.html", form, request.method == "POST",
                         email=user.email)
    if not passwords.verify_password(user.password_hash, form.password.data):
        form.password.errors.append(msg.CONFIRM_WRONG_PASSWORD)
        return form_page("auth/confirm_email.html", form, True, email=user.email)
    if tokens.consume(found):
        if not user.email_confirmed:
            user.email_confirmed_at = utcnow()
            events.record(user, "email_confirmed")
        db.session.commit()
    session[SIGN_IN_EMAIL] = user.email  # the sign-in form comes filled in
    flash(str(msg.CONFIRMED), "success")
    return redirect_to(url_for("auth.sign_in"))


@bp.post("/confirm-email/resend")
@limiter.limit(lambda: ip_limit("REGISTER"))
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
        flash(str(msg.CONFIRM_LIMIT), "error")
        return redirect_to(url_for("auth.sign_in"))
    _send_confirmation(user)
    db.session.commit()
    flash(str(msg.CONFIRM_SENT), "success")
    return redirect_to(url_for("auth.sign_in"))


@bp.route("/sign-in", methods=["GET", "POST"])
@limiter.limit(lambda: ip_limit("SIGN_IN"), methods=["POST"])
def sign_in():
    """Check email and password; one message for every kind of failure."""
    if current_user.is_authenticated:
        return redirect_to(url_for("views.home"))
    form = SignInForm()
    if request.method == "GET" and session.get(SIGN_IN_EMAIL):
        form.email.data = session.pop(SIGN_IN_EMAIL)
    if not form.validate_on_submit():
        return form_page("auth/sign_in.html", form, request.method == "POST")
    try:
        user = flows.check_password(form.email.data, form.password.data)
    except passwords.Busy as exc:
        return busy_form_page("auth/sign_in.html", form, exc)
    if user is None:
        form.form_errors.append(msg.BAD_CREDENTIALS)
        return form_page("auth/sign_in.html", form, True)
    if not flows.may_sign_in(user):
        db.session.commit()  # a rehash, if any
        session["confirm_user_id"] = user.id
        return form_page("auth/sign_in.html", form, True, unconfirmed=True)
    return redirect_to(flows.after_password(user))


@bp.post("/sign-out")
def sign_out():
    """End the session on the server; the old cookie is then worthless."""
    form, forgotten = EmptyForm(), False
    if form.validate_on_submit():
        # "Forget this browser": the trust cookie goes only when asked for.
        if request.form.get(FORGET_BROWSER):
            trusted_browsers.forget_this_browser(session.user)
            forgotten = True
        if session.user is not None and session.state == SIGNED_IN:
            events.record(session.user, "sign_out")
        if session.user is not None:
            session.end()
        db.session.commit()
    flash(str(msg.SIGNED_OUT_FORGOTTEN if forgotten else msg.SIGNED_OUT), "success")
    return redirect_to(url_for("auth.sign_in"))


@bp.app_context_processor
def _trust_cookie() -> dict:
    """``browser_trusted()`` for the sign-out form: this browser has a trust cookie."""
    return {"browser_trusted": trusted_browsers.has_cookie}


def form_page(template: str, form, posted: bool, status: int | None = None, **context):
    """Render a form page: 422 when a submitted form has errors (htmx swaps it)."""
    code = status or (422 if posted else 200)
    return render_template(template, form=form, **context), code


def busy_form_page(template: str, form, exc: passwords.Busy, **context):
    """The form again, as typed (the password field is never filled in), with
    :data:`hubweb.errors.BUSY_MESSAGE`: a 503 with ``Retry-After`` that changed
    nothing (:func:`hubweb.errors.password_busy`)."""
    errors.password_busy(exc)
    form.form_errors.append(errors.BUSY_MESSAGE)
    return form_page(template, form, True, status=503, **context)


def external_url(endpoint: str, **values) -> str:
    """A link for an email, built from ``BASE_URL``, never the Host header."""
    return current_app.config["BASE_URL"].rstrip("/") + url_for(endpoint, **values)
