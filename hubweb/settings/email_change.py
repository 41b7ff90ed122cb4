""""Change email address": the new address, its link, and the link's page.

Rules (issue "the account's whole life"; OWASP ASVS 5.0 V6.3 and V7.5):

- Behind the gate (:mod:`.account_gate`): the current password, and the
  second step while two-step verification is on.
- ``new_email`` is checked as at registration (:func:`hubweb.accounts.normalize_email`:
  the rules of :mod:`hubweb.addresses`, normalised; unique by its case-folded key).
- A link valid 24 hours (:mod:`hubweb.tokens`, purpose ``email_change``, the
  new address stored with it) goes to the new address; the old address is
  told, with the new one masked, and what to do if it was not them. Until the
  link is opened the old address stays in force.
- A new address that belongs to another account gets the same reply (and the
  same notice to the old address); no link is made, and the other account's
  owner is told instead (no enumeration, OWASP WSTG-IDNT-04).
- Opening the link (``/settings/email/<token>``) asks for the account's
  password (a scanner's prefetch uses nothing up); then the address changes,
  the credential version moves on (reset and other links of the old address
  die, :func:`hubweb.accounts.credentials_changed`), an event is recorded
  and both addresses get a notice.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, render_template, request, session, url_for
from flask_babel import force_locale
from flask_login import current_user, login_required

from .. import accounts, events, i18n, mail, passwords, tokens
from ..auth.forms import ConfirmForm
from ..auth.messages import LINK_PROBLEMS
from ..auth.routes import external_url
from ..extensions import db, limiter
from ..htmx import is_htmx, redirect_to
from ..models import User
from . import account_gate as gate
from . import messages as msg
from .account_actions import PANELS, gate_reply, render_action
from .blueprint import bp
from .context import signed_in_user
from .forms import NewEmailForm

#: At most this many links to new addresses per account and hour.
LINKS_PER_HOUR = 5


def mask_email(address: str) -> str:
    """``address`` with its local part hidden but for the first character:
    ``"jane.doe@example.com"`` -> ``"j•••@example.com"``."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}\u2022\u2022\u2022@{domain}"


PANELS["email"] = lambda user: {"email_form": NewEmailForm(formdata=None)}


@bp.post("/account/email/change")
@login_required
@limiter.limit("10 per minute")
def change_email():
    """Send the link to ``new_email`` (or, when it is taken, tell its owner)."""
    user = signed_in_user()
    if not gate.cleared(user, "email"):
        return gate_reply("email")
    form = NewEmailForm()
    new = _checked_address(form, user)
    if new is None:
        return render_action("email", 422, email_form=form)
    if tokens.count_recent(user, "email_change", 3600) >= LINKS_PER_HOUR:
        form.new_email.errors.append(msg.EMAIL_CHANGE_LIMIT)
        return render_action("email", 429, email_form=form)
    owner = accounts.find_by_email(new)
    if owner is None:
        raw = tokens.issue(user, "email_change", new_email=new)
        with force_locale(i18n.language_of(user)):
            mail.queue_to(new, str(msg.EMAIL_CHANGE_SUBJECT), "email_change_link", user=user,
                          new_email=new, link=external_url("settings.confirm_email_change",
                                                           token=raw))
    else:
        mail.queue(owner, msg.EMAIL_TAKEN_SUBJECT, "email_change_taken")
    mail.queue(user, msg.EMAIL_CHANGE_OLD_SUBJECT, "email_change_requested",
               masked=mask_email(new))
    events.record(user, "email_change_requested")
    db.session.commit()
    sent = msg.EMAIL_LINK_SENT.format(email=new)
    return render_action("email", 200, email_sent=sent) if is_htmx() else _flash_home(sent)


def _flash_home(message: str):
    flash(message, "success")
    return redirect_to(url_for("settings.account"))


def _checked_address(form: NewEmailForm, user: User) -> str | None:
    """The normalised new address, or ``None`` with the reason on the form."""
    if not form.validate_on_submit():
        return None
    try:
        new = accounts.normalize_email(form.new_email.data)
    except accounts.AccountError as exc:
        form.new_email.errors.append(str(exc))
        return None
    if accounts.email_key(new) == user.email_key:
        form.new_email.errors.append(msg.EMAIL_SAME)
        return None
    return new


@bp.route("/email/<token>", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def confirm_email_change(token: str):
    """The link to the new address: the account's password, then the change."""
    found, problem = tokens.find(token, "email_change")
    if problem is not None:
        return render_template("settings/email_link.html",
                               problem=LINK_PROBLEMS[problem.value]), 400
    form, user = ConfirmForm(), found.user
    if not form.validate_on_submit():
        return _link_page(form, found, 422 if request.method == "POST" else 200)
    if not passwords.verify_password(user.password_hash, form.password.data):
        form.password.errors.append(msg.WRONG_PASSWORD)
        return _link_page(form, found, 422)
    new, old = found.new_email, user.email
    if accounts.find_by_email(new) is not None or not tokens.consume(found):
        db.session.rollback()
        return render_template("settings/email_link.html", problem=msg.EMAIL_TAKEN_NOW), 409
    user.email, user.email_key = new, accounts.email_key(new)
    mine = session.id if current_user.is_authenticated and current_user.id == user.id else None
    accounts.credentials_changed(user, keep_session=mine)
    events.record(user, "email_changed")
    with force_locale(i18n.language_of(user)):
        mail.queue_to(old, str(msg.EMAIL_CHANGED_SUBJECT), "email_changed", user=user,
                      old_email=old, new_email=new, to_old=True)
    mail.queue(user, msg.EMAIL_CHANGED_SUBJECT, "email_changed", old_email=old, new_email=new,
               to_old=False)
    try:
        db.session.commit()
    except sa.exc.IntegrityError:  # registered at the same moment
        db.session.rollback()
        return render_template("settings/email_link.html", problem=msg.EMAIL_TAKEN_NOW), 409
    flash(msg.EMAIL_CHANGED.format(email=new), "success")
    return redirect_to(url_for("settings.account" if mine else "auth.sign_in"))


def _link_page(form, found, status: int):
    return render_template("settings/email_link.html", form=form, email=found.user.email,
                           new_email=found.new_email), status
