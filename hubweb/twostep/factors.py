"""Second factors as one registry: the :class:`Factor` protocol and :data:`FACTORS`.

After django-otp's device, django-two-factor-auth's ``MethodRegistry`` and
Flask-Security's two-factor plugins: the second step, the method switch and
the disable rules ask the registry which factors a user has and never name
one in an ``if``/``else``. A factor is one module (its rules, ``begin`` and
``verify``), its templates, one line in :data:`FACTORS` and a migration.

The KBH rules, written here once:

- SMS is the *base* factor: two-step verification is on exactly while it is
  (:func:`base`); every other factor ``requires_base`` and can only be turned
  on on top of it (:func:`may_enable`).
- Turning the base factor off turns every factor off (:func:`disable`).
"""

from __future__ import annotations

from typing import Protocol

from ..models import User
from . import appcodes, smscodes
from .result import Result


class Factor(Protocol):
    """One kind of second factor.

    :ivar key: the short name in forms and session state (``"sms"``, ``"app"``).
    :ivar name: the verbose name ("SMS", "authenticator app").
    :ivar switch_label: the words of its switch at the second step ("Use SMS").
    :ivar choice_name: its name as the thing chosen ("the authenticator app").
    :ivar lost_text: the help's first sentence for someone without it ("No
        access to your phone?").
    :ivar switch_hint: the help's sentence on using it instead of the chosen
        one ('Choose "Use SMS" to get a code by text message.').
    :ivar template: the Jinja macros of its second-step input: ``prompt(step)``,
        ``buttons(step, countdown)`` and ``forms(step, resend_action)``.
    :ivar numeric: True when the answer is a numeric one-time code (the
        ``inputmode="numeric"`` code field of the second step).
    :ivar answer_field: the form field of its answer at the second step
        (``code``); with ``answer_label``, ``answer_missing`` (the error when
        it is empty or longer than ``answer_max``), the web layer's form.
    :ivar sends: True when :meth:`begin` sends something (a code by SMS): the
        step then offers "Send code"/"Resend code" within :meth:`hold`.
    :ivar requires_base: True when it can only be on with the base factor.
    """

    key: str
    name: str
    switch_label: str
    choice_name: str
    lost_text: str
    switch_hint: str
    template: str
    numeric: bool
    answer_field: str
    answer_label: str
    answer_missing: str
    answer_max: int
    sends: bool
    requires_base: bool

    def is_on(self, user: User) -> bool:
        """True while ``user`` has this factor on."""

    def begin(self, user: User, purpose: str) -> Result:
        """Start a check for ``purpose`` (``sign_in``, ``recovery``): send a code,
        make a challenge, or nothing. Commits what it writes."""

    def hold(self, user: User, purpose: str) -> Result:
        """Whether a limit holds :meth:`begin` back now (ok: it may run)."""

    def verify(self, user: User, answer: str | None, purpose: str) -> Result:
        """Check the person's answer; on success the caller commits."""

    def destination(self, user: User) -> str:
        """Where a code goes, as the page may show it (a masked number), or ""."""

    def disable(self, user: User) -> None:
        """Turn this factor off for ``user`` (all its instances). The caller commits."""


#: Every factor, in the order the second step offers them: the first one on is
#: the default method (the authenticator app before SMS).
FACTORS: tuple[Factor, ...] = (appcodes.FACTOR, smscodes.FACTOR)

BY_KEY: dict[str, Factor] = {factor.key: factor for factor in FACTORS}


def base() -> Factor:
    """The base factor (the one no other factor requires): SMS."""
    return next(factor for factor in FACTORS if not factor.requires_base)


def in_set_up_order() -> list[Factor]:
    """Every factor as the settings page lists them: the base first (it is set
    up first), then the others in registry order."""
    return [base(), *(factor for factor in FACTORS if factor is not base())]


def get(key: str) -> Factor:
    """The factor called ``key``.

    :raises KeyError: for a key no factor has.
    """
    return BY_KEY[key]


def available(user: User) -> list[Factor]:
    """The factors ``user`` has on, in registry order (none while the base is off)."""
    if not base().is_on(user):
        return []
    return [factor for factor in FACTORS if factor.is_on(user)]


def may_enable(user: User, factor: Factor) -> bool:
    """True when ``factor`` may be turned on now: the base always, the others
    only on top of it."""
    return not factor.requires_base or base().is_on(user)


def disable(user: User, factor: Factor) -> list[Factor]:
    """Turn ``factor`` off; turning the base off turns every factor off.

    :return: the factors turned off (the caller records, emails and commits).
    """
    gone = list(FACTORS) if factor is base() else [factor]
    for each in gone:
        each.disable(user)
    return gone
