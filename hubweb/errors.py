"""Error replies: a clear message and a 4xx for bad input, never a bare page.

For htmx requests the message is swapped into the page's alert region
(``#alerts``, via ``HX-Retarget``) instead of replacing the form the user was
filling in; a CSRF failure asks htmx to reload the page (``HX-Refresh``).
"""

from __future__ import annotations

import logging
import math
import time

from flask import current_app, flash, g, make_response, render_template, request
from flask_limiter import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as DBTimeoutError
from werkzeug.exceptions import (
    BadRequest,
    HTTPException,
    NotFound,
    RequestEntityTooLarge,
    UnsupportedMediaType,
)

from .admission import Busy
from .extensions import db, limiter, login_manager
from .htmx import is_htmx
from .i18n import lazy_text as _l

log = logging.getLogger(__name__)

MESSAGES = {
    400: _l("The request could not be understood. Check what you entered and try again."),
    403: _l("You are not allowed to do that."),
    404: _l("There is no page at this address."),
    405: _l("This page does not accept that kind of request."),
    408: _l("What you sent took too long to arrive. Try again."),
    409: _l("This has changed in the meantime. Reload the page and try again."),
    413: _l("What you sent is too large."),
    415: _l("This page accepts only form submissions. Fill in the form and send it again."),
    429: _l("Too many attempts. Wait a little and try again."),
    500: _l("Something went wrong on our side. Try again in a moment."),
    503: _l("The service is briefly unavailable. Try again in a moment."),
}
CSRF_MESSAGE = (
    _l("This form has expired or did not come from this site. "
    "The page has been reloaded: please try again.")
)
#: The same without JavaScript, where nothing reloads the page.
CSRF_RETRY_MESSAGE = _l(
    "This form has expired or did not come from this site. Please try again."
)
#: A password check refused by admission control (hubweb.admission): 503, nothing changed.
BUSY_MESSAGE = _l("Many people are signing in right now. Try again in a few seconds.")
NUL_MESSAGE = _l("Form values cannot contain NUL characters.")
FILE_MESSAGE = _l("This form does not accept files. Fill in the form and send it again.")


def error_reply(status: int, message: str | None = None):
    """Render the error page (or, for htmx, an alert fragment) with ``status``."""
    message = message or MESSAGES.get(status, MESSAGES[400])
    if is_htmx():
        body = render_template("_alert.html", message=message, category="error")
        return body, status, {"HX-Retarget": "#alerts", "HX-Reswap": "innerHTML"}
    return render_template("error.html", status=status, message=message), status


def refuse_unbounded_body() -> None:
    """Refuse a body sent without ``Content-Length`` (chunked) that reaches the limit.

    werkzeug stops reading such a body at ``MAX_CONTENT_LENGTH`` without an
    error (``LimitedStream.readall`` ends at the limit), so its form would be
    parsed from the first MiB, cut anywhere. A ``before_request`` hook that
    runs before CSRFProtect's, which reads the form first.

    :raises RequestEntityTooLarge: 413, the reply then closes the connection
        (hubweb.gunicorn_worker: the rest of the body is unread).
    """
    limit = request.max_content_length
    if limit and request.content_length is None and "Transfer-Encoding" in request.headers:
        if len(request.get_data(cache=True)) >= limit:
            raise RequestEntityTooLarge()


def password_busy(exc: Busy) -> None:
    """Note that this request's password check was refused (:class:`~hubweb.admission.Busy`).

    Nothing of the request stands: its transaction is rolled back, its session
    is not saved (:meth:`hubweb.sessions.ServerSessionInterface.save_session`),
    and the 503 reply gets ``Retry-After: exc.retry_after`` (:func:`init_app`).
    """
    db.session.rollback()
    g.password_busy = exc.retry_after
    log.warning("password check refused: %s at once and %s waiting",
                current_app.config["PASSWORD_CHECKS"], current_app.config["PASSWORD_QUEUE"])


def _forget_database_state(exc) -> None:
    """After a database failure: roll back, and render as signed out (reading the
    signed-in user again would query the dead database); the session is not saved."""
    db.session.rollback()
    g.database_down = True
    g._login_user = login_manager.anonymous_user()
    log.error("database unavailable: %s", exc)


def database_down_reply(response, exc) -> None:
    """Turn ``response`` into the 503 page in place (used once the view has answered).

    Drops ``Location``, ``HX-Redirect`` and ``Set-Cookie``: nothing it claimed
    may stand when its session could not be saved.
    """
    _forget_database_state(exc)
    reply = error_reply(503)
    response.set_data(reply[0])
    response.status_code = reply[1]
    response.mimetype = "text/html"
    for header in ("Location", "HX-Redirect", "Set-Cookie", "HX-Retarget", "HX-Reswap"):
        response.headers.pop(header, None)
    if len(reply) > 2:  # htmx: into the alert region
        response.headers.update(reply[2])


def _limit_retry_after(exc: RateLimitExceeded) -> int:
    """Seconds until the breached Flask-Limiter limit lets a request through.

    Flask-Limiter's own ``X-RateLimit-*``/``Retry-After`` headers are off
    (``RATELIMIT_HEADERS_ENABLED``: they cost the limiter's storage a round
    trip on every limited request), so the one reply that needs the figure,
    the 429 (RFC 6585 section 4), asks the storage here. Falls back to the
    limit's whole window when the storage cannot say.
    """
    window = exc.limit.limit.get_expiry()
    try:
        current = limiter.current_limit
        if current is not None:  # reset_at: whole seconds since the epoch
            return min(window, max(1, math.ceil(current.reset_at - time.time())))
    except Exception:  # noqa: BLE001 - the storage is down; the window will do
        log.warning("could not read the rate limit's reset time")
    return window


#: Replies to try, in order, before refusing a POST for its CSRF token: each
#: returns a reply for a form it knows was sent after its state moved on, or
#: ``None`` (:func:`on_csrf_failure`).
CSRF_FALLBACKS: list = []


def on_csrf_failure(fallback):
    """Register ``fallback`` (see :data:`CSRF_FALLBACKS`); a decorator.

    The higher layers (``hubweb.auth``) register here, so this module never
    imports them.
    """
    if fallback not in CSRF_FALLBACKS:
        CSRF_FALLBACKS.append(fallback)
    return fallback


def init_app(app) -> None:
    """Register the handlers and the checks of what a request may carry."""

    @app.before_request
    def _refuse_bad_input():
        # Every form here is text fields, sent urlencoded or as multipart. Flask-WTF
        # would otherwise feed a JSON body or an uploaded file to the fields, and a
        # number, list or file where text is expected fails deep in a view (a 500).
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            if request.is_json:
                raise UnsupportedMediaType()
            if request.files:
                raise BadRequest(FILE_MESSAGE)
        if "\x00" in request.path:
            # No page has a NUL in its address, and PostgreSQL refuses NUL in text:
            # an id from the path (a session id, say) would fail in the query.
            raise NotFound()
        for values in (request.args, request.form):
            for key, value in values.items(multi=True):
                if "\x00" in key or "\x00" in value:
                    raise BadRequest(NUL_MESSAGE)

    @app.errorhandler(CSRFError)
    def _csrf(exc):
        for fallback in CSRF_FALLBACKS:  # e.g. a second step sent again after it finished
            reply = fallback()
            if reply is not None:
                return reply
        if is_htmx():
            # Still a 400 (a refusal, in logs too); htmx 4 follows HX-Refresh
            # on error statuses as well, and the reloaded page shows why.
            flash(str(CSRF_MESSAGE), "error")
            return "", 400, {"HX-Refresh": "true"}
        return error_reply(400, CSRF_RETRY_MESSAGE)

    @app.errorhandler(HTTPException)
    def _http(exc):
        message = None
        if exc.code == 400 and exc.description != BadRequest.description:
            message = exc.description
        reply = error_reply(exc.code or 500, message)
        if isinstance(exc, RateLimitExceeded):
            reply = make_response(reply)
            reply.headers["Retry-After"] = str(_limit_retry_after(exc))
        return reply

    @app.errorhandler(Busy)
    def _busy(exc):
        password_busy(exc)
        return error_reply(503, BUSY_MESSAGE)

    @app.after_request
    def _busy_retry_after(response):
        wait = g.get("password_busy")
        if wait and response.status_code == 503:
            response.headers["Retry-After"] = str(wait)
        return response

    @app.errorhandler(OperationalError)
    @app.errorhandler(DBTimeoutError)
    def _db_down(exc):
        _forget_database_state(exc)
        return error_reply(503)

    @app.errorhandler(Exception)
    def _unexpected(exc):
        db.session.rollback()
        log.exception("unhandled error")
        return error_reply(500)
