"""The app's :class:`~hubweb.twostep.keys.KeyBox` over ``ENCRYPTION_KEYS``.

Every secret kept at rest (an authenticator's key, a queued email) is
encrypted with it (MultiFernet: the newest key encrypts, all decrypt).
"""

from __future__ import annotations

from flask import current_app

from .keys import KeyBox


def keybox() -> KeyBox:
    """The app's :class:`KeyBox` over ``ENCRYPTION_KEYS`` (newest first), built once."""
    ext = current_app.extensions
    if "hubweb.keybox" not in ext:
        ext["hubweb.keybox"] = KeyBox(current_app.config["ENCRYPTION_KEYS"])
    return ext["hubweb.keybox"]
