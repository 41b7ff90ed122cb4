"""Password hashing (argon2id) and the password policy.

Policy (NIST SP 800-63B rev 4, section 3.1.1.2): at least 12 characters, at
most 128, any Unicode, no composition rules, never truncated; refused when
zxcvbn scores it below 3 with the user's email as context.

Hashing: argon2-cffi's argon2id with its default parameters (RFC 9106
section 4, second recommended option, "low-memory": t=3, m=64 MiB, p=4),
overridable by ``ARGON2_*`` settings (tests use cheap ones).

Every hash and verification goes through the app's admission control
(:mod:`hubweb.admission`): :func:`hash_password` and :func:`verify_password`
raise :class:`~hubweb.admission.Busy` without hashing when this process runs
and queues as many password checks as it may.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import gettext
from zxcvbn import zxcvbn

from .admission import Busy, Gate
from .i18n import lazy_text as _l

__all__ = ["Busy", "check_policy", "hash_password", "needs_rehash", "verify_password"]

MIN_LENGTH = 12
MAX_LENGTH = 128
MIN_SCORE = 3

#: zxcvbn's feedback (its English, zxcvbn 4.5 ``feedback.py``) -> the catalog's
#: entry for it. zxcvbn says it in English only; a sentence not listed here (a
#: newer zxcvbn) is replaced by :data:`GENERAL_HINT`, never shown untranslated.
ZXCVBN_FEEDBACK = {
    "Add another word or two. Uncommon words are better.":
        _l("Add another word or two. Uncommon words are better."),
    "Capitalization doesn't help very much.": _l("Capitalization doesn't help very much."),
    "Reversed words aren't much harder to guess.":
        _l("Reversed words aren't much harder to guess."),
    "Predictable substitutions like '@' instead of 'a' don't help very much.":
        _l("Predictable substitutions like '@' instead of 'a' don't help very much."),
    "Use a few words, avoid common phrases.": _l("Use a few words, avoid common phrases."),
    "No need for symbols, digits, or uppercase letters.":
        _l("No need for symbols, digits, or uppercase letters."),
    "Straight rows of keys are easy to guess.": _l("Straight rows of keys are easy to guess."),
    "Short keyboard patterns are easy to guess.":
        _l("Short keyboard patterns are easy to guess."),
    "This is a top-10 common password.": _l("This is a top-10 common password."),
    "This is similar to a commonly used password.":
        _l("This is similar to a commonly used password."),
    "A word by itself is easy to guess.": _l("A word by itself is easy to guess."),
    "All-uppercase is almost as easy to guess as all-lowercase.":
        _l("All-uppercase is almost as easy to guess as all-lowercase."),
    "Use a longer keyboard pattern with more turns.":
        _l("Use a longer keyboard pattern with more turns."),
    'Repeats like "aaa" are easy to guess.': _l('Repeats like "aaa" are easy to guess.'),
    'Repeats like "abcabcabc" are only slightly harder to guess than "abc".':
        _l('Repeats like "abcabcabc" are only slightly harder to guess than "abc".'),
    "This is a top-100 common password.": _l("This is a top-100 common password."),
    "This is a very common password.": _l("This is a very common password."),
    "Names and surnames by themselves are easy to guess.":
        _l("Names and surnames by themselves are easy to guess."),
    "Common names and surnames are easy to guess.":
        _l("Common names and surnames are easy to guess."),
    "Avoid repeated words and characters.": _l("Avoid repeated words and characters."),
    'Sequences like "abc" or "6543" are easy to guess.':
        _l('Sequences like "abc" or "6543" are easy to guess.'),
    "Avoid sequences.": _l("Avoid sequences."),
    "Recent years are easy to guess.": _l("Recent years are easy to guess."),
    "Dates are often easy to guess.": _l("Dates are often easy to guess."),
    "Avoid recent years.": _l("Avoid recent years."),
    "Avoid years that are associated with you.": _l("Avoid years that are associated with you."),
    "Avoid dates and years that are associated with you.":
        _l("Avoid dates and years that are associated with you."),
}
#: Said instead of a zxcvbn sentence that :data:`ZXCVBN_FEEDBACK` lacks.
GENERAL_HINT = _l("Use a few uncommon words together, not a name, date or well-known phrase.")


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
    return ph


def _dummy_hash() -> str:
    """The hash an unknown email is checked against, made once per app, through
    the admission control like every hash (its 64 MiB count with the others).

    :raises hubweb.admission.Busy: at capacity, the first time.
    """
    dummy = current_app.extensions.get("hubweb.dummy_hash")
    if dummy is None:
        dummy = gate().run(hasher().hash, "dummy password for timing")
        current_app.extensions["hubweb.dummy_hash"] = dummy
    return dummy


def gate() -> Gate:
    """The app's admission control of password checks (:mod:`hubweb.admission`)."""
    return current_app.extensions["hubweb.password_gate"]


def _prepare(password: str) -> str:
    # NFKC so the same password typed on two keyboards hashes the same
    # (NIST SP 800-63B rev 4, section 3.1.1.2).
    return unicodedata.normalize("NFKC", password)


def hash_password(password: str) -> str:
    """Hash a password; returns the PHC string (``$argon2id$v=19$...``).

    :raises hubweb.admission.Busy: too many password checks at once; nothing hashed.
    """
    return gate().run(hasher().hash, _prepare(password))


def verify_password(stored_hash: str | None, password: str) -> bool:
    """Check ``password`` against ``stored_hash`` in about constant time.

    With ``stored_hash=None`` (unknown email) a dummy hash is verified, so
    that the reply takes as long as for a known account.

    Known and unknown emails pass the same admission control, so a busy
    reply (and its timing) tells nothing either.

    :return: True only when the hash matches.
    :raises hubweb.admission.Busy: too many password checks at once; nothing hashed.
    """
    ph = hasher()
    dummy = _dummy_hash()  # for a known email too: the same steps either way
    target = stored_hash or dummy
    ok = gate().run(_verify, ph, target, _prepare(password))
    return ok and stored_hash is not None


def _verify(ph: PasswordHasher, target: str, password: str) -> bool:
    try:
        return ph.verify(target, password)
    except (VerificationError, InvalidHashError):
        return False


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
    :return: a :class:`PolicyResult` whose problems are user-facing sentences
        (plain ``str``, in the current language), including zxcvbn's warning and
        suggestions when the score is too low (:func:`advice`).
    """
    length = len(password)
    if length < MIN_LENGTH:
        return PolicyResult([gettext("Use at least %(count)s characters.", count=MIN_LENGTH)])
    if length > MAX_LENGTH:
        return PolicyResult([gettext("Use at most %(count)s characters.", count=MAX_LENGTH)])
    context = [email, *email.replace("@", " ").replace(".", " ").split()] if email else []
    result = zxcvbn(password, user_inputs=context, max_length=MAX_LENGTH)
    if result["score"] >= MIN_SCORE:
        return PolicyResult([])
    feedback = result.get("feedback") or {}
    problems = [gettext("This password is too easy to guess.")]
    said = [feedback["warning"]] if feedback.get("warning") else []
    said += feedback.get("suggestions") or []
    for sentence in advice(said):
        if sentence not in problems:
            problems.append(sentence)
    return PolicyResult(problems)


def advice(sentences: list[str]) -> list[str]:
    """zxcvbn's English ``sentences`` in the current language: each through
    :data:`ZXCVBN_FEEDBACK`, an unknown one as :data:`GENERAL_HINT` (once)."""
    out: list[str] = []
    for sentence in sentences:
        text = str(ZXCVBN_FEEDBACK.get(sentence, GENERAL_HINT))
        if text not in out:
            out.append(text)
    return out
