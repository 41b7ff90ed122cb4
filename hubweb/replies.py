"""How a second-factor :class:`~hubweb.twostep.result.Result` is answered over
HTTP, decided in this one place of the web layer.

- :func:`status_for`: 200 on success; 503 when the SMS gateway failed
  (an upstream failure); 429 while a send limit or the throttle makes the
  person wait (RFC 6585 section 4); 422 for a code that is not right.
- A 429 with a wait also gets ``Retry-After``: the seconds the message states
  ("Wait 4 minutes": 240, even when 235 are left), so the header and the
  words agree and neither is shorter than the real wait. It is noted for the
  request (:func:`note_retry_after`) and added by :func:`init_app`.
"""

from __future__ import annotations

from flask import g, has_request_context

from .twostep.messages import stated_seconds
from .twostep.result import LIMITS, Problem, Result


def http_status(result: Result) -> int:
    """The HTTP status of a reply that shows ``result`` (no side effect)."""
    if result.problem is None:
        return 200
    if result.problem is Problem.SEND_FAILED:
        return 503
    if result.wait or result.problem in LIMITS:
        return 429
    return 422


def status_for(result: Result) -> int:
    """:func:`http_status`, noting the wait of a 429 for its ``Retry-After``."""
    status = http_status(result)
    if status == 429 and result.wait:
        note_retry_after(stated_seconds(result.wait))
    return status


def note_retry_after(seconds: int | None) -> None:
    """Make this request's 429 carry ``Retry-After: seconds`` (nothing for ``None``)."""
    if seconds and has_request_context():
        g.retry_after = seconds


def noted_retry_after() -> int | None:
    """The ``Retry-After`` seconds noted for this request, if any (to stash
    across a post/redirect/get)."""
    return g.get("retry_after")


def init_app(app) -> None:
    """Add the noted ``Retry-After`` to this request's 429, unless it has one."""

    @app.after_request
    def _retry_after(response):
        wait = g.get("retry_after")
        if response.status_code == 429 and wait and "Retry-After" not in response.headers:
            response.headers["Retry-After"] = str(wait)
        return response
