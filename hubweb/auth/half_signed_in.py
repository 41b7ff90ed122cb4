"""The half-signed-in state, in one place: how it starts, its guard, where it
may go, and the reply to a second-step form sent after it ended.

After the right password a user with two-step verification is only half
signed in (session state ``pending``, at most 10 minutes, see
:mod:`hubweb.sessions`). That session reaches nothing but the endpoints in
:data:`PENDING_ALLOWED`; every other request is sent to ``/sign-in/verify``
(``HX-Redirect`` for htmx). It ends when the second step succeeds
(:func:`hubweb.auth.flows.after_second_step` starts a new, signed-in session
under a new id, so the step's state goes with the old one), at sign-out, or
when it expires.
"""

from __future__ import annotations

from flask import request, session, url_for

from .. import errors
from ..htmx import redirect_to
from ..models import User
from ..sessions import PENDING, SIGNED_IN
from .blueprint import bp

#: The second step's own endpoints (code, "Resend code", method switch).
STEP_ENDPOINTS = frozenset({"auth.verify", "auth.verify_resend", "auth.verify_method"})
#: What a half-signed-in session may reach. The development outbox is there so
#: a developer can read the code; it does not exist with real backends.
PENDING_ALLOWED = STEP_ENDPOINTS | {"auth.verify_step_page", "auth.sign_out", "static",
                                    "outbox.index"}
#: The session key of the sign-in second step's state (:class:`SecondStep`).
STATE_KEY = "verify"


def start(user: User, target: str) -> str:
    """Make this browser's session half signed in for ``user`` (a new id, one
    factor shown); return the second step's URL. ``target`` is where to go after."""
    session.start(user, PENDING, factors=1)
    session["next"] = target
    return url_for("auth.verify")


def state() -> dict:
    """The sign-in second step's state in this half-signed-in session."""
    return session.setdefault(STATE_KEY, {})


def elsewhere():
    """The reply for a second-step request whose session is not half signed in,
    or ``None`` when it is: signed in goes home, anything else to sign-in."""
    if session.state == SIGNED_IN:
        return redirect_to(url_for("views.home"))
    if session.state != PENDING:
        return redirect_to(url_for("auth.sign_in"))
    return None


def is_half_signed_in() -> bool:
    """True while this browser's session is half signed in."""
    return session.state == PENDING


@bp.app_context_processor
def _templates_ask():
    """``half_signed_in()`` for every template (the header offers "Sign out"
    to a half-signed-in session too)."""
    return {"half_signed_in": is_half_signed_in}


@bp.before_app_request
def pending_guard():
    """Keep a half-signed-in session on the second step."""
    if is_half_signed_in() and request.endpoint not in PENDING_ALLOWED:
        return redirect_to(url_for("auth.verify"))
    return None


@errors.on_csrf_failure
def left_second_step():
    """The reply to a second-step POST whose session is no longer half signed in,
    or ``None``: signed in (the sign-in finished; the form still carried the
    half-signed-in session's CSRF token) goes home, anything else to sign-in.

    :mod:`hubweb.errors` asks this before refusing such a POST's CSRF token,
    so a code sent again after success lands where the person now is (a step
    done twice ends in the truthful state) instead of on "This form has expired".
    """
    if request.endpoint not in STEP_ENDPOINTS:
        return None
    return elsewhere()
