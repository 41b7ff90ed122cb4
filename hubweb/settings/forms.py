"""Forms of the settings blueprint."""

from flask_wtf import FlaskForm

from ..forms import new_password_field, password_field, username_field
from ..i18n import lazy_text as _l


class ChangePasswordForm(FlaskForm):
    """``password`` (the current one) and ``new_password``; ``username`` (hidden,
    the account's email) for password managers."""

    username = username_field()
    password = password_field(_l("Enter your current password"))
    new_password = new_password_field()
