"""What each panel of the Two-step verification section shows.

A panel is one template (``settings/_panel_<name>.html``), chosen by
``settings/_two_step_body.html``, and one row of :data:`.flow_table.PANELS`
(registered by its flow module); :func:`panel_context` gives its context,
and :func:`current_view` what a GET of the settings page shows in the section
(the step the flow is at: a reload never loses a step).
"""

from __future__ import annotations

from ..auth.forms import ReauthForm
from . import flow as flowstate
from .context import signed_in_user
from .flow_table import FLOWS, PANELS, Panel, register


def form_panel(name: str, field: str, form: type, extra=None) -> Panel:
    """A panel whose context is its name, its flow and its form (as ``field``),
    plus ``extra(state)`` when given."""
    def context(state: dict, blank) -> dict:
        more = extra(state) if extra else {}
        return {"panel": name, "flow": state["flow"], field: blank, **more}
    return Panel(name, form, context)


def _reauth_context(state: dict) -> dict:
    flow = FLOWS[state["flow"]]
    return {"reauth_prompt": flow.prompt(signed_in_user()), "danger": flow.danger,
            "warning": flow.warning}


#: The first panel of every flow: "Enter your current password".
register(panels=(form_panel("reauth", "reauth_form", ReauthForm, _reauth_context),))


def panel_context(panel: str | None, state: dict | None, form=None) -> dict:
    """Template context of ``panel`` for the flow in ``state`` (``{}`` for none).

    :param form: the submitted form (with its errors); a blank one otherwise.
    """
    if panel is None or state is None:
        return {}
    kind = PANELS[panel]
    return kind.context(state, form or kind.form(formdata=None))


def current_view() -> tuple[dict, int]:
    """What the settings page shows in the section on a GET: the step the flow
    is at (with the errors of the POST that led here, once), and its status.

    :return: ``(template context, HTTP status)``.
    """
    view, state = flowstate.take() or {}, flowstate.current()
    moved_on = state is not None and not FLOWS[state["flow"]].may_start(signed_in_user())
    if moved_on and state["step"] != "done":
        flowstate.end()  # another session moved the account past this flow
        state = None
    step = state["step"] if state and state["step"] != "done" else None
    panel = view.get("panel", step) if view else step
    if panel not in (None, "reauth") and not flowstate.reauthed(state):
        panel = None
    context = panel_context(panel, state, _stashed_form(panel, view))
    if panel is not None and state is not None and not context:
        flowstate.end()  # the panel has nothing left to show (the app's key expired)
    return ({**context, "notice": view.get("notice"), "resent": view.get("resent")},
            view.get("status", 200))


def _stashed_form(panel: str | None, view: dict):
    """The form of ``panel`` as the POST before the redirect left it: its typed
    number and its errors (:func:`.flow.stash`)."""
    if not panel:
        return None
    form = PANELS[panel].form(formdata=None, data={"phone": view.get("phone")})
    for field, errors in (view.get("errors") or {}).items():
        if field in form._fields:
            form[field].errors = list(errors)
    return form
