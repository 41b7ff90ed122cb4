""""Delete account": behind the gate (:mod:`.account_gate`: password, and
the second step while it is on), a page that says what will be deleted and
asks for the account's email address typed again; then
:func:`hubweb.deletion.delete_account` in one transaction, and the browser is
signed out (every other session went with the account's rows).
"""

from __future__ import annotations

from flask import flash, session, url_for
from flask_login import login_required, logout_user

from .. import accounts, deletion
from ..extensions import db, limiter
from ..htmx import redirect_to
from . import account_gate as gate
from . import messages as msg
from .account_actions import PANELS, gate_reply, render_action
from .blueprint import bp
from .context import signed_in_user
from .forms import DeleteAccountForm

PANELS["delete"] = lambda user: {"delete_form": DeleteAccountForm(formdata=None)}


@bp.post("/account/delete/confirm")
@login_required
@limiter.limit("5 per minute")
def delete_account():
    """Delete the account once its address is typed again."""
    user = signed_in_user()
    if not gate.cleared(user, "delete"):
        return gate_reply("delete")
    form = DeleteAccountForm()
    if not form.validate_on_submit():
        return render_action("delete", 422, delete_form=form)
    if accounts.email_key(form.confirm_email.data) != user.email_key:
        form.confirm_email.errors.append(msg.DELETE_MISMATCH)
        return render_action("delete", 422, delete_form=form)
    deletion.delete_account(user)
    db.session.commit()
    logout_user()
    session.end()
    flash(str(msg.DELETED), "success")
    return redirect_to(url_for("auth.sign_in"))
