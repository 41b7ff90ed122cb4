"""The second step's three handlers, written once: the code, "Resend code"
and the method switch ("Use SMS", "Use authenticator app", one per factor).

A :class:`Place` is where a second step runs: sign-in (``/sign-in/verify``,
:mod:`hubweb.auth.verify`) and recovery (``/reset-password/<token>``,
:mod:`hubweb.auth.recovery`). Each place has its purpose, its page, its URLs
(the code URL's endpoint ``E``; "Resend code" posts to ``E_resend``, the
switch to ``E_method``, with the same URL arguments) and what happens on
success; the handlers here do the rest.

Every plain POST answers 303 to the step's page, which shows the reply once
(:meth:`SecondStep.stash`: a reload or Back never loses a step); htmx gets the ``#second-step``
fragment. The status of a refusal is :func:`hubweb.replies.status_for`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from flask import request, url_for

from ..htmx import is_htmx, redirect_to, render
from ..replies import status_for
from .forms import EmptyForm, answer_form
from .second_step import SecondStep

FRAGMENT = "twostep/_second_step.html"


def answer_of(step: SecondStep, form):
    """The answer field of the chosen factor's form (``code`` for SMS and the app)."""
    return form[step.factor.answer_field]


def _as_is(reply):
    return reply


@dataclass(frozen=True)
class Place:
    """Where a second step runs.

    :ivar purpose: the code's purpose (``sign_in``, ``recovery``).
    :ivar page: the template of the whole page (it includes :data:`FRAGMENT`).
    :ivar endpoint: the endpoint of the step's code URL.
    :ivar succeeded: the reply once the right code was given.
    :ivar wrap: applied to every reply (recovery: no ``Referer`` for the token).
    """

    purpose: str
    page: str
    endpoint: str
    succeeded: Callable[[SecondStep], object]
    wrap: Callable = field(default=_as_is)

    def step(self, user, state: dict) -> SecondStep:
        """The second step of ``user``, kept in the session dict ``state``."""
        return SecondStep(user, state, self.purpose)

    def code(self, step: SecondStep):
        """GET: show the step (beginning the chosen factor once). POST: check the
        answer, read by the chosen factor's form (:func:`answer_form`)."""
        if request.method == "GET":
            sent, view = step.begin(), step.take()
            form = self.form(step)
            answer_of(step, form).errors = view.get("errors", [])
            return self.render(step, form, view.get("status", 200),
                               notice=view.get("notice") or sent.alert, send=sent,
                               resent=view.get("resent", False))
        step.follow(request.form.get("method"))
        form = answer_form(step.factor)()
        if not form.validate_on_submit():
            return self.reply(step, form, 422)
        result = step.verify(answer_of(step, form).data)
        if not result.ok:
            answer_of(step, form).errors.append(result.message)
            return self.reply(step, form, status_for(result))
        return self.wrap(self.succeeded(step))

    def resend(self, step: SecondStep):
        """Send a new code by the chosen factor (its send limits apply)."""
        if not EmptyForm().validate_on_submit():
            return self.reply(step, self.form(step), 400)
        result = step.resend()
        return self.reply(step, self.form(step), status_for(result),
                          notice=result.alert, send=result, resent=result.ok)

    def choose(self, step: SecondStep):
        """Switch to the factor named by the field ``method``."""
        if not EmptyForm().validate_on_submit():
            return self.reply(step, self.form(step), 400)
        try:
            result = step.choose(request.form.get("method", ""))
        except ValueError:
            return self.reply(step, self.form(step), 422, notice=step.choose_method)
        # Switched; a refused send (limit, gateway) still says so in the status.
        return self.reply(step, self.form(step), status_for(result),
                          notice=result.alert, send=result)

    @staticmethod
    def form(step: SecondStep):
        """The chosen factor's answer form, empty."""
        return answer_form(step.factor)(formdata=None)

    def reply(self, step: SecondStep, form, status: int = 200, **context):
        """The fragment for htmx; a plain POST answers 303 to the step's page,
        which shows this reply once."""
        if is_htmx():
            return self.render(step, form, status, **context)
        step.stash(status, answer_of(step, form).errors, notice=context.get("notice"),
                   resent=context.get("resent", False),
                   held=getattr(context.get("send"), "held", False))
        return self.wrap(redirect_to(self.url()))

    def render(self, step: SecondStep, form, status: int = 200, **context):
        """The whole page, or the ``#second-step`` fragment for htmx."""
        return self.wrap(render(
            self.page, FRAGMENT, status, step=step, form=form, code_action=self.url(),
            resend_action=self.url("_resend"), method_action=self.url("_method"), **context))

    def url(self, suffix: str = "") -> str:
        """The step's URL (``suffix``: ``_resend``, ``_method``) for this request."""
        return url_for(self.endpoint + suffix, **(request.view_args or {}))
