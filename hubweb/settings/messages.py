"""User-facing messages of the settings pages, in one place."""

from babel.numbers import format_decimal
from flask_babel import get_locale, ngettext

from ..i18n import lazy_text as _l

WRONG_PASSWORD = _l("That is not your current password.")
PASSWORD_CHANGED = _l("Your password has been changed. Your other sessions were signed out.")
SAME_PASSWORD = _l("The new password must differ from the current one.")
SESSION_ENDED = _l("That session has been signed out.")
NO_SUCH_SESSION = _l("That session has already ended.")
#: After a change of the password or a factor: how many other sessions remain.
OTHER_SESSIONS_NONE = _l("You are not signed in anywhere else.")


def others_ended(count: int) -> str:
    """Said after "Sign out of all other sessions" ended ``count`` sessions."""
    return ngettext("All your other sessions have been signed out (%(count)s).",
                    "All your other sessions have been signed out (%(count)s).",
                    count, count=format_decimal(count, locale=get_locale() or "en"))


def other_sessions(count: int) -> str:
    """How many other sessions remain signed in (``count`` at least 1)."""
    return ngettext(
        "You are still signed in on %(count)s other session. If it is not you, sign it out.",
        "You are still signed in on %(count)s other sessions. If any of them is not you, "
        "sign them out.",
        count, count=format_decimal(count, locale=get_locale() or "en"))

BROWSER_FORGOTTEN = _l("That browser is forgotten: it will ask for a code at its next sign-in.")
NO_SUCH_BROWSER = _l("That browser was already forgotten.")


def browsers_forgotten(count: int) -> str:
    """Said after "Forget all browsers" forgot ``count`` trusted browsers (0: none were)."""
    if count == 0:
        return str(_l("No browser was trusted."))
    return ngettext("%(count)s trusted browser forgotten: it will ask for a code at its "
                    "next sign-in.",
                    "%(count)s trusted browsers forgotten: each will ask for a code at its "
                    "next sign-in.",
                    count, count=format_decimal(count, locale=get_locale() or "en"))


#: The Account section's actions: the heading and sentence of each one's
#: "Enter your current password" prompt (label and button stay CONTRACT.md's).
ACTION_PROMPTS = {
    "email": (_l("Change email address"),
              _l("Next you enter your new address; your current address stays in use "
                 "until you open the link we send to the new one.")),
    "export": (_l("Download your data"),
               _l("Next you can download everything this portal holds about your account "
                  "as a JSON file.")),
    "delete": (_l("Delete account"),
               _l("Next we show what will be deleted and ask you to confirm.")),
}
EMAIL_SAME = _l("This is already your email address.")
#: The same reply whether or not the new address belongs to another account.
EMAIL_LINK_SENT = _l("We sent a link to {email}. Open it within 24 hours to start using "
                     "that address; until then, your current address stays in use.")
EMAIL_CHANGED = _l("Your email address is now {email}.")
EMAIL_TAKEN_NOW = _l("That address now belongs to another account. Your email address "
                     "was not changed.")
EMAIL_CHANGE_SUBJECT = _l("Confirm your new email address")
EMAIL_CHANGE_OLD_SUBJECT = _l("A change of your email address was requested")
EMAIL_TAKEN_SUBJECT = _l("Someone tried to use your email address")
EMAIL_CHANGED_SUBJECT = _l("Your email address was changed")
EXPORT_SUBJECT = _l("Your data was downloaded")
DELETE_MISMATCH = _l("That is not your account's email address.")
DELETED = _l("Your account has been deleted. We sent a last email to confirm it.")
GOODBYE_SUBJECT = _l("Your account was deleted")
REAUTH_AGAIN = _l("For your security, enter your current password again.")
EMAIL_CHANGE_LIMIT = _l("Too many links were sent in the last hour. Try again later.")
