"""What every factor is (:class:`FactorBase`, the ``Factor`` of
:mod:`hubweb.twostep.factors`, which holds the registry): its description, the
methods the second step and the settings call, and the defaults of a factor
that sends nothing."""

from __future__ import annotations

from dataclasses import dataclass

from ..models import User
from .messages import CODE_FORMAT, CODE_LABEL
from .result import Result


@dataclass(frozen=True, eq=False)
class FactorBase:
    """One kind of second factor: its description, and the defaults of a factor
    that sends nothing (an authenticator shows its codes by itself). A factor
    subclasses it and defines :meth:`is_on`, :meth:`verify` and :meth:`disable`.

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
    :ivar numeric: True when the answer is a numeric one-time code (the
        ``inputmode="numeric"`` field of the second step).
    :ivar answer_field: the form field that carries the answer at the second
        step (CONTRACT.md ``code``; a security key would post ``credential``).
    :ivar answer_label: that field's label.
    :ivar answer_missing: the error when the field is empty or too long.
    :ivar answer_max: the most characters an answer may have.
    :ivar answer_hidden: True when the page fills the answer itself (a
        security key's ``credential``, from the browser): the second step then
        holds it in a hidden field and shows its errors as an alert.
    :ivar sends: True when :meth:`begin` sends a code: the step then offers
        "Send code"/"Resend code" within :meth:`hold`.
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
    answer_label: str = CODE_LABEL
    answer_missing: str = CODE_FORMAT
    answer_max: int = 64
    answer_hidden: bool = False
    sends: bool = False
    requires_base: bool = True

    def is_on(self, user: User) -> bool:
        """True while ``user`` has this factor on."""
        raise NotImplementedError

    def begin(self, user: User, purpose: str) -> Result:
        """Start a check for ``purpose`` (``sign_in``, ``recovery``): send a code,
        make a challenge, or nothing (the default). Commits what it writes."""
        return Result()

    def hold(self, user: User, purpose: str) -> Result:
        """Whether a limit holds :meth:`begin` back now (ok: it may run)."""
        return Result()

    def verify(self, user: User, answer: str | None, purpose: str) -> Result:
        """Check the person's answer; on success the caller commits."""
        raise NotImplementedError

    def destination(self, user: User) -> str:
        """Where a code goes, as the page may show it (a masked number), or ""."""
        return ""

    def disable(self, user: User) -> None:
        """Turn this factor off for ``user`` (all its instances). The caller commits."""
        raise NotImplementedError

    def warning(self, user: User) -> str | None:
        """What the person should do about this factor soon ("Only 2 recovery
        codes are left..."), shown after every sign-in and in the settings
        (:func:`hubweb.twostep.factors.warnings`), or ``None`` (the default)."""
        return None

    def used_notice(self, user: User) -> str | None:
        """The notice after a sign-in whose second step this factor passed, or
        ``None`` (the default). A factor that has one (a recovery code: the
        phone may be lost) makes the sign-in land on the account settings,
        where the person can act on it."""
        return None
