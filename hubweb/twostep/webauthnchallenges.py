"""Where a security key's answer must come from, and the challenges it signs
(WebAuthn Level 3; the keys themselves are :mod:`.webauthnkeys`).

- The expected origin is ``HUBWEB_BASE_URL``'s origin; the RP id is
  ``HUBWEB_WEBAUTHN_RP_ID`` or the base URL's host
  (:func:`hubweb.config.rp_id_problem` refuses others at start-up).
- A challenge is 32 random bytes (section 13.4.3), kept in the server-side
  session (:mod:`hubweb.session_values`), bound to the account and its
  purpose (``register``, ``sign_in``, ``recovery``), used once, and only within
  :data:`CHALLENGE_SECONDS`. A session keeps its last :data:`KEPT_CHALLENGES`,
  so each of two tabs can answer its own.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url, parse_client_data_json
from webauthn.helpers.exceptions import WebAuthnException

from .. import session_values
from ..models import User

#: How long a challenge may be answered, in seconds: 5 minutes, the upper end
#: of the 2 to 5 minutes WebAuthn Level 3 section 15.1 recommends when user
#: verification is discouraged (time to find and touch the key).
CHALLENGE_SECONDS = 300
#: The most challenges one session keeps (two tabs each keep theirs).
KEPT_CHALLENGES = 5
#: The largest ``credential`` answer accepted, in characters (a key's
#: attestation object with a long certificate chain stays far below).
ANSWER_MAX = 16384


@dataclass(frozen=True)
class Relying:
    """Where keys are used: the RP id and the one origin answers must come from."""

    rp_id: str
    origin: str


def relying_party(config=None) -> Relying:
    """The RP id (``WEBAUTHN_RP_ID``, else the base URL's host) and the expected
    origin (the base URL's scheme, host and port, the port left out when it is
    the scheme's default, as browsers write origins; RFC 6454 section 6.1)."""
    cfg = config if config is not None else current_app.config
    base = urlsplit(str(cfg["BASE_URL"]))
    host = (base.hostname or "").lower()
    port = base.port
    origin = f"{base.scheme}://{host}"
    if port and port != {"http": 80, "https": 443}.get(base.scheme):
        origin += f":{port}"
    return Relying((cfg.get("WEBAUTHN_RP_ID") or host).lower(), origin)


def new_challenge(user: User, purpose: str) -> bytes:
    """A new challenge for ``user`` and ``purpose``, kept in the server session."""
    challenge = secrets.token_bytes(32)
    kept = [c for c in session_values.get("webauthn", [])
            if time.time() - c["t"] <= CHALLENGE_SECONDS]
    kept.append({"c": bytes_to_base64url(challenge), "u": user.id, "p": purpose,
                 "t": time.time()})
    session_values.put("webauthn", kept[-KEPT_CHALLENGES:])
    return challenge


def take_challenge(user: User, purpose: str, credential: dict) -> bytes | None:
    """The challenge the answer signed, removed from the session (used once);
    ``None`` when it is not one this session issued to ``user`` for
    ``purpose``, was used already or is over :data:`CHALLENGE_SECONDS` old."""
    try:
        client = parse_client_data_json(
            base64url_to_bytes(credential["response"]["clientDataJSON"]))
    except (AttributeError, KeyError, TypeError, ValueError, WebAuthnException):
        return None
    wanted = bytes_to_base64url(client.challenge)
    kept = list(session_values.get("webauthn", []))
    match = next((c for c in kept if c["c"] == wanted), None)
    if match is None:
        return None
    kept.remove(match)
    session_values.put("webauthn", kept)
    if (match["u"] != user.id or match["p"] != purpose
            or time.time() - match["t"] > CHALLENGE_SECONDS):
        return None
    return client.challenge


def parse(answer: str | None) -> dict | None:
    """The posted ``credential`` (Level 3 ``toJSON()`` form) as a dict, or ``None``."""
    if not answer or len(answer) > ANSWER_MAX:
        return None
    try:
        value = json.loads(answer)
    except ValueError:
        return None
    return value if isinstance(value, dict) and isinstance(value.get("response"), dict) else None
