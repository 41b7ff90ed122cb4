"""Forms of the settings blueprint."""

from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from ..forms import MAX_EMAIL, new_password_field, password_field, username_field
from ..i18n import lazy_text as _l


class ChangePasswordForm(FlaskForm):
    """``password`` (the current one) and ``new_password``; ``username`` (hidden,
    the account's email) for password managers."""

    username = username_field()
    password = password_field(_l("Enter your current password"))
    new_password = new_password_field()


class NewEmailForm(FlaskForm):
    """``new_email`` (CONTRACT.md, autocomplete ``email``); its rules are
    registration's (:func:`hubweb.accounts.normalize_email`)."""

    new_email = StringField(
        _l("New email address"),
        validators=[
            DataRequired(_l("Enter your new email address.")),
            Length(max=MAX_EMAIL, message=_l("That email address is too long.")),
        ],
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        render_kw={"autocomplete": "email", "type": "email", "spellcheck": "false"},
    )


class DeleteAccountForm(FlaskForm):
    """``confirm_email``: the account's address typed again, to confirm deletion."""

    confirm_email = StringField(
        _l("Type your email address to confirm"),
        validators=[
            DataRequired(_l("Type your email address to confirm.")),
            Length(max=MAX_EMAIL, message=_l("That email address is too long.")),
        ],
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        render_kw={"autocomplete": "off", "type": "email", "spellcheck": "false"},
    )
