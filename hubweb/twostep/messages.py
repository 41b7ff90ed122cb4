"""User-facing messages of two-step verification, in one place (a factor's own
sentences are declared on its factor object: :mod:`hubweb.twostep.factorbase`)."""

from babel.lists import format_list

CODE_FORMAT = "Enter the 6-digit code."
CODE_WRONG = "That code is not right. Check it and try again."
# The buttons as CONTRACT.md names them; messages that point at one name it so.
SEND_BUTTON = "Send code"
RESEND_BUTTON = "Resend code"
CODE_EXPIRED = (
    'That code has expired or was replaced by a newer one. Choose "Resend code" for a new one.'
)
CODE_TOO_MANY = 'Too many wrong entries for this code. Choose "Resend code" for a new one.'
CODE_REPLAYED = "That code was already used. Wait for your app to show a new code."
CLOCK_DRIFT = (
    "That code is not right now: your device's clock seems to be about {minutes} {unit} "
    "{direction}. Set the device's date and time to update automatically (on phones: "
    "Settings > Date & time > Set automatically), then enter the new code."
)
NO_CODE = 'No code has been sent yet. Choose "Send code" first.'
THROTTLED = "Too many wrong codes. Wait {wait} before trying again."
SEND_COOLDOWN = "A code was sent a moment ago. Wait {wait} before asking for another."
SEND_RESEND_WAIT = (
    "Several codes were sent in a row. Wait {wait} before asking for another. If they do "
    "not arrive, check that the phone has signal and can receive text messages."
)
# Said calmly next to the button while a send limit holds it back (no error
# the person did not cause); a countdown in the page rewrites {wait}, then shows SEND_READY.
SEND_AGAIN_IN = "You can ask for a new code in {wait}."
SEND_READY = 'You can choose "{button}" now.'
SEND_LIMIT_ACCOUNT = "Too many codes were sent to this account. Wait {wait} and try again."
SEND_LIMIT_PHONE = "Too many codes were sent to this number. Wait {wait} and try again."
SEND_FAILED = (
    "We could not send the text message. Nothing was changed. Try again in a few minutes."
)
PHONE_IN_USE = (
    "This number already serves 5 accounts, the most one number may serve. "
    "Use another mobile number."
)
PHONE_SAME = "This is already your number for two-step verification."
WRONG_PASSWORD = "That is not your current password."
REAUTH_EXPIRED = "For your security, enter your current password again."
SMS_ENABLED = "Two-step verification by SMS is on."
PHONE_CHANGED = "Your phone number for two-step verification has been changed."
TWO_STEP_DISABLED = "Two-step verification is off."
APP_NEEDS_SMS = "Set up two-step verification by SMS first"
APP_ENABLED = "Your authenticator app is on."
APP_REPLACED = "Your authenticator app now uses the new key. The old key no longer works."
APP_DISABLED = "Your authenticator app is off. Two-step verification by SMS stays on."
APP_KEY_EXPIRED = "The secret key expired after 15 minutes. Get a new secret key."
APP_ENABLED_SUBJECT = "An authenticator app was set up for your account"
APP_MOVED_SUBJECT = "Your authenticator app was moved to a new key"
SMS_ENABLED_SUBJECT = "Two-step verification is on"
PHONE_CHANGED_SUBJECT = "Your phone number for two-step verification changed"
TWO_STEP_DISABLED_SUBJECT = "Two-step verification was turned off"
APP_DISABLED_SUBJECT = "Your authenticator app was turned off"

#: The re-authentication prompt of each flow of the Two-step verification
#: section: a heading and one sentence saying what happens after "Continue"
#: (the label and button stay CONTRACT.md's "Enter your current password" and
#: "Continue"). ``app_move`` is "Get secret key" while the app is already on.
REAUTH_PROMPTS = {
    "sms": ("Set up two-step verification by SMS",
            "Next you enter your mobile number and the code we send to it; from then "
            "on, signing in and resetting your password also need a code."),
    "phone": ("Change phone number",
              "Next you enter your new number; your current number keeps working until "
              "you enter the code we send to the new one."),
    "app": ("Set up authenticator app",
            "Next you add a secret key to your app; the app is on once you enter a code "
            "from it."),
    "app_move": ("Move authenticator app to a new key",
                 "Next you get a new secret key; the current key keeps working until you "
                 "enter a code from the new one."),
    "app_disable": ("Disable authenticator app",
                    "Codes from the app will no longer be accepted. Two-step verification "
                    "by SMS stays on."),
    "disable": ("Disable two-step verification",
                "Codes will no longer be asked for when you sign in or reset your password, "
                "and your other sessions will be signed out."),
}

#: The warning of the password panel of "Disable two-step verification".
DISABLE_WARNING = ("Turning off two-step verification makes your account less secure: "
                   "anyone who learns your password can then sign in.")

#: The closing sentence of the help under the second step for someone without
#: the chosen factor (its ``lost_text``, then each other factor's
#: ``switch_hint``), by place (``sign_in``, ``recovery``) and by how many
#: other factors the person has on (``none``, ``one``, ``several``): when none
#: is left, the administrator, who can turn two-step verification off
#: (``flask --app wsgi users reset-2sv``, README). Whole sentences, joined by
#: :func:`lost_help` only, so each translates as a whole.
LOST_CLOSING = {
    ("sign_in", "none"): (
        "Ask your administrator to reset two-step verification for your account; you "
        "can then sign in with your password."),
    ("sign_in", "one"): (
        "If you have neither, ask your administrator to reset two-step verification for "
        "your account; you can then sign in with your password."),
    ("sign_in", "several"): (
        "If you have none of them, ask your administrator to reset two-step verification "
        "for your account; you can then sign in with your password."),
    ("recovery", "none"): (
        "Ask your administrator to reset two-step verification for your account, then "
        "open the link in the email again."),
    ("recovery", "one"): (
        "If you have neither, ask your administrator to reset two-step verification for "
        "your account, then open the link in the email again."),
    ("recovery", "several"): (
        "If you have none of them, ask your administrator to reset two-step verification "
        "for your account, then open the link in the email again."),
}

#: A method switch that names no method this person has: ``{methods}`` is the
#: list of the person's factors (their ``choice_name``), as :func:`choose_method`
#: joins it ("the authenticator app or SMS").
CHOOSE_METHOD = "Choose {methods}."
#: The language of the words here (a list is joined by its CLDR rules).
LOCALE = "en"


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
    return " ".join([lost_text, *switch_hints, LOST_CLOSING[(purpose, others)]])


def choose_method(names: list[str]) -> str:
    """:data:`CHOOSE_METHOD` for factors called ``names`` (their ``choice_name``,
    in registry order): "Choose the authenticator app or SMS."."""
    return CHOOSE_METHOD.format(methods=format_list(names, style="or", locale=LOCALE))


#: A wait in words, by unit and number: :func:`duration`, and the page's live
#: countdown (``static/app.js`` reads them from the page, so it holds no words).
UNITS = {
    "second": "1 second", "seconds": "{count} seconds",
    "minute": "1 minute", "minutes": "{count} minutes",
    "hours": "{count} hours",
}
#: Up to this many seconds a wait is said in minutes, above it in hours.
MINUTES_UP_TO = 7200


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
        unit, count = ("second" if seconds == 1 else "seconds"), seconds
    elif seconds <= MINUTES_UP_TO:
        unit, count = ("minute" if stated == 60 else "minutes"), stated // 60
    else:
        unit, count = "hours", stated // 3600
    return UNITS[unit].format(count=count)
