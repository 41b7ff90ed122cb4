"""Where a Two-step verification flow stands, kept in the server session.

One flow at a time, in ``session["two_step"]``::

    {"flow": "sms", "step": "code", "started_at": 1733580000.0,
     "reauth_at": 1733580010.0, "phone": "+447400123456"}

``step`` is the panel to show: ``reauth`` (the password prompt), ``phone``,
``code``, ``secret`` (the secret key panel), or ``done`` (the flow finished;
``message`` then holds what is now true). The state is the single source of
what the page shows, so a reload, Back or Forward (with or without
JavaScript) shows the same step again (a reload never loses a step), and a step
submitted again after its flow finished (double click, two tabs, Back then
resubmit) answers with the finished state instead of an error (a step done
twice ends in the truthful state).

Without JavaScript every POST answers 303 to the settings page
(post/redirect/get, RFC 9110 section 15.4.4); what that one reply must add
to the step (field errors, a notice, the status) travels in
``session["two_step_view"]`` and is shown once (:func:`stash`, :func:`take`).
Session data lives in server-side rows (hubweb.sessions), never in the cookie.
"""

from __future__ import annotations

import time

from flask import session

from ..replies import note_retry_after, noted_retry_after
from .flow_table import FLOWS
from .reauth import REAUTH_SECONDS, require_recent_password

# A re-authentication is good for REAUTH_SECONDS of one flow; a finished
# flow's record answers late submissions for as long.


def begin(flow: str) -> dict:
    """Start ``flow`` at its password prompt, replacing any other flow."""
    session.pop("two_step_view", None)
    state = session["two_step"] = {"flow": flow, "step": "reauth", "started_at": time.time()}
    return state


def current(flow: str | None = None) -> dict | None:
    """The flow under way (``flow`` only, when given), or ``None`` when there is
    none or its last re-authentication (or start) is over :data:`REAUTH_SECONDS` old."""
    state = session.get("two_step")
    if not state or (flow is not None and state.get("flow") != flow):
        return None
    since = state.get("reauth_at") or state.get("started_at") or state.get("at") or 0
    if time.time() - since > REAUTH_SECONDS:
        return None
    return state


def stored() -> dict | None:
    """The flow record as stored, even when expired (``None`` for none)."""
    return session.get("two_step")


def reauthed(state: dict | None) -> bool:
    """True when the password was given for this flow within :data:`REAUTH_SECONDS`."""
    return bool(state) and require_recent_password(state.get("reauth_at"))


def move(state: dict, step: str, **values) -> dict:
    """Go on to ``step`` of the flow in ``state`` (``values`` are kept with it)."""
    new = session["two_step"] = {**state, **values, "step": step}
    return new


def finish(state: dict, message: str) -> None:
    """Record the flow as finished with ``message`` (what is now true; a lazy
    text is kept as the words of this request's language: the session is JSON)."""
    session["two_step"] = {"flow": state["flow"], "step": "done", "at": time.time(),
                           "message": str(message), "phone": state.get("phone")}


def finished_truly(state: dict | None, user) -> bool:
    """True when ``state`` is a finished flow whose outcome still holds for ``user``."""
    return bool(state) and state.get("step") == "done" and FLOWS[state["flow"]].holds(
        user, state)


def end() -> None:
    """Forget the flow (Cancel, or a flow that can no longer go on)."""
    session.pop("two_step", None)
    session.pop("two_step_view", None)


def stash(panel: str, status: int, form=None, *, notice: str | None = None,
          resent: bool = False) -> None:
    """Keep what the next GET of the settings page adds to ``panel``.

    :param form: the submitted form; its errors are kept, and its typed
        ``phone`` (the person's own input; never a password or a code).
        The 429 wait noted for ``Retry-After`` is kept too
        (:func:`hubweb.replies.noted_retry_after`).
    """
    errors = {name: [str(e) for e in field.errors] for name, field in (form._fields.items() if form
                                                            else ()) if field.errors}
    typed = form.phone.data if form is not None and "phone" in form._fields else None
    session["two_step_view"] = {"panel": panel, "status": status, "errors": errors,
                                "phone": typed,
                                "notice": None if notice is None else str(notice),
                                "resent": resent, "retry_after": noted_retry_after()}


def take() -> dict | None:
    """The stashed additions of :func:`stash`, once; a 429's wait is noted
    again for the ``Retry-After`` header (:func:`hubweb.replies.note_retry_after`)."""
    view = session.pop("two_step_view", None)
    if view:
        note_retry_after(view.get("retry_after"))
    return view
