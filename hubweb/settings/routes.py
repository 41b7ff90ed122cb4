"""Views of User account settings (``/settings/account``) and its forms.

Each form posts to its own URL; with htmx the reply is the form's section
alone, without JavaScript the whole page.
"""

from __future__ import annotations

from functools import lru_cache

import sqlalchemy as sa
from flask import render_template, session, url_for
from flask_login import current_user, login_required
from ua_parser import parse

from .. import accounts, events, mail, passwords
from ..auth.forms import EmptyForm
from ..extensions import db
from ..htmx import done, is_htmx, redirect_to, render
from ..models import UserSession
from ..sessions import SIGNED_IN, end_user_sessions
from ..twostep import messages as two_step_msg
from . import bp
from . import messages as msg
from .forms import ChangePasswordForm

PAGE = "settings/account.html"


@bp.get("/account")
@login_required
def account():
    """The User account settings page."""
    from .two_step_replies import current_view

    changed = session.pop("changed", None)
    context, status = current_view()
    return render_template(PAGE, **settings_context(changed=changed, **context)), status


@bp.post("/password")
@login_required
def change_password():
    """Change the password with the current one; ends every other session."""
    form = ChangePasswordForm()
    fragment = "settings/_password.html"
    if not form.validate_on_submit():
        return render(PAGE, fragment, 422, **settings_context(password_form=form))
    user = current_user._get_current_object()
    if not passwords.verify_password(user.password_hash, form.password.data):
        form.password.errors.append(msg.WRONG_PASSWORD)
        return render(PAGE, fragment, 422, **settings_context(password_form=form))
    if form.new_password.data == form.password.data:
        form.new_password.errors.append(msg.SAME_PASSWORD)
        return render(PAGE, fragment, 422, **settings_context(password_form=form))
    check = passwords.check_policy(form.new_password.data, user.email)
    if not check.ok:
        form.new_password.errors.extend(check.problems)
        return render(PAGE, fragment, 422, **settings_context(password_form=form))
    accounts.set_password(user, form.new_password.data)
    end_user_sessions(user.id, keep=session.id)
    events.record(user, "password_changed")
    mail.queue(user, "Your password was changed", "password_changed")
    db.session.commit()
    offer_sign_out("password")
    return done(PAGE, fragment, msg.PASSWORD_CHANGED, url_for("settings.account"),
                **settings_context(password_done=msg.PASSWORD_CHANGED, new_kind="password_changed",
                                   sessions_changed=True))


@bp.post("/sessions/<sid>/sign-out")
@login_required
def end_session(sid: str):
    """Sign out one of the user's sessions (the current one means sign-out)."""
    form = EmptyForm()
    if form.validate_on_submit():
        if sid == session.id:
            events.record(current_user.id, "sign_out")
            session.end()
            db.session.commit()
            return redirect_to(url_for("auth.sign_in"))
        ended = db.session.execute(
            sa.delete(UserSession).where(
                UserSession.id == sid, UserSession.user_id == current_user.id
            )
        ).rowcount
        if ended:
            events.record(current_user.id, "session_ended")
        db.session.commit()
        notice = msg.SESSION_ENDED if ended else msg.NO_SUCH_SESSION
        kind = "session_ended" if ended else None
        return done(PAGE, "settings/_sessions.html", notice, url_for("settings.account"),
                    **settings_context(sessions_notice=notice, others_oob=True, new_kind=kind))
    return render(PAGE, "settings/_sessions.html", 422, **settings_context())


@bp.post("/sessions/sign-out-others")
@login_required
def end_other_sessions():
    """Sign out every session of the user but this one."""
    form = EmptyForm()
    if not form.validate_on_submit():
        return render(PAGE, "settings/_sessions.html", 422, **settings_context())
    count = end_user_sessions(current_user.id, keep=session.id)
    events.record(current_user.id, "other_sessions_ended")
    db.session.commit()
    notice = msg.OTHERS_ENDED.format(count=count)
    return done(PAGE, "settings/_sessions.html", notice, url_for("settings.account"),
                **settings_context(sessions_notice=notice, others_oob=True,
                                   new_kind="other_sessions_ended"))


def offer_sign_out(section: str) -> None:
    """After a change of the password or a factor, show in ``section``
    (``password`` or ``two-step``) how many other sessions are signed in, with
    "Sign out of all other sessions" (OWASP ASVS 5.0 V7.4). An htmx reply
    shows it in the fragment (``done``); a plain form's 303 leads to the
    settings page, which shows it once, in that section."""
    if not is_htmx():
        session["changed"] = section


def settings_context(**extra) -> dict:
    """Everything the settings page and its fragments need, plus ``extra``.

    A reply to a change adds ``new_kind`` (the kind of event it recorded) and
    ``sessions_changed``: its htmx fragment then carries that event's row
    (``new_activity``) and the sessions list out of band
    (``settings/_oob.html``, issue 11 rule 9).
    """
    # Rows, not ORM objects: read-only, and cheaper on every page load.
    rows = db.session.execute(
        sa.select(UserSession.id, UserSession.ip, UserSession.last_seen_at,
                  UserSession.user_agent)
        .where(UserSession.user_id == current_user.id, UserSession.state == SIGNED_IN)
        .order_by(UserSession.last_seen_at.desc())
    )
    sessions = [(row, describe_browser(row.user_agent)) for row in rows]
    others = sum(1 for row, _ in sessions if row.id != session.id)
    context = {
        "password_form": ChangePasswordForm(formdata=None),
        "button_form": EmptyForm(formdata=None),
        "sessions": sessions,
        "current_sid": session.id,
        "other_sessions": others,
        "other_sessions_text": other_sessions_text(others),
        "app_needs_sms": two_step_msg.APP_NEEDS_SMS,
        "reauth_prompts": two_step_msg.REAUTH_PROMPTS,
        "activity": [(e, events.KINDS[e.kind], describe_browser(e.user_agent))
                     for e in events.recent(current_user)],
        "sessions_changed": False,
    }
    context.update(extra)
    kind = context.pop("new_kind", None)
    context["new_activity"] = [a for a in context["activity"] if a[0].kind == kind][:1]
    return context


def other_sessions_text(count: int) -> str:
    """The sentence that says how many other sessions are signed in."""
    if count == 0:
        return msg.OTHER_SESSIONS_NONE
    if count == 1:
        return msg.OTHER_SESSIONS_ONE
    return msg.OTHER_SESSIONS_MANY.format(count=count)


@lru_cache(maxsize=512)
def describe_browser(user_agent: str) -> str:
    """Describe a browser, e.g. "Chrome 156 on Linux", from a User-Agent (ua-parser)."""
    result = parse(user_agent or "")
    if result.user_agent is None:
        return "Unknown browser"
    name = result.user_agent.family
    if result.user_agent.major:
        name += f" {result.user_agent.major}"
    if result.os is not None and result.os.family != "Other":
        name += f" on {result.os.family}"
    return name

