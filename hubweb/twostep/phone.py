"""Phone numbers for SMS codes: parse what a person typed, store E.164, display masked.

Numbers are stored in E.164 form (ITU-T Recommendation E.164: ``+``, country code,
national significant number, no spaces, at most 15 digits), e.g. ``+447400123456``.
Parsing and validation use ``phonenumbers``, the Python port of Google's libphonenumber,
whose metadata decides whether a number exists and which type (mobile, landline, ...)
it is. No Flask imports here: the module is plain functions over strings.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from ..i18n import keep_ltr
from ..i18n import lazy_text as _l

MAX_INPUT_LENGTH = 40
"""Longest input accepted, in characters (the longest formatted E.164 number is ~25)."""

SMS_CAPABLE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})
"""Number types that can receive SMS. FIXED_LINE_OR_MOBILE covers plans such as the US/NANP,
where the metadata cannot tell mobiles from landlines; everything else (FIXED_LINE,
TOLL_FREE, PREMIUM_RATE, VOIP, PAGER, UAN, ...) is refused."""

MASK_CHAR = "\u2022"  # BULLET
VISIBLE_TAIL_DIGITS = 2

MSG_EMPTY = _l("Enter a phone number.")
MSG_TOO_LONG = _l("The phone number is too long. Enter at most 40 characters.")
MSG_BAD_CHARS = _l("The phone number contains characters that are not allowed.")
MSG_NEED_COUNTRY = _l("Enter the number with + and the country code, for example {number}.")
#: The example number the messages and the form's hint give (a UK mobile number
#: from Ofcom's range for drama, never anyone's).
EXAMPLE = "+44 7400 123456"
MSG_INVALID = _l("This is not a valid phone number. Check it and try again.")
MSG_EXTENSION = _l("Enter the number without an extension.")
MSG_NOT_MOBILE = _l("This number cannot receive text messages. Enter a mobile number.")


class PhoneError(ValueError):
    """The text is not an acceptable SMS number.

    ``str(error)`` (also ``error.message``) is a complete sentence meant to be shown to
    the person next to the ``phone`` field.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_phone(text: str, default_region: str | None) -> str:
    """Parse a phone number as typed and return it in E.164 form (``"+447400123456"``).

    Accepts international format (``+44 7400 123456``, ``+44 (0)7400 123456``), the
    ``00`` international call prefix (``0044 7400 123456``; rewritten to ``+`` when the
    region's own dialling rules do not already handle it, and always when there is no
    default region), and, when ``default_region`` is set, national format
    (``07400 123456`` with ``"GB"``). Invisible format characters that phones add when
    copying (Unicode category Cf, e.g. bidi marks) are ignored by the parser.

    :param text: what the person typed; at most ``MAX_INPUT_LENGTH`` characters.
    :param default_region: ISO 3166-1 alpha-2 region for national numbers (``"GB"``), or
        None/``""`` to require ``+`` and a country code.
    :returns: the number in E.164 form (ITU-T E.164).
    :raises PhoneError: with a user-facing message when the text is empty, too long,
        contains control characters, lacks a country code without a default region, is
        not a valid number, has an extension, or is not of an SMS-capable type
        (see ``SMS_CAPABLE_TYPES``).
    :raises ValueError: (not PhoneError) when ``default_region`` is not a region known to
        phonenumbers; that is a configuration error, not the person's.
    """
    region = (default_region or "").strip().upper() or None
    if region is not None and region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown phone region {default_region!r} (expected e.g. 'GB')")
    if len(text) > MAX_INPUT_LENGTH:
        raise PhoneError(MSG_TOO_LONG)
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") for ch in text):
        raise PhoneError(MSG_BAD_CHARS)
    text = text.strip()
    if not text:
        raise PhoneError(MSG_EMPTY)

    candidates = [text] if region is not None or not text.startswith("00") else []
    if text.startswith("00"):
        candidates.append("+" + text[2:])
    number = fallback = first_error = None
    for candidate in candidates:
        try:
            parsed = phonenumbers.parse(candidate, region)
        except NumberParseException as exc:
            first_error = first_error or exc
            continue
        if phonenumbers.is_valid_number(parsed):
            number = parsed
            break
        fallback = fallback or parsed
    if number is None:
        typed_country = text.startswith("00") or "+" in text or "\uff0b" in text
        if (
            region is None
            and not typed_country
            and first_error is not None
            and first_error.error_type == NumberParseException.INVALID_COUNTRY_CODE
        ):
            raise PhoneError(MSG_NEED_COUNTRY.format(number=keep_ltr(EXAMPLE)))
        raise PhoneError(MSG_INVALID)

    if number.extension:
        raise PhoneError(MSG_EXTENSION)
    if phonenumbers.number_type(number) not in SMS_CAPABLE_TYPES:
        raise PhoneError(MSG_NOT_MOBILE)
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def _parse_e164(e164: str) -> phonenumbers.PhoneNumber:
    try:
        if e164.startswith("+"):
            return phonenumbers.parse(e164, None)
    except NumberParseException:
        pass
    raise PhoneError(MSG_INVALID)


@lru_cache(maxsize=1024)
def format_international(e164: str) -> str:
    """Format a stored E.164 number for display: ``"+447400123456"`` -> ``"+44 7400 123456"``.

    Grouping follows the country's international format in libphonenumber's metadata.
    Kept per number (a pure function of it; the settings page shows the number
    masked on every view, and libphonenumber parses and formats anew each time).

    :param e164: a number as returned by :func:`parse_phone`.
    :raises PhoneError: when ``e164`` is not a parseable ``+``-prefixed number.
    """
    return phonenumbers.format_number(_parse_e164(e164), PhoneNumberFormat.INTERNATIONAL)


def mask_phone(e164: str) -> str:
    """Mask a stored number for display, showing the country code and the last 2 digits.

    The international format is kept, and every other digit of the national part becomes
    ``"•"`` (U+2022), so the grouping stays recognisable: ``"+447400123456"`` ->
    ``"+44 •••• ••••56"``, ``"+16502530000"`` -> ``"+1 •••-•••-••00"``. Used wherever
    the number is shown to someone who has not (re)proved they own the account, e.g.
    "We sent a code to +44 •••• ••••56".

    :param e164: a number as returned by :func:`parse_phone`.
    :raises PhoneError: when ``e164`` is not a parseable ``+``-prefixed number.
    """
    formatted = format_international(e164)
    country, sep, national = formatted.partition(" ")
    digits_seen = 0
    total = sum(ch.isdigit() for ch in national)
    out = []
    for ch in national:
        if ch.isdigit():
            digits_seen += 1
            out.append(ch if digits_seen > total - VISIBLE_TAIL_DIGITS else MASK_CHAR)
        else:
            out.append(ch)
    return country + sep + "".join(out)
