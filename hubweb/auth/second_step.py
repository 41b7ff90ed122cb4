"""The second step, shared by sign-in (``/sign-in/verify``) and recovery.

Its state lives in the server session (a dict the caller owns): which method
is chosen and whether the SMS for this step was sent, so that reloading the
page never sends another SMS ("Resend code" does, within the limits).

With both methods on, the authenticator app is asked for first; "Use SMS"
switches (and sends one SMS), "Use authenticator app" switches back.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import g, session

from ..models import User
from ..twostep import appcodes, smscodes
from ..twostep import messages as msg
from ..twostep.phone import mask_phone


@dataclass(frozen=True)
class Countdown:
    """A send limit said calmly next to the button it holds back (issue 11 rule 4).

    The page shows :attr:`words`; where JavaScript runs, ``static/app.js``
    counts :attr:`seconds` down, rewriting ``{wait}`` in :attr:`text` with
    :data:`~hubweb.twostep.messages.UNITS`, then shows :attr:`done` and enables
    the button. The server enforces the limit either way.

    :ivar seconds: whole seconds until a code may be sent.
    :ivar text: the sentence, with ``{wait}`` for the time left.
    :ivar done: the sentence once the wait is over.
    """

    seconds: int
    text: str
    done: str
    units = msg.UNITS
    minutes_up_to = msg.MINUTES_UP_TO

    @property
    def words(self) -> str:
        return self.text.format(wait=msg.duration(self.seconds))


class SecondStep:
    """One second-factor step for ``user``.

    :param state: the session dict that keeps this step's state; it is updated
        in place and the session is marked modified.
    :param purpose: the SMS code purpose, ``sign_in`` or ``recovery``.
    """

    def __init__(self, user: User, state: dict, purpose: str):
        self.user, self.state, self.purpose = user, state, purpose
        #: a stashed reply (:meth:`take`) said a send limit held a code back
        self.held_back = False

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

    @property
    def send_label(self) -> str:
        """The SMS button: "Resend code" once a code was sent for this step, else "Send code"."""
        return msg.RESEND_BUTTON if self.sms_sent else msg.SEND_BUTTON

    def countdown(self, send: smscodes.Result | None = None) -> Countdown | None:
        """The wait before the SMS button may send, or ``None`` when it may now.

        :param send: this request's send attempt, if it made one; when a limit
            held it back, the page says that limit's own sentence, else (a code
            for this step is on its way) "You can ask for a new code in ...".
        """
        if self.method != "sms":
            return None
        hold = smscodes.send_limit(self.user, self.user.sms_phone, self.purpose)
        if hold.ok:
            return None
        asked = (send is not None and send.held) or self.held_back
        text = msg.SEND_AGAIN_IN if self.sms_sent and not asked else hold.wait_text
        return Countdown(hold.wait, text, msg.SEND_READY.format(button=self.send_label))

    @property
    def lost_phone_help(self) -> str:
        """What to do without the phone (or app) of the chosen method, worded for
        this place: :data:`hubweb.twostep.messages.LOST_PHONE` by purpose, method
        and whether another method is on."""
        return msg.LOST_PHONE[(self.purpose, self.method, len(self.methods) > 1)]

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
              resent: bool = False, held: bool = False) -> None:
        """Keep what the next GET of this step shows once: a plain POST answers
        303 to that GET (post/redirect/get; issue 11, rule 2), so a reload or
        Back never resends a form. ``errors`` are the code field's messages
        (never the code typed); the 429 wait is kept for ``Retry-After``;
        ``held`` says a send limit held this request's code back, so the GET
        words the wait as that limit does."""
        self._set(view={"status": status, "errors": list(errors), "notice": notice,
                        "resent": resent, "held": held, "retry_after": g.get("retry_after")})

    def take(self) -> dict:
        """The stashed view of :meth:`stash`, once (``{}`` when none)."""
        view = self.state.pop("view", None) or {}
        if view:
            session.modified = True
        if view.get("retry_after"):
            g.retry_after = view["retry_after"]
        self.held_back = bool(view.get("held"))
        return view

    def _set(self, **values) -> None:
        self.state.update(values)
        session.modified = True
