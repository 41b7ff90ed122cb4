"""Password hashing (argon2id) and the password policy.

Policy (NIST SP 800-63B rev 4, section 3.1.1.2): at least 12 characters, at
most 128, any Unicode, no composition rules, never truncated; refused when
zxcvbn scores it below 3 with the user's email as context.

Hashing: argon2-cffi's argon2id with its default parameters (RFC 9106
section 4, second recommended option, "low-memory": t=3, m=64 MiB, p=4),
overridable by ``ARGON2_*`` settings (tests use cheap ones).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from zxcvbn import zxcvbn

MIN_LENGTH = 12
MAX_LENGTH = 128
MIN_SCORE = 3


def hasher() -> PasswordHasher:
    """Return the app's :class:`argon2.PasswordHasher` (built once per app)."""
    ph = current_app.extensions.get("hubweb.hasher")
    if ph is None:
        cfg = current_app.config
        params = {
            k: cfg[f"ARGON2_{k.upper()}"]
            for k in ("time_cost", "memory_cost", "parallelism")
            if cfg.get(f"ARGON2_{k.upper()}") is not None
        }
        ph = current_app.extensions["hubweb.hasher"] = PasswordHasher(**params)
        current_app.extensions["hubweb.dummy_hash"] = ph.hash("dummy password for timing")
    return ph


def _prepare(password: str) -> str:
    # NFKC so the same password typed on two keyboards hashes the same
    # (NIST SP 800-63B rev 4, section 3.1.1.2).
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    """Hash a password; returns the PHC string (``$argon2id$v=19$...``)."""
    return hasher().hash(_prepare(password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Check ``password`` against ``stored_hash`` in about constant time.

    With ``stored_hash=None`` (unknown email) a dummy hash is verified, so
    that the reply takes as long as for a known account.

    :return: True only when the hash matches.
    """
    ph = hasher()
    target = stored_hash or current_app.extensions["hubweb.dummy_hash"]
    try:
        ok = ph.verify(target, _prepare(password))
    except (VerificationError, InvalidHashError):
        return False
    return ok and stored_hash is not None


def needs_rehash(stored_hash: str) -> bool:
    """True when the hash was made with other parameters than the current ones."""
    return hasher().check_needs_rehash(stored_hash)


@dataclass(frozen=True)
class PolicyResult:
    """The policy's verdict: ``problems`` empty means acceptable."""

    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_policy(password: str, email: str = "") -> PolicyResult:
    """Apply the password policy; never truncates or rewrites the password.

    :param password: the candidate, any Unicode.
    :param email: the account's email; its parts count as guessable words.
    :return: a :class:`PolicyResult` whose problems are user-facing sentences,
        including zxcvbn's warning and suggestions when the score is too low.
    """
    length = len(password)
    if length < MIN_LENGTH:
        return PolicyResult([f"Use at least {MIN_LENGTH} characters."])
    if length > MAX_LENGTH:
        return PolicyResult([f"Use at most {MAX_LENGTH} characters."])
    context = [email, *email.replace("@", " ").replace(".", " ").split()] if email else []
    result = zxcvbn(password, user_inputs=context, max_length=MAX_LENGTH)
    if result["score"] >= MIN_SCORE:
        return PolicyResult([])
    feedback = result.get("feedback") or {}
    problems = ["This password is too easy to guess."]
    if feedback.get("warning"):
        problems.append(feedback["warning"])
    problems.extend(feedback.get("suggestions") or [])
    return PolicyResult(problems)
