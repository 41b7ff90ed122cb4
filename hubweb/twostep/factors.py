"""Second factors as one registry: :data:`FACTORS`, of :data:`Factor` objects.

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

from ..models import User
from . import appcodes, recoverycodes, smscodes, webauthnkeys
from .factorbase import FactorBase

#: One kind of second factor: what it is called, its words, whether a user has
#: it, ``begin``/``verify``/``disable`` (:class:`~.factorbase.FactorBase`).
Factor = FactorBase


#: Every factor, in the order the second step offers them: the first one on is
#: the default method (a security key, then the authenticator app, then SMS: the
#: phishing-resistant one first; recovery codes last, never the default).
FACTORS: tuple[Factor, ...] = (webauthnkeys.FACTOR, appcodes.FACTOR, smscodes.FACTOR,
                               recoverycodes.FACTOR)

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


def warnings(user: User) -> list[str]:
    """Each factor's :meth:`~.factorbase.FactorBase.warning` for ``user``, in
    registry order (none while the base factor is off)."""
    if not base().is_on(user):
        return []
    return [text for factor in FACTORS if (text := factor.warning(user))]


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
