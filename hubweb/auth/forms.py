"""Forms of the auth blueprint."""

from flask_wtf import FlaskForm

from ..forms import email_field, new_password_field, password_field


class RegisterForm(FlaskForm):
    """``email`` and ``password`` (autocomplete ``new-password``)."""

    email = email_field()
    password = password_field("Password", autocomplete="new-password")


class SignInForm(FlaskForm):
    """``email`` and ``password``."""

    email = email_field()
    password = password_field()


class ForgotPasswordForm(FlaskForm):
    """``email``."""

    email = email_field()


class NewPasswordForm(FlaskForm):
    """``new_password``, the last step of recovery."""

    new_password = new_password_field()


class EmptyForm(FlaskForm):
    """A form with only the CSRF token (buttons such as "Sign out")."""
