"""Email addresses: the one check every typed address passes, and the To header built from it.

Mail software reads an address again at every hop (the form, the header
parser, the SMTP client, the receiving server), and parsers disagree:
Python's :mod:`email` package decodes RFC 2047 encoded words such as
``=?utf-8?q?x=40evil.example?=`` inside an address, so a stored address
``=?utf-8?q?x=40evil.example?=@example.com`` becomes the header and the
envelope recipient ``x@evil.example@example.com`` (the class described in
"Splitting the Email Atom", Gareth Heyes, PortSwigger Research 2024). The
defence here is in two layers:

1. :func:`check`, at every place an address enters (register, sign-in,
   forgotten password, the operator CLI), refuses what any hop might
   reinterpret: encoded-word syntax anywhere, control characters (C0, DEL,
   C1), and whatever email-validator refuses (quoted local parts, comments,
   display names, domain literals, unsafe Unicode). Its message says why.
2. :func:`to_header`, when a message is sent, builds the ``To:`` header and
   reads it back: unless it names exactly the stored address, the message is
   not sent (a stored address from before this check cannot slip through).

Internationalised addresses (RFC 6531, e.g. ``jürgen@exämple.de``) are kept as
typed and delivered with the SMTPUTF8 extension; a server without it refuses
them, and the message is then marked failed rather than sent to a converted
address (see :mod:`hubweb.mail`).
"""

from __future__ import annotations

import re
import unicodedata
from email import errors, policy
from email.message import EmailMessage

from email_validator import EmailNotValidError, validate_email
from flask_babel import get_locale

from .i18n import lazy_text as _l

#: RFC 2047 section 2: ``=?charset?encoding?encoded-text?=``; refused as soon as
#: an ``=?`` is later followed by ``?=``, whatever lies between.
_ENCODED_WORD = re.compile(r"=\?.*\?=", re.S)


#: The messages of this area (one place; email-validator's own are added as they come).
ADDRESS_CONTROL = _l("An email address cannot contain control characters or line breaks.")
ADDRESS_ENCODED_WORD = (
    _l("An email address cannot contain encoded text (the characters =? followed by ?=).")
)
ADDRESS_REINTERPRETED = _l("This email address would be read as another address by mail software.")


#: email-validator gives its reasons in English only, with the address's own
#: characters in them: English pages show them as they are, other languages this.
ADDRESS_INVALID = _l(
    "This is not a valid email address. Check it for typing errors, for example a "
    "missing @ or a space."
)


def _validator_reason(reason: str) -> str:
    """email-validator's ``reason`` on an English page, else :data:`ADDRESS_INVALID`."""
    locale = get_locale()
    if locale is None or locale.language == "en":
        return reason
    return str(ADDRESS_INVALID)


class AddressError(ValueError):
    """An address refused by :func:`check`; ``str()`` is the message for the person."""


def check(text: str) -> str:
    """Return the normalised address (trimmed, domain lower case, IDNA-aware, NFC).

    Syntax only, no DNS look-up.

    :raises AddressError: with a user-facing message for encoded-word syntax,
        a control character, or anything email-validator 2 refuses.
    """
    text = text.strip()
    if any(unicodedata.category(c) == "Cc" for c in text):
        raise AddressError(ADDRESS_CONTROL)
    if _ENCODED_WORD.search(text):
        raise AddressError(ADDRESS_ENCODED_WORD)
    try:
        result = validate_email(text, check_deliverability=False, allow_quoted_local=False,
                                allow_domain_literal=False, allow_display_name=False)
    except EmailNotValidError as exc:
        raise AddressError(_validator_reason(str(exc))) from exc
    if _ENCODED_WORD.search(result.normalized):  # after NFC, to be sure
        raise AddressError(ADDRESS_ENCODED_WORD)
    return result.normalized


def is_valid(text: str) -> bool:
    """True when :func:`check` accepts ``text``."""
    try:
        check(text)
    except AddressError:
        return False
    return True


def to_header(stored: str) -> str:
    """Return the ``To:`` value for ``stored``, proven to parse back to exactly it.

    :raises AddressError: when the header parser would read another address
        (encoded words, quoting) or no single address out of it.
    """
    probe = EmailMessage(policy=policy.SMTPUTF8)
    probe["To"] = stored
    parsed = [a.addr_spec for a in probe["To"].addresses]
    # A non-ASCII local part is a "defect" only without SMTPUTF8 (RFC 6532).
    defects = [d for d in probe["To"].defects
               if not isinstance(d, errors.NonASCIILocalPartDefect)]
    if parsed != [stored] or defects:
        raise AddressError(ADDRESS_REINTERPRETED)
    return stored
