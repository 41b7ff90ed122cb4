"""Form fields shared by every area, with their limits.

Length limits keep a 100 KB value from reaching argon2 or the database; the
password policy itself (12-128 characters) is applied by
:func:`hubweb.passwords.check_policy` so its message is the policy's.
"""

from __future__ import annotations

from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from .i18n import lazy_text as _l

MAX_EMAIL = 320  # RFC 3696 errata 1690: 64 + 1 + 255
MAX_PASSWORD_INPUT = 1024
PASSWORD_LABEL = _l("Password")
NEW_PASSWORD_LABEL = _l("New password")


def email_field() -> StringField:
    """The ``email`` field (trimmed; syntax checked by the view)."""
    return StringField(
        _l("Email address"),
        validators=[
            DataRequired(_l("Enter your email address.")),
            Length(max=MAX_EMAIL, message=_l("That email address is too long.")),
        ],
        filters=[lambda v: v.strip() if isinstance(v, str) else v],
        render_kw={"autocomplete": "email", "type": "email", "spellcheck": "false"},
    )


def username_field() -> StringField:
    """The ``username`` field (CONTRACT.md) of pages that ask only for a password.

    It carries the account's email, hidden or read-only, for password managers
    (autocomplete ``username``); the server knows the account and ignores the
    value, but refuses one no email address could be.
    """
    return StringField(
        _l("Email address"),
        validators=[Optional(),
                    Length(max=MAX_EMAIL, message=_l("That email address is too long."))],
    )


def password_field(label=PASSWORD_LABEL, autocomplete: str = "current-password"):
    """A password field: never stripped or truncated, at most 1024 characters."""
    return PasswordField(
        label,
        validators=[
            InputRequired(_l("Enter your password.")),
            Length(max=MAX_PASSWORD_INPUT, message=_l("That password is too long.")),
        ],
        render_kw={"autocomplete": autocomplete},
    )


def new_password_field(label=NEW_PASSWORD_LABEL) -> PasswordField:
    """The ``new_password`` field; the policy is applied by the view."""
    return PasswordField(
        label,
        validators=[
            InputRequired(_l("Choose a new password.")),
            Length(max=MAX_PASSWORD_INPUT, message=_l("Use at most 128 characters.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )
