"""What the Two-step verification section answers: a step's panel, a
finished flow, the section as it is.

With htmx the reply is the fragment ``_two_step_body.html``, rendered with
its own context (:func:`.context.two_step_context`: no sessions or activity
query for a panel); without JavaScript a 303 to the settings page, whose GET
shows the step (:func:`.panels.current_view`: a reload never loses a step).
"""

from __future__ import annotations

import functools

from flask import abort, render_template, url_for

from ..htmx import done, is_htmx, redirect_to
from ..replies import status_for
from ..twostep import messages as msg
from . import flow as flowstate
from .context import change_context, offer_sign_out, signed_in_user, two_step_context
from .flow_table import FLOWS
from .panels import panel_context

PAGE = "settings/account.html"
FRAGMENT = "settings/_two_step_body.html"


def here() -> str:
    """Where a plain POST of a step answers 303 to. No ``#two-step-verification``:
    a URL fragment turns off ``autofocus`` (HTML, "flush autofocus candidates"),
    and the focused field of the step scrolls into view by itself."""
    return url_for("settings.account")


def live(name: str) -> dict | None:
    """This flow's state while under way (not finished, not expired)."""
    state = flowstate.current(name)
    return state if state and state["step"] != "done" else None


def flow_step(view):
    """Decorate the view of a step of a flow (``POST /settings/two-step/<flow>/<step>``).

    A step of a flow that can no longer go on answers :func:`late_reply`;
    otherwise ``view(flow, state)`` runs, ``state`` being the flow's record
    while under way (:func:`live`; ``None`` when not started or expired).
    """
    @functools.wraps(view)
    def step(flow: str):
        late = late_reply(flow)
        return late if late is not None else view(flow, live(flow))
    return step


def late_reply(name: str):
    """The reply to a step of ``name`` that can no longer go on, or ``None``.

    A flow that finished (its outcome still true) answers with that outcome, as
    its last step did; a flow the account has moved past (another tab or
    session changed it) shows the section as it now is.

    :raises NotFound: for a name that is no flow (404).
    """
    if name not in FLOWS:
        abort(404)
    flow, user, state = FLOWS[name], signed_in_user(), flowstate.current(name)
    if flowstate.finished_truly(state, user):
        return finished(state, state["message"])
    if not flow.may_start(user):
        if state is not None and flow.holds(user, state):
            # A parallel request of the same click finished it (its session
            # write may not have landed yet): the same outcome.
            return finished(state, flow.done_text(state))
        return overtaken(name)
    return None


def overtaken(name: str):
    """The account is past this flow: show the section as it is (409)."""
    if flowstate.current(name) is not None:
        flowstate.end()
    return section(409)


def finished(state: dict, message: str | None = None, *, recorded: str | None = None,
             sessions_changed: bool = False):
    """A flow finished: the section (with the new activity row and, when other
    sessions ended, the sessions list, out of band) for htmx; else a 303 to the
    settings page with ``message`` flashed.

    :param message: what is now true; the flow's own sentence by default.
    :param recorded: the kind of security event this request recorded; none
        for a repeated submission, which changed nothing.
    """
    message = message or FLOWS[state["flow"]].done_text(state)
    flowstate.finish(state, message)
    offer_sign_out("two-step")
    context = _fragment(done=message, new_kind=recorded, sessions_changed=sessions_changed,
                        offer=True) if is_htmx() else {}
    return done(PAGE, FRAGMENT, message, url_for("settings.account"), **context)


def show(state: dict, panel: str, status: int = 200, form=None, *,
         notice: str | None = None, resent: bool = False, recorded: str | None = None):
    """The ``panel`` of the flow in ``state``: the fragment for htmx; without
    JavaScript a 303 to the settings page, which shows it (and ``form``'s errors).

    :param recorded: the kind of security event this request recorded (a
        change made before its last panel, e.g. new recovery codes): its row
        goes out of band to "Recent security activity", as for :func:`finished`.
    """
    if not is_htmx():
        flowstate.stash(panel, status, form, notice=notice, resent=resent)
        return redirect_to(here())
    return render_template(FRAGMENT, **_fragment(**panel_context(panel, state, form),
                                                 notice=notice, resent=resent,
                                                 new_kind=recorded)), status


def section(status: int = 200, notice: str | None = None):
    """The section without a flow (after Cancel, or when a flow cannot go on)."""
    if not is_htmx():
        flowstate.stash(None, status, notice=notice)
        return redirect_to(here())
    return render_template(FRAGMENT, **_fragment(notice=notice)), status


def reauth_again(name: str):
    """A step whose re-authentication expired asks for the password again (409);
    with no flow under way (cancelled, or never started) the section shows as it is."""
    state = flowstate.stored()
    if not state or state.get("flow") != name or state.get("step") == "done":
        return section(409)
    return show(flowstate.begin(name), "reauth", 409, notice=msg.REAUTH_EXPIRED)


def status_of(result) -> int:
    """The HTTP status of a reply showing a code ``result`` (429 notes its
    ``Retry-After``). The one place the settings flows ask it."""
    return status_for(result)


def _fragment(**extra) -> dict:
    return two_step_context(**change_context(**extra))
