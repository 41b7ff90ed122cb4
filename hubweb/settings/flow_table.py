"""The Two-step verification flows of the settings page, keyed by name.

One row per flow, read by the step views (:mod:`.two_step`), the replies
(:mod:`.two_step_replies`) and the flow state (:mod:`.flow`). The code that
runs each flow's own steps is in :mod:`.sms_setup`, :mod:`.app_setup` and
:mod:`.disable`; the URL scheme, ``/settings/two-step/<name>/<step>``, is the
same for every flow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..models import User
from ..twostep import messages as msg


@dataclass(frozen=True)
class Flow:
    """One flow.

    :ivar purpose: the SMS code purpose it sends (``None``: it sends no SMS).
    :ivar may_start: may it start, given the account's state?
    :ivar done_text: its finished state's sentence, given its record.
    :ivar holds: is its finished state still true of the account (given its
        record, which holds the number it verified)?
    """

    name: str
    purpose: str | None
    may_start: Callable[[User], bool]
    done_text: Callable[[dict], str]
    holds: Callable[[User, dict], bool]


def _number_in_use(user: User, state: dict) -> bool:
    return user.sms_enabled and user.sms_phone == state.get("phone")


FLOWS = {flow.name: flow for flow in (
    Flow("sms", "setup", lambda u: not u.sms_enabled, lambda s: msg.SMS_ENABLED,
         _number_in_use),
    Flow("phone", "change_phone", lambda u: u.sms_enabled, lambda s: msg.PHONE_CHANGED,
         _number_in_use),
    Flow("disable", None, lambda u: u.sms_enabled, lambda s: msg.TWO_STEP_DISABLED,
         lambda u, s: not u.sms_enabled),
    Flow("app", None, lambda u: u.sms_enabled,
         lambda s: msg.APP_REPLACED if s.get("replacing") else msg.APP_ENABLED,
         lambda u, s: u.totp_enabled),
    Flow("app_disable", None, lambda u: u.totp_enabled, lambda s: msg.APP_DISABLED,
         lambda u, s: u.sms_enabled and not u.totp_enabled),
)}
