"""The second step's state, shared by sign-in (``/sign-in/verify``) and recovery.

Its state lives in the server session (a dict the caller owns): which factor
is chosen and whether the chosen factor's code for this step was sent, so
that reloading the page never sends another SMS ("Resend code" does, within
the limits).

The methods are the factors the person has on, in the order of
:data:`hubweb.twostep.factors.FACTORS` (the authenticator app before SMS);
the step never names one. Switching to a factor begins it once (SMS: one code).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import session

from ..models import User
from ..replies import note_retry_after, noted_retry_after
from ..twostep import factors
from ..twostep import messages as msg
from ..twostep.factors import Factor
from ..twostep.result import Result


@dataclass(frozen=True)
class Countdown:
    """A send limit said calmly next to the button it holds back (no error
    the person did not cause).

    The page shows :attr:`words`; where JavaScript runs, ``static/app.js``
    counts :attr:`seconds` down, rewriting ``{wait}`` in :attr:`text` with
    :func:`~hubweb.twostep.messages.units`, then shows :attr:`done` and enables
    the button. The server enforces the limit either way.

    :ivar seconds: whole seconds until a code may be sent.
    :ivar text: the sentence, with ``{wait}`` for the time left.
    :ivar done: the sentence once the wait is over.
    """

    seconds: int
    text: str
    done: str
    minutes_up_to = msg.MINUTES_UP_TO

    @property
    def units(self) -> dict:
        return msg.units()

    @property
    def words(self) -> str:
        return self.text.format(wait=msg.duration(self.seconds))


class SecondStep:
    """One second-factor step for ``user``.

    :param state: the session dict that keeps this step's state; it is updated
        in place and the session is marked modified.
    :param purpose: what the code is for, ``sign_in`` or ``recovery``.
    """

    def __init__(self, user: User, state: dict, purpose: str):
        self.user, self.state, self.purpose = user, state, purpose
        #: a stashed reply (:meth:`take`) said a send limit held a code back
        self.held_back = False
        self._factors = factors.available(user)

    @property
    def methods(self) -> list[str]:
        """The keys of the factors this user may choose, in registry order."""
        return [factor.key for factor in self._factors]

    @property
    def factor(self) -> Factor:
        """The chosen factor; the first one on by default."""
        chosen = self.state.get("method")
        return next((f for f in self._factors if f.key == chosen), self._factors[0])

    @property
    def method(self) -> str:
        """The key of the chosen factor."""
        return self.factor.key

    @property
    def others(self) -> list[Factor]:
        """The factors the person may switch to (each gets its "Use ..." button)."""
        return [factor for factor in self._factors if factor is not self.factor]

    def choose(self, method: str) -> Result:
        """Switch factor; switching begins it once (SMS: sends its code).

        :raises ValueError: for a method this user does not have.
        """
        if method not in self.methods:
            raise ValueError(f"method {method!r} is not available")
        self._set(method=method)
        return self.begin()

    def follow(self, method: str | None) -> None:
        """Check the next code by ``method``, the factor the submitted form showed.

        Another tab of the same session may have switched factors since that
        form was shown; the code the person typed belongs to the factor they
        were asked for. A method the account does not have is ignored. Nothing
        is sent (unlike :meth:`choose`).
        """
        if method in self.methods and method != self.method:
            self._set(method=method)

    @property
    def sent(self) -> bool:
        """True once the chosen factor sent a code for this step (one may be waiting)."""
        return bool(self.state.get(f"{self.method}_sent"))

    @property
    def destination(self) -> str:
        """Where the chosen factor's code goes, masked (the last digits of the number)."""
        return self.factor.destination(self.user)

    @property
    def send_label(self) -> str:
        """The send button: "Resend code" once a code was sent for this step, else "Send code"."""
        return msg.RESEND_BUTTON if self.sent else msg.SEND_BUTTON

    def countdown(self, send: Result | None = None) -> Countdown | None:
        """The wait before the send button may send, or ``None`` when it may now.

        :param send: this request's send attempt, if it made one; when a limit
            held it back, the page says that limit's own sentence, else (a code
            for this step is on its way) "You can ask for a new code in ...".
        """
        if not self.factor.sends:
            return None
        hold = self.factor.hold(self.user, self.purpose)
        if hold.ok:
            return None
        asked = (send is not None and send.held) or self.held_back
        text = msg.SEND_AGAIN_IN if self.sent and not asked else hold.wait_text
        return Countdown(hold.wait, text, msg.SEND_READY.format(button=self.send_label))

    @property
    def lost_phone_help(self) -> str:
        """What to do without the phone (or app) of the chosen method, worded for
        this place: the chosen factor's ``lost_text``, each other one's
        ``switch_hint`` and the place's closing sentence
        (:func:`hubweb.twostep.messages.lost_help`)."""
        return msg.lost_help(self.purpose, self.factor.lost_text,
                             [other.switch_hint for other in self.others])

    @property
    def choose_method(self) -> str:
        """The refusal of a switch to a method this person does not have: their
        methods, by name ("Choose the authenticator app or SMS.")."""
        return msg.choose_method([factor.choice_name for factor in self._factors])

    def begin(self) -> Result:
        """Begin the chosen factor for this step, once; later calls do nothing
        (a factor that sends nothing never counts as begun)."""
        if self.sent:
            return Result()
        return self._begin() if self.factor.sends else Result()

    def resend(self) -> Result:
        """Send a new code by the chosen factor (the send limits apply)."""
        return self._begin()

    def verify(self, text: str | None) -> Result:
        """Check a typed code by the chosen factor; on success the caller commits."""
        return self.factor.verify(self.user, text, self.purpose)

    def _begin(self) -> Result:
        result = self.factor.begin(self.user, self.purpose)
        if result.ok:
            self._set(**{f"{self.method}_sent": True})
        return result

    def stash(self, status: int, errors=(), *, notice: str | None = None,
              resent: bool = False, held: bool = False) -> None:
        """Keep what the next GET of this step shows once: a plain POST answers
        303 to that GET (post/redirect/get: a reload or Back never loses a step), so a reload or
        Back never resends a form. ``errors`` are the code field's messages
        (never the code typed); the 429 wait is kept for ``Retry-After``;
        ``held`` says a send limit held this request's code back, so the GET
        words the wait as that limit does."""
        self._set(view={"status": status, "errors": [str(e) for e in errors],
                        "notice": None if notice is None else str(notice),
                        "resent": resent, "held": held, "retry_after": noted_retry_after()})

    def take(self) -> dict:
        """The stashed view of :meth:`stash`, once (``{}`` when none)."""
        view = self.state.pop("view", None) or {}
        if view:
            session.modified = True
        if view.get("retry_after"):
            note_retry_after(view["retry_after"])
        self.held_back = bool(view.get("held"))
        return view

    def _set(self, **values) -> None:
        self.state.update(values)
        session.modified = True
