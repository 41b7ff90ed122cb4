import pytest

from hubweb.twostep.phone import (
    EXAMPLE,
    MSG_BAD_CHARS,
    MSG_EMPTY,
    MSG_EXTENSION,
    MSG_INVALID,
    MSG_NEED_COUNTRY,
    MSG_NOT_MOBILE,
    MSG_TOO_LONG,
    PhoneError,
    format_international,
    mask_phone,
    parse_phone,
)

UK_MOBILE = "+447400123456"


@pytest.mark.parametrize(
    "text", ["07400 123456", "+44 (0)7400 123456", "0044 7400 123456", " +447400123456 "]
)
def test_gb_forms_with_region(text):
    assert parse_phone(text, "GB") == UK_MOBILE


@pytest.mark.parametrize("text", ["+44 (0)7400 123456", "0044 7400 123456", "+44 7400 123456"])
def test_international_forms_without_region(text):
    assert parse_phone(text, None) == UK_MOBILE


def test_00_prefix_rewritten_when_region_does_not_dial_00():
    # US dials out with 011; "0044..." as a US national number is invalid, so 00 -> +.
    assert parse_phone("0044 7400 123456", "US") == UK_MOBILE
    assert parse_phone("011 44 7400 123456", "US") == UK_MOBILE


def test_region_is_case_insensitive_and_blank_means_none():
    assert parse_phone("07400 123456", "gb") == UK_MOBILE
    with pytest.raises(PhoneError, match="country code"):
        parse_phone("07400 123456", "")


def test_unknown_region_is_a_config_error_not_a_phone_error():
    with pytest.raises(ValueError) as info:
        parse_phone("07400 123456", "XX")
    assert not isinstance(info.value, PhoneError)


def test_us_fixed_line_or_mobile_accepted():
    assert parse_phone("+1 650-253-0000", None) == "+16502530000"


def test_national_number_without_region_asks_for_country_code():
    with pytest.raises(PhoneError) as info:
        parse_phone("07400 123456", None)
    assert str(info.value) == MSG_NEED_COUNTRY.format(number=EXAMPLE)
    assert info.value.message == (
        "Enter the number with + and the country code, for example +44 7400 123456."
    )


@pytest.mark.parametrize(
    "text",
    [
        "+44 20 7946 0018",  # London landline (FIXED_LINE)
        "020 7946 0018",
        "+44 800 123 4567",  # UK freephone (TOLL_FREE)
    ],
)
def test_numbers_that_cannot_receive_sms_are_refused(text):
    with pytest.raises(PhoneError) as info:
        parse_phone(text, "GB")
    assert str(info.value) == MSG_NOT_MOBILE
    assert str(info.value) == "This number cannot receive text messages. Enter a mobile number."


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("hello", MSG_INVALID),
        ("+", MSG_INVALID),
        ("+44 7400 12345", MSG_INVALID),  # one digit short
        ("+44 7400 1234567", MSG_INVALID),  # one digit long
        ("+999 1234 5678", MSG_INVALID),  # no such country code
        ("", MSG_EMPTY),
        ("   ", MSG_EMPTY),
        ("+" + "4" * 40, MSG_TOO_LONG),  # 41 characters
        ("+44 7400\x00123456", MSG_BAD_CHARS),
        ("+44 7400\n123456", MSG_BAD_CHARS),
        ("+44 7400 123456 ext. 12", MSG_EXTENSION),
    ],
)
def test_garbage_refused_with_message(text, message):
    with pytest.raises(PhoneError) as info:
        parse_phone(text, "GB")
    assert str(info.value) == message
    assert message.endswith(".")


def test_exactly_40_characters_is_not_too_long():
    text = "+44 7400 123456".ljust(40)
    assert len(text) == 40
    assert parse_phone(text, None) == UK_MOBILE


def test_bidi_marks_from_copy_paste_are_ignored():
    assert parse_phone("\u202a+44 7400 123456\u202c", None) == UK_MOBILE


def test_format_international():
    assert format_international(UK_MOBILE) == "+44 7400 123456"
    assert format_international("+16502530000") == "+1 650-253-0000"


def test_mask_keeps_country_code_grouping_and_last_two_digits():
    assert mask_phone(UK_MOBILE) == "+44 •••• ••••56"
    assert mask_phone("+16502530000") == "+1 •••-•••-••00"


@pytest.mark.parametrize("value", ["", "447400123456", "+", "hello"])
def test_format_and_mask_refuse_non_e164(value):
    with pytest.raises(PhoneError):
        format_international(value)
    with pytest.raises(PhoneError):
        mask_phone(value)


@pytest.mark.parametrize("text", ["+999 1234 5678", "00999 1234 5678"])
def test_unknown_country_code_is_invalid_not_a_request_for_one(text):
    with pytest.raises(PhoneError) as info:
        parse_phone(text, None)
    assert str(info.value) == MSG_INVALID
