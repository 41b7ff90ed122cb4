"""The second step, shared by sign-in (``/sign-in/verify``) and recovery.

Its state lives in the server session (a dict the caller owns): which method
is chosen and whether the SMS for this step was sent, so that reloading the
page never sends another SMS ("Resend code" does, within the limits).

With both methods on, the authenticator app is asked for first; "Use SMS"
switches (and sends one SMS), "Use authenticator app" switches back.
"""

from __future__ import annotations

from flask import g, session

from ..models import User
from ..twostep import appcodes, smscodes
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
    def methods(self) -> list[str]:
        """The methods this user may choose: ``app`` (when on) and ``sms``."""
        return ["app", "sms"] if self.user.totp_enabled else ["sms"]

    @property
    def method(self) -> str:
        """The chosen method; the app by default when it is on."""
        chosen = self.state.get("method")
        return chosen if chosen in self.methods else self.methods[0]

    def choose(self, method: str) -> smscodes.Result:
        """Switch method; switching to SMS sends its code once.

        :raises ValueError: for a method this user does not have.
        """
        if method not in self.methods:
            raise ValueError(f"method {method!r} is not available")
        self._set(method=method)
        return self.begin()

    @property
    def sms_sent(self) -> bool:
        """True once an SMS code was sent for this step (so one may be waiting)."""
        return bool(self.state.get("sms_sent"))

    @property
    def masked_phone(self) -> str:
        """The user's number with only the last digits visible."""
        return mask_phone(self.user.sms_phone)

    def begin(self) -> smscodes.Result:
        """Send the first SMS of this step, once; later calls send nothing.

        Nothing is sent while the authenticator app is the chosen method.
        """
        if self.method != "sms" or self.state.get("sms_sent"):
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
        """Check a typed code by the chosen method; on success the caller commits."""
        if self.method == "app":
            return appcodes.check_code(self.user, text)
        return smscodes.check_code(self.user, self.user.sms_phone, self.purpose, text)

    def stash(self, status: int, errors=(), *, notice: str | None = None,
              resent: bool = False) -> None:
        """Keep what the next GET of this step shows once: a plain POST answers
        303 to that GET (post/redirect/get; issue 11, rule 2), so a reload or
        Back never resends a form. ``errors`` are the code field's messages
        (never the code typed); the 429 wait is kept for ``Retry-After``."""
        self._set(view={"status": status, "errors": list(errors), "notice": notice,
                        "resent": resent, "retry_after": g.get("retry_after")})

    def take(self) -> dict:
        """The stashed view of :meth:`stash`, once (``{}`` when none)."""
        view = self.state.pop("view", None) or {}
        if view:
            session.modified = True
        if view.get("retry_after"):
            g.retry_after = view["retry_after"]
        return view

    def _set(self, **values) -> None:
        self.state.update(values)
        session.modified = True
