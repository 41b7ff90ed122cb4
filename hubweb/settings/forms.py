"""Forms of the settings blueprint."""

from flask_wtf import FlaskForm

from ..forms import new_password_field, password_field


class ChangePasswordForm(FlaskForm):
    """``password`` (the current one) and ``new_password``."""

    password = password_field("Enter your current password")
    new_password = new_password_field()
