"""User-facing messages of sign-up, sign-in and recovery, in one place.

The words said when a session ends live one layer down, in
:mod:`hubweb.session_states`, and are re-exported here.
"""

from ..i18n import lazy_text as _l
from ..session_states import (  # noqa: F401 - re-exported
    SESSION_EXPIRED,
    SIGN_IN_AGAIN_CHANGED,
    SIGN_IN_AGAIN_TWO_STEP,
    SIGN_IN_EXPIRED,
)

BAD_CREDENTIALS = _l("Incorrect email address or password.")
EMAIL_TAKEN = _l("An account with this email address already exists. Sign in instead.")
CHECK_EMAIL_CONFIRM = (
    _l("We sent a confirmation link to {email}. Open it within 24 hours to activate "
    "your account.")
)
CONFIRM_SENT = _l("We sent a new confirmation link. It is valid for 24 hours.")
CONFIRM_LIMIT = _l(
    "We already sent several links in the last hour. Check your inbox and spam folder."
)
CONFIRM_WRONG_PASSWORD = (
    _l("That is not the password of this account. If you registered more than once, "
    "use the newest link and the password you chose last.")
)
CONFIRMED = _l("Your email address is confirmed. You can sign in now.")
ACCOUNT_CREATED = _l("Your account is ready. Sign in to continue.")
SIGNED_OUT = _l("You have signed out.")
RESET_SENT = (
    _l("If an account uses {email}, we sent it a link to reset the password. "
    "The link is valid for 1 hour.")
)
RESET_DONE = _l("Your password has been changed. Sign in with the new password.")
LINK_PROBLEMS = {
    "invalid": _l("This link is not valid. Check that you copied the whole link from the email."),
    "expired": _l("This link has expired. Request a new one."),
    "used": _l("This link has already been used, or a newer link was sent. Request a new one."),
    "superseded": (
        _l("This link no longer works: the account's password, email address or two-step "
        "verification changed after it was sent. Request a new one.")
    ),
}
