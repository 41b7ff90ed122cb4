"""The Two-step verification section of User account settings: the steps
every flow shares; each flow's row (:data:`.flow_table.FLOWS`, registered by
its module) says what it does at them.

Flows, each a short sequence of panels
that htmx swaps into ``#two-step`` inside the section
``#two-step-verification``, and plain forms without JavaScript; every step
is ``POST /settings/two-step/<flow>/<step>``:

- ``sms`` ("Set up") and ``phone`` ("Change phone number"): password,
  number, code (:mod:`.sms_setup`).
- ``app`` ("Get secret key", only while SMS 2SV is on): password, the secret
  key panel, a code from the app (:mod:`.app_setup`).
- ``disable`` ("Disable two-step verification") and ``app_disable``
  ("Disable authenticator app"): a warning and the password (:mod:`.disable`).

Where a flow stands lives in the server session (:mod:`.flow`), so a reload,
Back or Forward shows the same step, and a step sent again after its flow
finished answers with what is now true. Without JavaScript every POST answers
303 to the settings page, which shows the step. Leaving half-way changes
nothing.
"""

from __future__ import annotations

from flask import abort
from flask_login import login_required

from ..auth.forms import ReauthForm
from ..extensions import limiter
from ..htmx import redirect_to
from . import flow as flowstate
from . import reauth
from .blueprint import bp
from .context import signed_in_user
from .flow_table import FLOWS
from .two_step_replies import flow_step, here, overtaken, reauth_again, section, show


@bp.get("/two-step/cancel")
@bp.get("/two-step/<flow>/<step>")
@login_required
def two_step_step_page(flow: str | None = None, step: str | None = None):
    """A step's URL opened directly (bookmark, Back without JavaScript): the
    settings page, which shows the step the flow is at."""
    return redirect_to(here())


@bp.post("/two-step/<flow>/start")
@login_required
def two_step_start(flow: str):
    """First panel of every flow: "Enter your current password"."""
    if flow not in FLOWS:
        abort(404)
    if not FLOWS[flow].may_start(signed_in_user()):
        return overtaken(flow)
    return show(flowstate.begin(flow), "reauth")


@bp.post("/two-step/<flow>/password")
@login_required
@limiter.limit("10 per minute")
@flow_step
def two_step_password(flow: str, state: dict | None):
    """Check the current password, then go on as the flow does (its ``after_password``)."""
    state, form = state or flowstate.begin(flow), ReauthForm()
    reauth_at = reauth.confirm_password(signed_in_user(), form)
    if reauth_at is None:
        return show(state, "reauth", 422, form)
    return FLOWS[flow].after_password(state, reauth_at)


@bp.post("/two-step/<flow>/code")
@login_required
@flow_step
def two_step_code(flow: str, state: dict | None):
    """The code step: the flow's own check (its ``confirm``)."""
    confirm = FLOWS[flow].confirm
    return confirm(flow, state) if confirm else reauth_again(flow)


@bp.post("/two-step/cancel")
@login_required
def two_step_cancel():
    """Leave a flow half-way: nothing changes."""
    flowstate.end()
    return section()
