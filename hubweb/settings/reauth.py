"""Re-authentication: the current password again before a change to the account.

Every change to a factor, the password or the email address (and, in later
issues, a data export, the deletion of the account, recovery codes and
security keys) asks for the current password first, and the answer is good
for :data:`REAUTH_SECONDS` of that one change (OWASP ASVS 5.0 V7.5.1: full
re-authentication before changing sensitive account attributes; NIST SP
800-63B section 4.2.3 and 7.2 on re-authentication within a session). Ten
minutes is this project's choice: enough to finish a flow (type a number,
wait for the SMS, type the code), far shorter than NIST's session limits.
A view keeps the time the password was given with what it is doing (the
two-step flows keep it in their state, :mod:`.flow`) and asks
:func:`require_recent_password` before it changes anything.
"""

from __future__ import annotations

import time

from .. import passwords
from ..models import User
from ..twostep import messages as msg

#: How long, in seconds, one re-authentication is good for (10 minutes).
REAUTH_SECONDS = 600


def confirm_password(user: User, form) -> float | None:
    """Check the current password typed in ``form`` (a validated ``ReauthForm``).

    :return: the time of the re-authentication (Unix seconds), or ``None``
        when the form is not valid or the password is wrong; a typed but wrong
        password leaves :data:`~hubweb.twostep.messages.WRONG_PASSWORD` on
        ``form.password``.
    """
    if form.validate_on_submit() and passwords.verify_password(
            user.password_hash, form.password.data):
        return time.time()
    if form.password.data:
        form.password.errors.append(msg.WRONG_PASSWORD)
    return None


def require_recent_password(reauth_at: float | None) -> bool:
    """True when the password was given (at Unix time ``reauth_at``) within the
    last :data:`REAUTH_SECONDS`; a view that gets False asks for it again
    before it changes anything."""
    return reauth_at is not None and time.time() - reauth_at <= REAUTH_SECONDS
