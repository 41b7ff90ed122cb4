"""User-facing messages of two-step verification, in one place (a factor's own
sentences are declared on its factor object: :mod:`hubweb.twostep.factorbase`)."""

from babel.lists import format_list
from babel.numbers import format_decimal
from flask_babel import get_locale, ngettext

from ..i18n import lazy_text as _l

CODE_FORMAT = _l("Enter the 6-digit code.")
CODE_LABEL = _l("Verification code")
CODE_WRONG = _l("That code is not right. Check it and try again.")
# The buttons as CONTRACT.md names them; messages that point at one name it so.
SEND_BUTTON = _l("Send code")
RESEND_BUTTON = _l("Resend code")
CODE_EXPIRED = (
    _l('That code has expired or was replaced by a newer one. Choose "Resend code" for a new one.')
)
CODE_TOO_MANY = _l('Too many wrong entries for this code. Choose "Resend code" for a new one.')
CODE_REPLAYED = _l("That code was already used. Wait for your app to show a new code.")
#: Two sentences said together (a wrong code, then the wait it started); the
#: translator decides how they join.
TWO_SENTENCES = _l("{first} {second}")
NO_CODE = _l('No code has been sent yet. Choose "Send code" first.')
THROTTLED = _l("Too many wrong codes. Wait {wait} before trying again.")
SEND_COOLDOWN = _l("A code was sent a moment ago. Wait {wait} before asking for another.")
SEND_RESEND_WAIT = (
    _l("Several codes were sent in a row. Wait {wait} before asking for another. If they do "
    "not arrive, check that the phone has signal and can receive text messages.")
)
# Said calmly next to the button while a send limit holds it back (no error
# the person did not cause); a countdown in the page rewrites {wait}, then shows SEND_READY.
SEND_AGAIN_IN = _l("You can ask for a new code in {wait}.")
SEND_READY = _l('You can choose "{button}" now.')
SEND_LIMIT_ACCOUNT = _l("Too many codes were sent to this account. Wait {wait} and try again.")
SEND_LIMIT_PHONE = _l("Too many codes were sent to this number. Wait {wait} and try again.")
SEND_FAILED = (
    _l("We could not send the text message. Nothing was changed. Try again in a few minutes.")
)
PHONE_IN_USE = (
    _l("This number already serves 5 accounts, the most one number may serve. "
    "Use another mobile number.")
)
PHONE_SAME = _l("This is already your number for two-step verification.")
WRONG_PASSWORD = _l("That is not your current password.")
REAUTH_EXPIRED = _l("For your security, enter your current password again.")
SMS_ENABLED = _l("Two-step verification by SMS is on.")
PHONE_CHANGED = _l("Your phone number for two-step verification has been changed.")
TWO_STEP_DISABLED = _l("Two-step verification is off.")
APP_NEEDS_SMS = _l("Set up two-step verification by SMS first")
APP_ENABLED = _l("Your authenticator app is on.")
APP_REPLACED = _l("Your authenticator app now uses the new key. The old key no longer works.")
APP_DISABLED = _l("Your authenticator app is off. Two-step verification by SMS stays on.")
APP_KEY_EXPIRED = _l("The secret key expired after 15 minutes. Get a new secret key.")
APP_ENABLED_SUBJECT = _l("An authenticator app was set up for your account")
APP_MOVED_SUBJECT = _l("Your authenticator app was moved to a new key")
SMS_ENABLED_SUBJECT = _l("Two-step verification is on")
PHONE_CHANGED_SUBJECT = _l("Your phone number for two-step verification changed")
TWO_STEP_DISABLED_SUBJECT = _l("Two-step verification was turned off")
APP_DISABLED_SUBJECT = _l("Your authenticator app was turned off")

# A security key at the second step or when added (hubweb.twostep.webauthnkeys).
KEY_MISSING = _l("Security keys need JavaScript. Turn it on in this browser, or choose "
               "another method.")
KEY_EXPIRED = _l("The request to your security key expired or was used already. Try again.")
KEY_UNKNOWN = _l("This security key is not registered for your account. Try another key, "
               "or choose another method.")
KEY_REFUSED = _l("Your security key's answer could not be verified. Try again, or choose "
               "another method.")
KEY_CLONED = _l("This security key was refused: its counter went backwards, so it may have "
              "been copied. Choose another method, and remove the key in your settings.")
KEY_LIMIT = _l("You have 10 security keys, the most an account may have. Remove one first.")
KEY_KNOWN = _l("This security key is registered already.")

# Recovery codes (hubweb.twostep.recoverycodes).
RECOVERY_CODE_FORMAT = _l("Enter a recovery code: 10 letters and digits, like abcde-12345.")
RECOVERY_CODE_USED = _l("That recovery code was used already. Each code works once: enter "
                        "another one.")
RECOVERY_NONE_LEFT = _l("You have used all your recovery codes. Get new recovery codes, so "
                        "that you can still sign in if you lose your phone.")
RECOVERY_USED_NOTICE = _l("You signed in with a recovery code. If you lost your phone, change "
                          "the phone number or set up your authenticator app again, and get "
                          "new recovery codes.")
RECOVERY_USED_SUBJECT = _l("A recovery code was used for your account")
RECOVERY_NEW_SUBJECT = _l("New recovery codes were made for your account")
RECOVERY_MADE = _l("Your new recovery codes are below. Save them now: they are shown only "
                   "this once, and your old codes no longer work.")
RECOVERY_DOWNLOAD_GONE = _l("This download is no longer available: the codes can be "
                            "downloaded once, right after they are made. Get new recovery "
                            "codes if you need them.")
RECOVERY_SAVED = _l("Your recovery codes are saved. Each works once, if you lose your phone.")

#: The re-authentication prompt of each flow of the Two-step verification
#: section: a heading and one sentence saying what happens after "Continue"
#: (the label and button stay CONTRACT.md's "Enter your current password" and
#: "Continue"). ``app_move`` is "Get secret key" while the app is already on.
REAUTH_PROMPTS = {
    "sms": (_l("Set up two-step verification by SMS"),
            _l("Next you enter your mobile number and the code we send to it; from then "
            "on, signing in and resetting your password also need a code.")),
    "phone": (_l("Change phone number"),
              _l("Next you enter your new number; your current number keeps working until "
              "you enter the code we send to the new one.")),
    "app": (_l("Set up authenticator app"),
            _l("Next you add a secret key to your app; the app is on once you enter a code "
            "from it.")),
    "app_move": (_l("Move authenticator app to a new key"),
                 _l("Next you get a new secret key; the current key keeps working until you "
                 "enter a code from the new one.")),
    "app_disable": (_l("Disable authenticator app"),
                    _l("Codes from the app will no longer be accepted. Two-step verification "
                    "by SMS stays on.")),
    "webauthn": (_l("Add security key"),
                 _l("Next you name the key and touch it (or confirm the passkey) when your "
                    "browser asks.")),
    "webauthn_remove": (_l("Remove security key"),
                        _l("The key will no longer be accepted when you sign in or reset "
                           "your password.")),
    "recovery": (_l("Get recovery codes"),
                 _l("Next you see 10 recovery codes, once. Each works once, in place of a "
                    "code from your phone.")),
    "recovery_new": (_l("Get new recovery codes"),
                     _l("Next you see 10 new recovery codes, once; your current recovery "
                        "codes stop working at once.")),
    "disable": (_l("Disable two-step verification"),
                _l("Codes will no longer be asked for when you sign in or reset your password, "
                "and your other sessions will be signed out.")),
}

#: The warning of the password panel of "Disable two-step verification".
DISABLE_WARNING = _l("Turning off two-step verification makes your account less secure: "
                     "anyone who learns your password can then sign in.")

#: The closing sentence of the help under the second step for someone without
#: the chosen factor (its ``lost_text``, then each other factor's
#: ``switch_hint``), by place (``sign_in``, ``recovery``) and by how many
#: other factors the person has on (``none``, ``one``, ``several``): when none
#: is left, the administrator, who can turn two-step verification off
#: (``flask --app wsgi users reset-2sv``, README). Whole sentences, joined by
#: :func:`lost_help` only, so each translates as a whole.
LOST_CLOSING = {
    ("sign_in", "none"): _l(
        "Ask your administrator to reset two-step verification for your account; you "
        "can then sign in with your password."),
    ("sign_in", "one"): _l(
        "If you have neither, ask your administrator to reset two-step verification for "
        "your account; you can then sign in with your password."),
    ("sign_in", "several"): _l(
        "If you have none of them, ask your administrator to reset two-step verification "
        "for your account; you can then sign in with your password."),
    ("recovery", "none"): _l(
        "Ask your administrator to reset two-step verification for your account, then "
        "open the link in the email again."),
    ("recovery", "one"): _l(
        "If you have neither, ask your administrator to reset two-step verification for "
        "your account, then open the link in the email again."),
    ("recovery", "several"): _l(
        "If you have none of them, ask your administrator to reset two-step verification "
        "for your account, then open the link in the email again."),
}

#: A method switch that names no method this person has: ``{methods}`` is the
#: list of the person's factors (their ``choice_name``), as :func:`choose_method`
#: joins it ("the authenticator app or SMS").
CHOOSE_METHOD = _l("Choose {methods}.")


def lost_help(purpose: str, lost_text: str, switch_hints: list[str]) -> str:
    """The help under the second step for someone without the chosen factor.

    :param purpose: the place, ``sign_in`` or ``recovery``.
    :param lost_text: the chosen factor's sentence ("No access to your phone?").
    :param switch_hints: each other factor's sentence on how to use it instead,
        in registry order ('Choose "Use SMS" to get a code by text message.').
    :return: those sentences and :data:`LOST_CLOSING`'s, joined by spaces.
    :raises KeyError: for a purpose without a closing sentence.
    """
    others = ("none", "one", "several")[min(len(switch_hints), 2)]
    return " ".join(str(text) for text in [lost_text, *switch_hints,
                                           LOST_CLOSING[(purpose, others)]])


def choose_method(names: list[str]) -> str:
    """:data:`CHOOSE_METHOD` for factors called ``names`` (their ``choice_name``,
    in registry order): "Choose the authenticator app or SMS." (the list joined
    by the current language's CLDR rules)."""
    locale = get_locale() or "en"
    return str(CHOOSE_METHOD).format(
        methods=format_list([str(n) for n in names], style="or", locale=locale))



#: Up to this many seconds a wait is said in minutes, above it in hours.
MINUTES_UP_TO = 7200


def clock_drift(minutes: int) -> str:
    """The reply to an app code that fits the clock ``minutes`` away (whole
    minutes, positive when the device runs ahead, never 0)."""
    count = abs(minutes)
    num = _number(count)
    if minutes > 0:
        return ngettext(
            "That code is not right now: your device's clock seems to be about %(count)s minute "
            "ahead. Set the device's date and time to update automatically (on phones: "
            "Settings > Date & time > Set automatically), then enter the new code.",
            "That code is not right now: your device's clock seems to be about %(count)s minutes "
            "ahead. Set the device's date and time to update automatically (on phones: "
            "Settings > Date & time > Set automatically), then enter the new code.",
            count, count=num)
    return ngettext(
        "That code is not right now: your device's clock seems to be about %(count)s minute "
        "behind. Set the device's date and time to update automatically (on phones: "
        "Settings > Date & time > Set automatically), then enter the new code.",
        "That code is not right now: your device's clock seems to be about %(count)s minutes "
        "behind. Set the device's date and time to update automatically (on phones: "
        "Settings > Date & time > Set automatically), then enter the new code.",
        count, count=num)


def _number(count: int) -> str:
    """``count`` written for the current language (Babel, CLDR number symbols)."""
    return format_decimal(count, locale=get_locale() or "en")


def _seconds(count: int, num: str) -> str:
    return ngettext("%(count)s second", "%(count)s seconds", count, count=num)


def _minutes(count: int, num: str) -> str:
    return ngettext("%(count)s minute", "%(count)s minutes", count, count=num)


def _hours(count: int, num: str) -> str:
    return ngettext("%(count)s hour", "%(count)s hours", count, count=num)


_UNIT_WORDS = {"seconds": _seconds, "minutes": _minutes, "hours": _hours}


def units() -> dict:
    """A wait's words for the page's live countdown (``static/app.js`` reads them
    from the page, so it holds no words), in the current language.

    :return: ``{"seconds"|"minutes"|"hours": {category: "{count} ..."}}`` by CLDR
        plural category (``one``, ``few``, ``many``, ``other``...; what the
        browser's ``Intl.PluralRules`` names), ``{count}`` standing for the
        number; and, as before, ``second``/``minute`` (the words for 1, with
        ``{count}``) and ``seconds``/``minutes``/``hours`` of a plain plural
        number under the key ``"plain"``. Plain ``str`` values, fit for JSON.
    """
    rule = (get_locale() or _english()).plural_form
    forms: dict[str, dict[str, str]] = {}
    for unit, words in _UNIT_WORDS.items():
        by_category: dict[str, str] = {}
        for n in range(200):  # every category an integer count can take below 200
            by_category.setdefault(rule(n), str(words(n, "{count}")))
        forms[unit] = by_category
    return {
        "second": str(_seconds(1, "1")), "seconds": str(_seconds(5, "{count}")),
        "minute": str(_minutes(1, "1")), "minutes": str(_minutes(5, "{count}")),
        "hours": str(_hours(5, "{count}")),
        "forms": forms,
    }


def _english():
    from babel import Locale

    return Locale("en")


def stated_seconds(seconds: int) -> int:
    """The wait that :func:`duration` states, in seconds: exact under a minute,
    else rounded up to whole minutes (115 -> 120), above 2 hours to whole hours
    (7201 -> 10800); never shorter than the real one."""
    if seconds < 60:
        return seconds
    unit = 60 if seconds <= MINUTES_UP_TO else 3600
    return -(-seconds // unit) * unit


def duration(seconds: int) -> str:
    """Say a wait in words: "45 seconds", "1 minute", "12 minutes", "3 hours"
    (rounded up, see :func:`stated_seconds`)."""
    stated = stated_seconds(seconds)
    if seconds < 60:
        return _seconds(seconds, _number(seconds))
    if seconds <= MINUTES_UP_TO:
        return _minutes(stated // 60, _number(stated // 60))
    return _hours(stated // 3600, _number(stated // 3600))
