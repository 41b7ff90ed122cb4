"""Forms of the auth blueprint."""

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


def code_field() -> StringField:
    """The ``code`` field (CONTRACT.md): text, numeric keyboard, one-time-code autofill.

    Never ``type="number"``, which would drop leading zeros.
    """
    return StringField(
        _l("Verification code"),
        validators=[
            InputRequired(_l("Enter the 6-digit code.")),
            Length(max=64, message=_l("Enter the 6-digit code.")),
        ],
        render_kw={
            "type": "text",
            "inputmode": "numeric",
            "autocomplete": "one-time-code",
            "spellcheck": "false",
            "size": 10,
        },
    )


class CodeForm(FlaskForm):
    """``code``: a one-time code from SMS or the authenticator app."""

    code = code_field()


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
