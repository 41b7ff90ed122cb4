"""Views of User account settings (``/settings/account``) and its forms.

Each form posts to its own URL; with htmx the reply is the form's section
alone, without JavaScript the whole page.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import render_template, session, url_for
from flask_login import current_user, login_required

from .. import accounts, events, mail, passwords
from ..auth.forms import EmptyForm
from ..extensions import db
from ..htmx import done, is_htmx, redirect_to, render
from ..i18n import lazy_text as _l
from ..models import UserSession
from ..sessions import end_user_sessions
from . import messages as msg
from .blueprint import bp
from .context import (
    offer_sign_out,
    password_context,
    sessions_fragment_context,
    settings_context,
)
from .forms import ChangePasswordForm
from .panels import current_view
from .two_step_replies import PAGE

PASSWORD = "settings/_password.html"
SESSIONS = "settings/_sessions.html"


@bp.get("/account")
@login_required
def account():
    """The User account settings page."""
    changed = session.pop("changed", None)
    context, status = current_view()
    return render_template(PAGE, **settings_context(changed=changed, **context)), status


@bp.post("/password")
@login_required
def change_password():
    """Change the password with the current one; ends every other session."""
    form, user = ChangePasswordForm(), current_user._get_current_object()
    if not _password_change_allowed(form, user):
        return _reply(PASSWORD, 422, password_context, password_form=form)
    accounts.set_password(user, form.new_password.data)
    end_user_sessions(user.id, keep=session.id)
    events.record(user, "password_changed")
    mail.queue(user, _l("Your password was changed"), "password_changed")
    db.session.commit()
    offer_sign_out("password")
    return _done(PASSWORD, msg.PASSWORD_CHANGED, password_context,
                 password_done=msg.PASSWORD_CHANGED, new_kind="password_changed",
                 sessions_changed=True)


def _password_change_allowed(form: ChangePasswordForm, user) -> bool:
    """True when ``form`` is valid, has the current password and a new one
    that differs and meets the policy; else the form carries the reason."""
    if not form.validate_on_submit():
        return False
    if not passwords.verify_password(user.password_hash, form.password.data):
        form.password.errors.append(msg.WRONG_PASSWORD)
        return False
    if form.new_password.data == form.password.data:
        form.new_password.errors.append(msg.SAME_PASSWORD)
        return False
    check = passwords.check_policy(form.new_password.data, user.email)
    form.new_password.errors.extend(check.problems)
    return check.ok


@bp.post("/sessions/<sid>/sign-out")
@login_required
def end_session(sid: str):
    """Sign out one of the user's sessions (the current one means sign-out)."""
    if not EmptyForm().validate_on_submit():
        return _reply(SESSIONS, 422, sessions_fragment_context)
    if sid == session.id:
        events.record(current_user.id, "sign_out")
        session.end()
        db.session.commit()
        return redirect_to(url_for("auth.sign_in"))
    ended = db.session.execute(
        sa.delete(UserSession).where(UserSession.id == sid, UserSession.user_id == current_user.id)
    ).rowcount
    if ended:
        events.record(current_user.id, "session_ended")
    db.session.commit()
    notice = msg.SESSION_ENDED if ended else msg.NO_SUCH_SESSION
    return _done(SESSIONS, notice, sessions_fragment_context, sessions_notice=notice,
                 others_oob=True, new_kind="session_ended" if ended else None)


@bp.post("/sessions/sign-out-others")
@login_required
def end_other_sessions():
    """Sign out every session of the user but this one."""
    if not EmptyForm().validate_on_submit():
        return _reply(SESSIONS, 422, sessions_fragment_context)
    count = end_user_sessions(current_user.id, keep=session.id)
    events.record(current_user.id, "other_sessions_ended")
    db.session.commit()
    notice = msg.others_ended(count)
    return _done(SESSIONS, notice, sessions_fragment_context, sessions_notice=notice,
                 others_oob=True, new_kind="other_sessions_ended")


def _reply(fragment: str, status: int, fragment_context, **extra):
    """``fragment`` with its own context for htmx; else the whole page."""
    context = fragment_context(**extra) if is_htmx() else settings_context(**extra)
    return render(PAGE, fragment, status, **context)


def _done(fragment: str, message: str, fragment_context, **extra):
    """After a change: ``fragment`` with its own context for htmx; else a 303."""
    context = fragment_context(**extra) if is_htmx() else {}
    return done(PAGE, fragment, message, url_for("settings.account"), **context)
