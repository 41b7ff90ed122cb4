"""Security headers on every reply.

The Content-Security-Policy allows no inline script or style (htmx is
configured by a ``<meta>`` tag with its indicator styles off), no framing
(``frame-ancestors 'none'``), and nothing from another origin. Every reply but static files is
``Cache-Control: no-store``: each page is signed in or part of sign-in or
recovery.
"""

from __future__ import annotations

from flask import request

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ]
)


def init_app(app) -> None:
    """Register the after-request hook that sets the headers."""

    @app.after_request
    def _headers(response):
        h = response.headers
        h.setdefault("Content-Security-Policy", CSP)
        h.setdefault("X-Content-Type-Options", "nosniff")
        h.setdefault("X-Frame-Options", "DENY")
        h.setdefault("Referrer-Policy", "same-origin")
        h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        # Every page here is signed in, part of sign-in, or part of recovery.
        if request.endpoint != "static":
            h["Cache-Control"] = "no-store"
        return response
