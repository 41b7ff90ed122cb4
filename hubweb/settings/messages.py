"""User-facing messages of the settings pages, in one place."""

WRONG_PASSWORD = "That is not your current password."
PASSWORD_CHANGED = "Your password has been changed. Your other sessions were signed out."
SAME_PASSWORD = "The new password must differ from the current one."
SESSION_ENDED = "That session has been signed out."
OTHERS_ENDED = "All your other sessions have been signed out ({count})."
NO_SUCH_SESSION = "That session has already ended."
