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
