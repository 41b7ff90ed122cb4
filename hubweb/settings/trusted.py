"""The Trusted browsers section of the settings page: the browsers that skip
the second step of sign-in (:mod:`hubweb.trusted_browsers`), "Forget" for
each and "Forget all browsers".

Both answer like the other sections: the ``#trusted-browsers`` fragment for
htmx, else a 303 to the page with the notice. Done twice (double click, two
tabs), the second reply says the browser was already forgotten.
"""

from __future__ import annotations

from flask import url_for
from flask_login import login_required

from .. import trusted_browsers
from ..auth.forms import EmptyForm
from ..extensions import db
from ..htmx import done, is_htmx, render
from . import messages as msg
from .blueprint import bp
from .context import change_context, settings_context, signed_in_user, trusted_context
from .two_step_replies import PAGE

FRAGMENT = "settings/_trusted_browsers.html"


@bp.post("/trusted-browsers/<int:browser_id>/forget")
@login_required
def forget_browser(browser_id: int):
    """"Forget": that browser asks for a code again at its next sign-in."""
    if not EmptyForm().validate_on_submit():
        return _refused()
    forgotten = trusted_browsers.forget(signed_in_user(), browser_id)
    db.session.commit()
    notice = msg.BROWSER_FORGOTTEN if forgotten else msg.NO_SUCH_BROWSER
    return _done(notice, "browser_forgotten" if forgotten else None)


@bp.post("/trusted-browsers/forget-all")
@login_required
def forget_all_browsers():
    """"Forget all browsers": every browser asks for a code again."""
    if not EmptyForm().validate_on_submit():
        return _refused()
    count = trusted_browsers.forget_all(signed_in_user())
    db.session.commit()
    return _done(msg.browsers_forgotten(count), "browsers_forgotten" if count else None)


def _fragment_context(**extra) -> dict:
    return {**trusted_context(), **change_context(**extra)}


def _refused():
    context = _fragment_context() if is_htmx() else settings_context()
    return render(PAGE, FRAGMENT, 422, **context)


def _done(notice: str, kind: str | None):
    context = _fragment_context(trusted_notice=notice, new_kind=kind) if is_htmx() else {}
    return done(PAGE, FRAGMENT, notice, url_for("settings.account"), **context)
