"""The second step, shared by sign-in (``/sign-in/verify``) and recovery.

Its state lives in the server session (a dict the caller owns): which method
is chosen and whether the SMS for this step was sent, so that reloading the
page never sends another SMS ("Resend code" does, within the limits).
"""

from __future__ import annotations

from flask import session

from ..models import User
from ..twostep import smscodes
from ..twostep.phone import mask_phone


class SecondStep:
    """One second-factor step for ``user``.

    :param state: the session dict that keeps this step's state; it is updated
        in place and the session is marked modified.
    :param purpose: the SMS code purpose, ``sign_in`` or ``recovery``.
    """

    def __init__(self, user: User, state: dict, purpose: str):
        self.user, self.state, self.purpose = user, state, purpose

    @property
    def masked_phone(self) -> str:
        """The user's number with only the last digits visible."""
        return mask_phone(self.user.sms_phone)

    def begin(self) -> smscodes.Result:
        """Send the first SMS of this step, once; later calls send nothing."""
        if self.state.get("sms_sent"):
            return smscodes.Result()
        result = smscodes.send_code(self.user, self.user.sms_phone, self.purpose)
        if result.ok:
            self._set(sms_sent=True)
        return result

    def resend(self) -> smscodes.Result:
        """Send a new SMS code (the send limits apply)."""
        result = smscodes.send_code(self.user, self.user.sms_phone, self.purpose)
        if result.ok:
            self._set(sms_sent=True)
        return result

    def verify(self, text: str | None) -> smscodes.Result:
        """Check a typed code; on success the caller commits its change."""
        return smscodes.check_code(self.user, self.user.sms_phone, self.purpose, text)

    def _set(self, **values) -> None:
        self.state.update(values)
        session.modified = True
