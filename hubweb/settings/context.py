"""Template context of the settings page and of each of its fragments.

The whole page (:func:`settings_context`) reads the signed-in sessions and
the recent security activity; a fragment reads only what it shows, so a
two-step panel costs no query at all, and a reply to a change adds just the
parts it carries (:func:`change_context`): the other-sessions offer, the new
activity row and, when sessions ended, the sessions list (what changed shows at once).
"""

from __future__ import annotations

from functools import lru_cache

import sqlalchemy as sa
from flask import g, session
from flask_login import current_user
from ua_parser import parse

from .. import events, trusted_browsers
from ..extensions import db
from ..htmx import is_htmx
from ..i18n import gettext
from ..models import SecurityEvent, User, UserSession
from ..sessions import SIGNED_IN
from ..twostep import factors
from ..twostep import messages as two_step_msg
from . import messages as msg
from .forms import ChangePasswordForm


def signed_in_user() -> User:
    """The signed-in user (the object, not Flask-Login's proxy)."""
    return current_user._get_current_object()


def settings_context(**extra) -> dict:
    """Everything the whole settings page needs, plus ``extra``.

    A reply to a change adds ``new_kind`` (the kind of event it recorded) and
    ``sessions_changed``, as for :func:`change_context`.
    """
    describe, recent = _describer(), events.recent(current_user)
    labels = {kind: str(events.KINDS[kind]) for kind in {e.kind for e in recent}}  # once a kind
    context = {**sessions_context(describe), **two_step_context(), **trusted_context(describe),
               "password_form": _blank_password(), "sessions_changed": False,
               "activity": [(e, labels[e.kind], describe(e.user_agent)) for e in recent]}
    context.update(extra)
    context.pop("offer", None)  # the whole page always has the sessions count
    kind = context.pop("new_kind", None)
    context["new_activity"] = [a for a in context["activity"] if a[0].kind == kind][:1]
    return context


#: The signed-in sessions of an account, newest first: rows, not ORM objects
#: (read-only), from Core columns with a bound parameter, built once (its
#: cache key is computed once, not on every page load).
_SESSIONS = UserSession.__table__
_SIGNED_IN_SESSIONS = (
    sa.select(_SESSIONS.c.id, _SESSIONS.c.ip, _SESSIONS.c.last_seen_at, _SESSIONS.c.user_agent)
    .where(_SESSIONS.c.user_id == sa.bindparam("user_id"), _SESSIONS.c.state == SIGNED_IN)
    .order_by(_SESSIONS.c.last_seen_at.desc())
)


def sessions_context(describe=None) -> dict:
    """The signed-in sessions list (``settings/_sessions.html``) and how many
    of them are other sessions (``settings/_other_sessions.html``).

    :param describe: :func:`describe_browser` or a page's memo of it (:func:`_describer`).
    """
    describe = describe or describe_browser
    rows = db.session.execute(_SIGNED_IN_SESSIONS, {"user_id": current_user.id})
    sessions = [(row, describe(row.user_agent)) for row in rows]
    others = sum(1 for row, _ in sessions if row.id != session.id)
    return {"sessions": sessions, "current_sid": session.id, **_others(others)}


def sessions_fragment_context(**extra) -> dict:
    """The Signed-in sessions section, and the parts of :func:`change_context`."""
    return {**sessions_context(), **change_context(**extra)}


def two_step_context(**extra) -> dict:
    """What the Two-step verification section needs besides its panel."""
    return {"app_needs_sms": two_step_msg.APP_NEEDS_SMS,
            "two_step_factors": factors.in_set_up_order(), **extra}


def trusted_context(describe=None) -> dict:
    """The Trusted browsers section (``settings/_trusted_browsers.html``).

    :param describe: :func:`describe_browser` or a page's memo of it (:func:`_describer`).
    """
    describe = describe or describe_browser
    rows = trusted_browsers.in_force(current_user)
    return {"trusted_browsers": [(row, describe(row.user_agent)) for row in rows],
            "this_browser": trusted_browsers.this_browser_id(rows),
            "trust_days": trusted_browsers.days()}


def password_context(**extra) -> dict:
    """The Change password section (a blank form unless ``extra`` has one)."""
    return {"password_form": _blank_password(), **change_context(**extra)}


def change_context(*, new_kind: str | None = None, sessions_changed: bool = False,
                   offer: bool = False, **extra) -> dict:
    """The parts a fragment's reply to a change carries, plus ``extra``.

    :param new_kind: the kind of security event the reply recorded: its row
        goes out of band to "Recent security activity" (``new_activity``).
    :param sessions_changed: other sessions ended: the sessions list goes out
        of band too.
    :param offer: the section says how many other sessions are signed in,
        with "Sign out of all other sessions" (OWASP ASVS 5.0 V7.4).
    """
    context = {"sessions_changed": sessions_changed, "new_activity": _new_activity(new_kind)}
    if g.get("trusted_browsers_ended"):
        # A credential change ended every trusted browser: the list goes out of band.
        context.update(trusted_context(), trusted_changed=True)
    if sessions_changed:
        context.update(sessions_context())
    elif offer:
        context.update(_others(db.session.scalar(
            sa.select(sa.func.count()).select_from(UserSession)
            .where(UserSession.user_id == current_user.id, UserSession.state == SIGNED_IN,
                   UserSession.id != session.id))))
    context.update(extra)
    return context


def _new_activity(kind: str | None) -> list[tuple]:
    """``[(event, label, browser)]`` for the newest event of ``kind`` (``[]`` for none)."""
    if kind is None:
        return []
    rows = db.session.execute(
        sa.select(SecurityEvent.kind, SecurityEvent.created_at, SecurityEvent.ip,
                  SecurityEvent.user_agent)
        .where(SecurityEvent.user_id == current_user.id, SecurityEvent.kind == kind)
        .order_by(SecurityEvent.created_at.desc(), SecurityEvent.id.desc()).limit(1)
    ).all()
    return [(e, events.KINDS[e.kind], describe_browser(e.user_agent)) for e in rows]


def _others(count: int) -> dict:
    return {"other_sessions": count, "other_sessions_text": other_sessions_text(count)}


def _blank_password() -> ChangePasswordForm:
    """The change-password form as the page shows it, blank. Without its own
    CSRF field: the template writes the token (``csrf()``), and the POST is
    checked by a form built with one (:func:`.routes.change_password`)."""
    return ChangePasswordForm(formdata=None, meta={"csrf": False})


def offer_sign_out(section: str) -> None:
    """After a change of the password or a factor, show in ``section``
    (``password`` or ``two-step``) how many other sessions are signed in, with
    "Sign out of all other sessions" (OWASP ASVS 5.0 V7.4). An htmx reply
    shows it in the fragment (:func:`change_context` with ``offer``); a plain
    form's 303 leads to the settings page, which shows it once, in that section."""
    if not is_htmx():
        session["changed"] = section


def other_sessions_text(count: int) -> str:
    """The sentence that says how many other sessions are signed in."""
    if count == 0:
        return msg.OTHER_SESSIONS_NONE
    return msg.other_sessions(count)


def _describer():
    """:func:`describe_browser` remembered for one page: its 20 activity rows and
    its sessions come from a few browsers, each described once."""
    said: dict[str, str] = {}

    def describe(user_agent: str) -> str:
        if user_agent not in said:
            said[user_agent] = describe_browser(user_agent)
        return said[user_agent]
    return describe


def describe_browser(user_agent: str) -> str:
    """Describe a browser, e.g. "Chrome 156 on Linux", from a User-Agent (ua-parser),
    in the current language."""
    browser, system = _browser_parts(user_agent or "")
    if browser is None:
        return gettext("Unknown browser")
    if system is None:
        return browser
    return gettext("%(browser)s on %(system)s", browser=browser, system=system)


@lru_cache(maxsize=512)
def _browser_parts(user_agent: str) -> tuple[str | None, str | None]:
    """``(browser and major version, operating system)`` of a User-Agent; None
    for what ua-parser does not know (names, not words: never translated)."""
    result = parse(user_agent)
    if result.user_agent is None:
        return None, None
    name = result.user_agent.family
    if result.user_agent.major:
        name = f"{name} {result.user_agent.major}"
    system = None
    if result.os is not None and result.os.family != "Other":
        system = result.os.family
    return name, system
