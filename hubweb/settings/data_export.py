""""Download your data": the JSON document of :mod:`hubweb.export`, behind
the gate (:mod:`.account_gate`: password, and the second step while it is on).

The download is a GET (it changes nothing but the record of it), answered as
an attachment that no cache keeps (``Cache-Control: no-store``, RFC 9111
section 5.2.2.5); it records a security event and tells the person by email.
"""

from __future__ import annotations

import json

from flask import Response, session
from flask_login import login_required

from .. import events, export, mail
from ..extensions import db, limiter
from . import account_gate as gate
from . import messages as msg
from .account_actions import PANELS, gate_reply
from .blueprint import bp
from .context import signed_in_user

PANELS["export"] = lambda user: {}


@bp.get("/account/export/data.json")
@login_required
@limiter.limit("10 per hour")
def download_data():
    """The account's data as a JSON attachment."""
    user = signed_in_user()
    if not gate.cleared(user, "export"):
        return gate_reply("export")
    body = json.dumps(export.document(user, session.id), ensure_ascii=False, indent=2)
    events.record(user, "data_exported")
    mail.queue(user, msg.EXPORT_SUBJECT, "data_exported")
    db.session.commit()
    return Response(body + "\n", 200, {
        "Content-Type": "application/json; charset=utf-8",
        "Content-Disposition": 'attachment; filename="account-data.json"',
        "Cache-Control": "no-store",
    })
