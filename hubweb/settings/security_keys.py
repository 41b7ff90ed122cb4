"""Security keys and passkeys in the Two-step verification section: "Add
security key" (flow ``webauthn``: current password, then the key panel,
where the person names the key and the browser creates it) and "Remove"
(flow ``webauthn_remove``: the key chosen, then the current password).

Only while SMS two-step verification is on (every other factor needs it);
turning it off removes every key (:func:`hubweb.twostep.factors.disable`).
The key's rules and checks are :mod:`hubweb.twostep.webauthnkeys`'s; the
change with its event, email and session rules is
:mod:`hubweb.twostep.changes`'s.
"""

from __future__ import annotations

from flask import session
from flask_login import login_required
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import InputRequired, Length

from ..auth.forms import EmptyForm
from ..i18n import lazy_text as _l
from ..twostep import changes, webauthnkeys
from ..twostep import messages as msg
from . import flow as flowstate
from .blueprint import bp
from .context import signed_in_user
from .flow_table import Flow, Panel, register
from .two_step_replies import finished, overtaken, reauth_again, section, show, status_of


class KeyForm(FlaskForm):
    """``name`` (the key's nickname, 1-64 characters) and ``credential`` (the
    browser's answer, Level 3 ``toJSON()``, filled by ``static/webauthn.js``)."""

    name = StringField(_l("Name of the key"), validators=[
        InputRequired(webauthnkeys.NAME_MISSING),
        Length(max=webauthnkeys.NAME_MAX, message=webauthnkeys.NAME_MISSING)],
        render_kw={"autocomplete": "off", "maxlength": webauthnkeys.NAME_MAX,
                   "placeholder": _l("e.g. Blue YubiKey")})
    credential = HiddenField()


def may_add(user) -> bool:
    """"Add security key" may start: SMS is on and the account has fewer than
    :data:`~hubweb.twostep.webauthnkeys.MAX_KEYS` keys."""
    return user.sms_enabled and len(webauthnkeys.keys(user)) < webauthnkeys.MAX_KEYS


def after_password(state: dict, reauth_at: float):
    """The key panel: a name, and the browser's credential."""
    return show(flowstate.move(state, "key_add", reauth_at=reauth_at), "key_add")


def confirm(name: str, state: dict | None):
    """Check the name and the browser's answer, and add the key."""
    if not flowstate.reauthed(state) or state["step"] != "key_add":
        return reauth_again(name)
    user, form = signed_in_user(), KeyForm()
    if not form.validate_on_submit():
        return show(state, "key_add", 422, form)
    if webauthnkeys.has_credential(user, form.credential.data):
        return finished(state)  # this answer was added already (Back, then sent again)
    problem = webauthnkeys.name_problem(user, form.name.data)
    if problem:
        form.name.errors.append(problem)
        return show(state, "key_add", 422, form)
    result = changes.add_security_key(user, form.name.data, form.credential.data,
                                      keep_session=session.id)
    if not result.ok and webauthnkeys.has_credential(user, form.credential.data):
        return finished(state)  # a parallel submission of the same answer added it
    if not result.ok:
        form.credential.errors.append(result.message)
        return show(state, "key_add", status_of(result), form)
    return finished(state, recorded="key_added")


def key_add_context(state: dict, form) -> dict:
    """The key panel: its form and the creation options (a new challenge)."""
    return {"panel": "key_add", "flow": "webauthn", "key_form": form,
            "webauthn_options": webauthnkeys.creation_options(signed_in_user())}


@bp.post("/security-keys/<int:key_id>/remove")
@login_required
def remove_key_start(key_id: int):
    """"Remove" next to a key: the password prompt of flow ``webauthn_remove``,
    for that key (a key that is gone already shows the section as it is)."""
    user = signed_in_user()
    if not EmptyForm().validate_on_submit():
        return section(400)
    row = next((r for r in webauthnkeys.keys(user) if r.id == key_id), None)
    if row is None:
        return overtaken("webauthn_remove")
    state = flowstate.move(flowstate.begin("webauthn_remove"), "reauth", key_id=row.id)
    return show(state, "reauth")


def remove_key(state: dict, reauth_at: float):
    """Remove the chosen key (the right password was just given)."""
    if "key_id" not in state:
        return reauth_again("webauthn_remove")
    if changes.remove_security_key(signed_in_user(), state["key_id"],
                                   keep_session=session.id) is None:
        return finished(state)
    return finished(state, recorded="key_removed")


register(
    Flow("webauthn", None, may_add, lambda s: webauthnkeys.ADDED,
         lambda u, s: bool(webauthnkeys.keys(u)), after_password,
         lambda u: msg.REAUTH_PROMPTS["webauthn"], confirm),
    Flow("webauthn_remove", None, lambda u: bool(webauthnkeys.keys(u)),
         lambda s: webauthnkeys.REMOVED, lambda u, s: True, remove_key,
         lambda u: msg.REAUTH_PROMPTS["webauthn_remove"], danger=True),
    panels=(Panel("key_add", KeyForm, key_add_context),),
)
