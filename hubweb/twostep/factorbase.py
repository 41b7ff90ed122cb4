"""What every factor object starts from (:class:`FactorBase`); the protocol and
the registry are :mod:`hubweb.twostep.factors`."""

from __future__ import annotations

from dataclasses import dataclass

from ..models import User
from .messages import CODE_FORMAT
from .result import Result


@dataclass(frozen=True, eq=False)
class FactorBase:
    """The description of a factor, and the defaults of a factor that sends
    nothing (an authenticator shows its codes by itself).

    :ivar key: the short name in forms and session state (``"sms"``).
    :ivar name: the verbose name ("SMS").
    :ivar switch_label: the words of its switch at the second step ("Use SMS").
    :ivar choice_name: its name as the thing chosen ("SMS", "the authenticator
        app"), listed in "Choose the authenticator app or SMS.".
    :ivar lost_text: the first sentence of the help for someone without it at
        the second step ("No access to your phone?").
    :ivar switch_hint: the sentence of that help, when another factor is the
        chosen one, on using this one instead ('Choose "Use SMS" to get a code
        by text message.'); the help is
        :func:`hubweb.twostep.messages.lost_help`.
    :ivar template: its second-step input: a Jinja ``prompt(step, countdown)`` macro.
    :ivar numeric: True when the answer is a numeric one-time code.
    :ivar answer_field: the form field that carries the answer at the second
        step (CONTRACT.md ``code``; a security key would post ``credential``).
    :ivar answer_label: that field's label.
    :ivar answer_missing: the error when the field is empty or too long.
    :ivar answer_max: the most characters an answer may have.
    :ivar sends: True when :meth:`begin` sends a code ("Send code"/"Resend code").
    :ivar requires_base: True when it can only be on with the base factor.
    """

    key: str
    name: str
    switch_label: str
    choice_name: str
    lost_text: str
    switch_hint: str
    template: str
    numeric: bool = True
    answer_field: str = "code"
    answer_label: str = "Verification code"
    answer_missing: str = CODE_FORMAT
    answer_max: int = 64
    sends: bool = False
    requires_base: bool = True

    def begin(self, user: User, purpose: str) -> Result:
        return Result()

    def hold(self, user: User, purpose: str) -> Result:
        return Result()

    def destination(self, user: User) -> str:
        return ""
