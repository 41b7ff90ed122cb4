"""What each panel of the Two-step verification section shows.

A panel is one template (``settings/_panel_<name>.html``), chosen by
``settings/_two_step_body.html``; :func:`panel_context` gives its context,
and :func:`current_view` what a GET of the settings page shows in the section
(the step the flow is at; issue 11, rule 2).
"""

from __future__ import annotations

from ..auth.forms import CodeForm, PhoneForm, ReauthForm
from ..twostep import appcodes
from ..twostep.keys import group_secret
from ..twostep.phone import format_international, mask_phone
from ..twostep.qr import qr_image
from . import flow as flowstate
from .context import signed_in_user
from .flow_table import FLOWS

_FORMS = {"reauth": ReauthForm, "phone": PhoneForm, "code": CodeForm, "secret": CodeForm}
_FIELD = {"reauth": "reauth_form", "phone": "phone_form", "code": "code_form"}


def panel_context(panel: str | None, state: dict | None, form=None) -> dict:
    """Template context of ``panel`` for the flow in ``state`` (``{}`` for none).

    :param form: the submitted form (with its errors); a blank one otherwise.
    """
    if panel is None or state is None:
        return {}
    form = form or _FORMS[panel](formdata=None)
    if panel == "secret":
        return secret_context(form)
    context = {"panel": panel, "flow": state["flow"], _FIELD[panel]: form}
    if panel == "code":
        phone = state["phone"]
        context["step"] = {"masked_phone": mask_phone(phone),
                           "international": format_international(phone)}
    return context


def secret_context(form) -> dict:
    """What the secret key panel shows: key (grouped and plain), QR code, URI;
    ``{}`` when no key is being set up (it expired)."""
    user = signed_in_user()
    secret = appcodes.pending_secret(user)
    if secret is None:
        return {}
    uri = appcodes.uri_for(user, secret)
    return {"panel": "secret", "flow": "app", "code_form": form, "secret": secret,
            "secret_grouped": group_secret(secret), "uri": uri, "qr": qr_image(uri)}


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
    if panel == "secret" and not context:
        flowstate.end()  # the key expired
    return ({**context, "notice": view.get("notice"), "resent": view.get("resent")},
            view.get("status", 200))


def _stashed_form(panel: str | None, view: dict):
    """The form of ``panel`` as the POST before the redirect left it: its typed
    number and its errors (:func:`.flow.stash`)."""
    if not panel:
        return None
    form = _FORMS[panel](formdata=None, data={"phone": view.get("phone")})
    for field, errors in (view.get("errors") or {}).items():
        if field in form._fields:
            form[field].errors = list(errors)
    return form
