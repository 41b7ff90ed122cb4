"""User-facing messages of two-step verification, in one place."""

CODE_FORMAT = "Enter the 6-digit code."
CODE_WRONG = "That code is not right. Check it and try again."
CODE_EXPIRED = "That code has expired or was replaced by a newer one. Send a new code."
CODE_TOO_MANY = "Too many wrong entries for this code. Send a new code."
CODE_REPLAYED = "That code was already used. Wait for your app to show a new code."
CLOCK_DRIFT = (
    "That code is not right now: your device's clock seems to be about {minutes} {unit} "
    "{direction}. Set the device's date and time to update automatically (on phones: "
    "Settings > Date & time > Set automatically), then enter the new code."
)
NO_CODE = "No code has been sent yet. Send a code first."
THROTTLED = "Too many wrong codes. Wait {wait} before trying again."
SEND_COOLDOWN = "A code was sent a moment ago. Wait {wait} before asking for another."
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


def stated_seconds(seconds: int) -> int:
    """The wait that :func:`duration` states, in seconds: exact under a minute,
    else rounded up to whole minutes (115 -> 120), never shorter than the real one."""
    return seconds if seconds < 60 else -(-seconds // 60) * 60


def duration(seconds: int) -> str:
    """Say a wait in words: "45 seconds", "1 minute", "12 minutes" (rounded up,
    see :func:`stated_seconds`)."""
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = stated_seconds(seconds) // 60
    return f"{minutes} minute{'s' if minutes != 1 else ''}"
