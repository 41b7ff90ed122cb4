"""Forms of the auth blueprint."""

from functools import cache

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import InputRequired, Length

from ..forms import email_field, new_password_field, password_field, username_field
from ..i18n import lazy_text as _l


class RegisterForm(FlaskForm):
    """``email`` and ``password`` (autocomplete ``new-password``)."""

    email = email_field()
    password = password_field(_l("Password"), autocomplete="new-password")


class SignInForm(FlaskForm):
    """``email`` and ``password``."""

    email = email_field()
    password = password_field()


class ConfirmForm(FlaskForm):
    """``password``: confirming an address needs the account's password too
    (``username``: the account's email, read-only, for password managers)."""

    username = username_field()
    password = password_field()


class ForgotPasswordForm(FlaskForm):
    """``email``."""

    email = email_field()


class NewPasswordForm(FlaskForm):
    """``new_password``, the last step of recovery (``username`` as in ConfirmForm)."""

    username = username_field()
    new_password = new_password_field()


class EmptyForm(FlaskForm):
    """A form with only the CSRF token (buttons such as "Sign out")."""


def code_field(label: str = "Verification code", missing: str = "Enter the 6-digit code.",
               max_length: int = 64, numeric: bool = True) -> StringField:
    """The ``code`` field (CONTRACT.md): text, numeric keyboard, one-time-code autofill.

    Never ``type="number"``, which would drop leading zeros.

    :param missing: the error when it is empty or longer than ``max_length``.
    :param numeric: False for an answer that is not digits (no numeric keyboard).
    """
    return StringField(
        label,
        validators=[InputRequired(missing), Length(max=max_length, message=missing)],
        render_kw={
            "type": "text",
            "inputmode": "numeric" if numeric else "text",
            "autocomplete": "one-time-code",
            "spellcheck": "false",
            "size": 10,
        },
    )


class CodeForm(FlaskForm):
    """``code``: a one-time code from SMS or the authenticator app."""

    code = code_field()


@cache
def _answer_form(field: str, label: str, missing: str, max_length: int,
                 numeric: bool) -> type[FlaskForm]:
    return type("AnswerForm", (FlaskForm,),
                {field: code_field(label, missing, max_length, numeric)})


def answer_form(factor) -> type[FlaskForm]:
    """The form of a factor's answer at the second step: one field, named and
    worded as the factor says (``answer_field``, ``answer_label``,
    ``answer_missing``, ``answer_max``, ``numeric``; :mod:`hubweb.twostep.factorbase`).
    SMS and the app: CodeForm's ``code`` field."""
    return _answer_form(factor.answer_field, factor.answer_label, factor.answer_missing,
                        factor.answer_max, factor.numeric)


class PhoneForm(FlaskForm):
    """``phone``: international or national format (``HUBWEB_PHONE_DEFAULT_REGION``)."""

    phone = StringField(
        _l("Mobile phone number"),
        validators=[
            InputRequired(_l("Enter a mobile phone number.")),
            Length(max=64, message=_l("The phone number is too long.")),
        ],
        render_kw={"type": "tel", "autocomplete": "tel", "inputmode": "tel"},
    )


class ReauthForm(FlaskForm):
    """``password`` under the label "Enter your current password" (``username``:
    the account's email, hidden, for password managers)."""

    username = username_field()
    password = password_field(_l("Enter your current password"))
