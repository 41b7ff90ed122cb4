"""TOTP shared secrets: making them, showing them, and keeping them encrypted at rest."""

from __future__ import annotations

import base64
import secrets
from urllib.parse import quote, unquote, urlsplit

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from hubweb.twostep.totp import ALGORITHM, DIGITS, STEP_SECONDS

#: 160 bits: RFC 4226 section 4 R6 (at least 128, 160 recommended); NIST SP
#: 800-63B section 5.1.4.1 asks for at least 112.
SECRET_BYTES = 20


def new_secret() -> str:
    """Return a fresh random TOTP secret: 20 bytes as 32 upper-case base32 chars, no ``=``.

    Drawn from :func:`secrets.token_bytes` (RFC 4226 section 4 R7, NIST SP 800-63B
    section 5.1.4.1 require an approved random generator).
    """
    return base64.b32encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii").rstrip("=")


def group_secret(secret: str) -> str:
    """Return ``secret`` in groups of four characters separated by single spaces.

    For people who type the key in by hand; apps ignore the spaces.
    """
    compact = secret.replace(" ", "")
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def otpauth_uri(secret: str, account: str, issuer: str) -> str:
    """Return the ``otpauth://totp/...`` URI an authenticator app reads from a QR code.

    Follows the Google Authenticator Key Uri Format: the label is
    ``issuer:account`` and the ``issuer`` parameter repeats the issuer. Both are
    percent-encoded once with nothing left safe, so ``+``, ``#``, ``?``, ``&``,
    ``%``, spaces and non-ASCII letters (as UTF-8) all come back exactly.

    :param secret: the base32 secret (spaces and ``=`` are removed).
    :param account: what identifies the user, usually the email address.
    :param issuer: the service name shown in the app.
    :raises ValueError: if ``issuer`` or ``account`` is empty or contains ``:``,
        which the format forbids in either.
    """
    for name, value in (("issuer", issuer), ("account", account)):
        if not value or ":" in value:
            raise ValueError(f"{name} must be non-empty and contain no ':'")
    compact = secret.replace(" ", "").rstrip("=").upper()
    label = f"{quote(issuer, safe='')}:{quote(account, safe='')}"
    return (
        f"otpauth://totp/{label}?secret={compact}&issuer={quote(issuer, safe='')}"
        f"&algorithm={ALGORITHM}&digits={DIGITS}&period={STEP_SECONDS}"
    )


def parse_otpauth_uri(uri: str) -> dict[str, str | int]:
    """Read back a URI made by :func:`otpauth_uri`.

    :return: ``issuer``, ``account``, ``secret``, ``algorithm`` (str) and
        ``digits``, ``period`` (int, defaults 6 and 30).
    :raises ValueError: if it is not an ``otpauth://totp/`` URI with an
        ``issuer:account`` label, a secret, and a matching ``issuer`` parameter.
    """
    parts = urlsplit(uri)
    if parts.scheme != "otpauth" or parts.netloc != "totp":
        raise ValueError("not an otpauth://totp/ URI")
    raw_label = parts.path.removeprefix("/")
    if ":" not in raw_label:
        raise ValueError("label has no issuer prefix")
    raw_issuer, raw_account = raw_label.split(":", 1)
    # Split the query by hand: parse_qs would turn '+' into a space.
    params = {}
    for pair in parts.query.split("&"):
        key, _, value = pair.partition("=")
        params[unquote(key)] = unquote(value)
    issuer = unquote(raw_issuer)
    if "secret" not in params or params.get("issuer", issuer) != issuer:
        raise ValueError("missing secret or mismatched issuer")
    return {
        "issuer": issuer,
        "account": unquote(raw_account),
        "secret": params["secret"],
        "algorithm": params.get("algorithm", ALGORITHM),
        "digits": int(params.get("digits", DIGITS)),
        "period": int(params.get("period", STEP_SECONDS)),
    }


class KeyBoxError(Exception):
    """A token that none of the configured keys can open (wrong key or tampered)."""


class KeyBox:
    """Encrypts TOTP secrets at rest with Fernet (AES-128-CBC + HMAC-SHA256).

    Several keys allow rotation: the first is the newest and encrypts; all of
    them decrypt. NIST SP 800-63B section 5.1.4.2 asks that stored TOTP secrets
    be protected by access controls and encryption.

    :param keys: Fernet keys (url-safe base64 of 32 bytes), newest first.
    :raises ValueError: if ``keys`` is empty or a key is malformed.
    """

    def __init__(self, keys: list[str] | tuple[str, ...]) -> None:
        if not keys:
            raise ValueError("KeyBox needs at least one key")
        self._fernets = [Fernet(k) for k in keys]
        self._multi = MultiFernet(self._fernets)

    def encrypt(self, secret: str) -> str:
        """Return ``secret`` encrypted with the newest key, as an ASCII token."""
        return self._multi.encrypt(secret.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str) -> str:
        """Return the secret in ``token``.

        :raises KeyBoxError: if no configured key opens the token.
        """
        try:
            return self._multi.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise KeyBoxError("no configured key opens this token") from None

    def needs_rotation(self, token: str) -> bool:
        """Tell whether ``token`` was encrypted with a key other than the newest.

        :raises KeyBoxError: if no configured key opens the token.
        """
        try:
            self._fernets[0].decrypt(token.encode("ascii"))
            return False
        except (InvalidToken, UnicodeError):
            self.decrypt(token)  # raises KeyBoxError if no key opens it
            return True

    def rotate(self, token: str) -> str:
        """Return ``token``'s secret re-encrypted with the newest key.

        :raises KeyBoxError: if no configured key opens the token.
        """
        try:
            return self._multi.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise KeyBoxError("no configured key opens this token") from None
