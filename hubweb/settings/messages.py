"""User-facing messages of the settings pages, in one place."""

WRONG_PASSWORD = "That is not your current password."
PASSWORD_CHANGED = "Your password has been changed. Your other sessions were signed out."
SAME_PASSWORD = "The new password must differ from the current one."
SESSION_ENDED = "That session has been signed out."
OTHERS_ENDED = "All your other sessions have been signed out ({count})."
NO_SUCH_SESSION = "That session has already ended."
#: After a change of the password or a factor: how many other sessions remain.
OTHER_SESSIONS_NONE = "You are not signed in anywhere else."
OTHER_SESSIONS_ONE = (
    "You are still signed in on 1 other session. If it is not you, sign it out."
)
OTHER_SESSIONS_MANY = (
    "You are still signed in on {count} other sessions. If any of them is not you, "
    "sign them out."
)
