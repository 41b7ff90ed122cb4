"""User-facing messages of sign-up, sign-in and recovery, in one place."""

BAD_CREDENTIALS = "Incorrect email address or password."
EMAIL_TAKEN = "An account with this email address already exists. Sign in instead."
CHECK_EMAIL_CONFIRM = (
    "We sent a confirmation link to {email}. Open it within 24 hours to activate "
    "your account."
)
CONFIRM_SENT = "We sent a new confirmation link. It is valid for 24 hours."
CONFIRM_LIMIT = "We already sent several links in the last hour. Check your inbox and spam folder."
CONFIRM_WRONG_PASSWORD = (
    "That is not the password of this account. If you registered more than once, "
    "use the newest link and the password you chose last."
)
CONFIRMED = "Your email address is confirmed. You can sign in now."
ACCOUNT_CREATED = "Your account is ready. Sign in to continue."
SIGNED_OUT = "You have signed out."
SESSION_EXPIRED = "Your session has expired. Please sign in again."
SIGN_IN_EXPIRED = "Your sign-in was not finished in time. Please sign in again."
RESET_SENT = (
    "If an account uses {email}, we sent it a link to reset the password. "
    "The link is valid for 1 hour."
)
RESET_DONE = "Your password has been changed. Sign in with the new password."
LINK_PROBLEMS = {
    "invalid": "This link is not valid. Check that you copied the whole link from the email.",
    "expired": "This link has expired. Request a new one.",
    "used": "This link has already been used, or a newer link was sent. Request a new one.",
    "superseded": (
        "This link no longer works: the account's password, email address or two-step "
        "verification changed after it was sent. Request a new one."
    ),
}
SIGN_IN_AGAIN_TWO_STEP = (
    "You were signed out: two-step verification is now on for your account. "
    "Sign in again with your password and a code."
)
SIGN_IN_AGAIN_CHANGED = (
    "You were signed out: your account's sign-in settings changed. Please sign in again."
)
