"""The Two-step verification flows of the settings page, and their panels,
keyed by name: filled by the flow modules (:func:`register`).

One row per flow, read by the step views (:mod:`.two_step`), the replies
(:mod:`.two_step_replies`) and the flow state (:mod:`.flow`). Each flow module
(:mod:`.sms_setup`, :mod:`.app_setup`, :mod:`.disable`; imported once by
:mod:`hubweb.settings`) registers its rows, with the functions that run its
own steps, and its panels; the URL scheme,
``/settings/two-step/<name>/<step>``, is the same for every flow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..models import User


@dataclass(frozen=True)
class Flow:
    """One flow.

    :ivar purpose: the SMS code purpose it sends (``None``: it sends no SMS).
    :ivar may_start: may it start, given the account's state?
    :ivar done_text: its finished state's sentence, given its record.
    :ivar holds: is its finished state still true of the account (given its
        record, which holds the number it verified)?
    :ivar after_password: ``(state, reauth_at) -> reply``: what follows the
        right password (the next panel, or the change itself).
    :ivar prompt: ``user -> (heading, sentence)`` of its password panel.
    :ivar confirm: ``(name, state) -> reply``: its code step (``None``: none).
    :ivar danger: its password panel's button is a destructive one.
    :ivar warning: a sentence its password panel adds as a warning, or ``None``.
    """

    name: str
    purpose: str | None
    may_start: Callable[[User], bool]
    done_text: Callable[[dict], str]
    holds: Callable[[User, dict], bool]
    after_password: Callable[[dict, float], object]
    prompt: Callable[[User], tuple[str, str]]
    confirm: Callable[[str, dict | None], object] | None = None
    danger: bool = False
    warning: str | None = None


@dataclass(frozen=True)
class Panel:
    """One panel of a flow (``templates/settings/_panel_<name>.html``).

    :ivar form: its form class (a blank one is made with ``formdata=None``).
    :ivar context: ``(state, form) -> template context`` (``{}``: the panel has
        nothing to show any more, e.g. an expired key).
    """

    name: str
    form: type
    context: Callable[[dict, object], dict]


FLOWS: dict[str, Flow] = {}
PANELS: dict[str, Panel] = {}


def register(*flows: Flow, panels: tuple[Panel, ...] = ()) -> None:
    """Add a flow module's flows and panels.

    :raises ValueError: for a name already taken.
    """
    for table, rows in ((FLOWS, flows), (PANELS, panels)):
        for row in rows:
            if row.name in table:
                raise ValueError(f"{row.name!r} is registered already")
            table[row.name] = row
