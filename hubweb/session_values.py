"""Values the domain keeps in the current server-side session (the row of
:mod:`hubweb.sessions`; never in the cookie), such as a security key's
challenge (:mod:`hubweb.twostep.webauthnkeys`), which belongs to the browser
session that asked for it, not to the account.

The store layer's door for the domain, so that :mod:`hubweb.twostep` reads
no request state itself (``tests/ops/test_architecture.py``). Values must be
JSON-serialisable; outside a request there is no session and nothing is kept.
"""

from __future__ import annotations

from flask import has_request_context, session


def get(name: str, default=None):
    """The value kept under ``name``, or ``default``."""
    return session.get(name, default) if has_request_context() else default


def put(name: str, value) -> None:
    """Keep ``value`` under ``name`` until the session ends or it is replaced."""
    if has_request_context():
        session[name] = value
