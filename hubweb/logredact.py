"""Keep emailed-link tokens out of access logs.

``/reset-password/<token>`` and ``/confirm-email/<token>`` carry a secret in
the path (CONTRACT.md fixes those URLs). Access-log lines of the development
server (the ``werkzeug`` logger) and of gunicorn pass through :func:`redact`.
"""

from __future__ import annotations

import logging
import re

from gunicorn.glogging import Logger

# The segment after the prefix is a token, except the route "/confirm-email/resend".
_TOKEN_PATH = re.compile(
    r"(/(?:reset-password|confirm-email)/)(?!resend(?:[/?\s\"]|$))[^/\s?\"]+")


def redact(text: str) -> str:
    """Replace link tokens in ``text`` with ``[redacted]``."""
    return _TOKEN_PATH.sub(r"\1[redacted]", text)


class RedactFilter(logging.Filter):
    """A logging filter that redacts tokens in the formatted message."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class GunicornLogger(Logger):
    """gunicorn's logger with tokens redacted from access lines."""

    def access(self, resp, req, environ, request_time):
        environ = dict(environ)
        for key in ("PATH_INFO", "RAW_URI", "REQUEST_URI"):
            if key in environ:
                environ[key] = redact(environ[key])
        req.path = redact(req.path)
        req.uri = redact(getattr(req, "uri", "") or "")
        super().access(resp, req, environ, request_time)


def install() -> None:
    """Add :class:`RedactFilter` to the development server's request log."""
    logger = logging.getLogger("werkzeug")
    if not any(isinstance(f, RedactFilter) for f in logger.filters):
        logger.addFilter(RedactFilter())
