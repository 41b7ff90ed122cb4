"""What a second-factor operation answers: :class:`Result`, with a :class:`Problem`.

Shared by every factor (SMS, authenticator app, and the ones to come). No HTTP
here: the web layer maps a result to its status and ``Retry-After`` in one
place, :func:`hubweb.replies.status_for`.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from . import messages as msg


class Problem(enum.Enum):
    """Why a send or a check did not succeed."""

    COOLDOWN = "cooldown"
    RESEND_WAIT = "resend_wait"
    ACCOUNT_LIMIT = "account_limit"
    PHONE_LIMIT = "phone_limit"
    SEND_FAILED = "send_failed"
    FORMAT = "format"
    THROTTLED = "throttled"
    NO_CODE = "no_code"
    EXPIRED = "expired"
    TOO_MANY = "too_many"
    WRONG = "wrong"
    REPLAYED = "replayed"
    CLOCK_DRIFT = "clock_drift"
    KEY_MISSING = "key_missing"
    KEY_EXPIRED = "key_expired"
    KEY_UNKNOWN = "key_unknown"
    KEY_REFUSED = "key_refused"
    KEY_CLONED = "key_cloned"
    KEY_LIMIT = "key_limit"
    KEY_KNOWN = "key_known"
    RECOVERY_FORMAT = "recovery_format"
    RECOVERY_USED = "recovery_used"


_TEXT = {
    Problem.COOLDOWN: msg.SEND_COOLDOWN,
    Problem.RESEND_WAIT: msg.SEND_RESEND_WAIT,
    Problem.ACCOUNT_LIMIT: msg.SEND_LIMIT_ACCOUNT,
    Problem.PHONE_LIMIT: msg.SEND_LIMIT_PHONE,
    Problem.SEND_FAILED: msg.SEND_FAILED,
    Problem.FORMAT: msg.CODE_FORMAT,
    Problem.THROTTLED: msg.THROTTLED,
    Problem.NO_CODE: msg.NO_CODE,
    Problem.EXPIRED: msg.CODE_EXPIRED,
    Problem.TOO_MANY: msg.CODE_TOO_MANY,
    Problem.WRONG: msg.CODE_WRONG,
    Problem.REPLAYED: msg.CODE_REPLAYED,
    Problem.KEY_MISSING: msg.KEY_MISSING,
    Problem.KEY_EXPIRED: msg.KEY_EXPIRED,
    Problem.KEY_UNKNOWN: msg.KEY_UNKNOWN,
    Problem.KEY_REFUSED: msg.KEY_REFUSED,
    Problem.KEY_CLONED: msg.KEY_CLONED,
    Problem.KEY_LIMIT: msg.KEY_LIMIT,
    Problem.KEY_KNOWN: msg.KEY_KNOWN,
    Problem.RECOVERY_FORMAT: msg.RECOVERY_CODE_FORMAT,
    Problem.RECOVERY_USED: msg.RECOVERY_CODE_USED,
}

#: A code that was not right (a wait it started is said after it).
WRONG = frozenset({Problem.WRONG, Problem.TOO_MANY, Problem.REPLAYED, Problem.CLOCK_DRIFT,
                   Problem.KEY_UNKNOWN, Problem.KEY_REFUSED,
                   Problem.RECOVERY_USED})
#: The send limits: the page says these calmly, next to the button they hold back.
HOLDS = frozenset({Problem.COOLDOWN, Problem.RESEND_WAIT, Problem.ACCOUNT_LIMIT,
                   Problem.PHONE_LIMIT})
#: Everything that makes the person wait: the send limits and the throttle.
LIMITS = HOLDS | {Problem.THROTTLED}


@dataclass(frozen=True)
class Result:
    """Outcome of a factor's ``begin`` (a send) or ``verify`` (a check).

    :ivar problem: ``None`` on success.
    :ivar wait: seconds to wait, for the limits and the throttle.
    :ivar drift_minutes: for ``CLOCK_DRIFT``, how far the device's clock is
        off, in whole minutes; positive when it runs ahead.
    """

    problem: Problem | None = None
    wait: int = 0
    drift_minutes: int = 0

    @property
    def ok(self) -> bool:
        return self.problem is None

    @property
    def message(self) -> str:
        """The sentence to show the user; a wrong code that started a wait says so."""
        if self.problem is None:
            return ""
        if self.problem is Problem.CLOCK_DRIFT:
            text = msg.clock_drift(self.drift_minutes)
        else:
            text = _TEXT[self.problem].format(wait=msg.duration(self.wait))
        if self.wait and self.problem in WRONG:
            text = msg.TWO_SENTENCES.format(
                first=text, second=msg.THROTTLED.format(wait=msg.duration(self.wait)))
        return str(text)

    @property
    def held(self) -> bool:
        """True when a send limit held the code back (not sent; send later)."""
        return self.problem in HOLDS

    @property
    def alert(self) -> str | None:
        """The message to show as an error, or ``None``: none on success, and
        none for a send limit, which the page states calmly where the button is
        (:attr:`held`: no error the person did not cause)."""
        return None if self.ok or self.held else self.message

    @property
    def wait_text(self) -> str:
        """The message with ``{wait}`` left in, for a live countdown (a send limit only)."""
        return _TEXT[self.problem] if self.held else ""
