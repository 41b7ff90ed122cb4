"""The factors a session has shown, and what the account requires of it.

No session keeps access with fewer factors than the account requires (NIST SP
800-63B section 4, OWASP ASVS 5.0 V7.4): each
session row records how
many factors its sign-in showed (``factors``: 1 the password, 2 the password
and a second factor). When the account comes to require more
(:attr:`~hubweb.models.User.required_factors`: two-step verification turned
on), :func:`end_weaker_sessions` ends, in the changing transaction, every
other session that showed less, and every half-signed-in one (its second
step belongs to the old set-up); the session making the change is kept and
raised to the required level, since it has just re-authenticated and proved
the new factor with its code. Those rows are marked ``ended`` rather than
deleted, so that the next request with their cookie can say why it was
signed out. As a guard against races (a password-only sign-in that commits
just after the change), each lookup compares the row's factors with what
the account requires now and ends the session when they fall short. A POST
from a session ended at lookup is answered with a redirect to sign-in
(``HX-Redirect`` for htmx), not a CSRF failure
(:func:`hubweb.sessions.init_app`).
"""

from __future__ import annotations

import json

import sqlalchemy as sa

from . import session_states as msg
from .extensions import db
from .models import User, UserSession
from .session_states import ENDED, PENDING, SIGNED_IN, session_data

#: The data key of a session ended because the account requires more factors.
FACTORS = "required_factors"


def why_short(record: UserSession, user: User) -> str | None:
    """Why the session of ``record`` falls short of ``user``'s account, as a
    message for the person, or ``None`` when it does not.

    Short when ended by a change of the set-up (state ``ended``, the reason in
    its data), when signed in with fewer factors than the account requires
    now, or when half signed in to an account whose second step is gone.
    """
    if record.state == ENDED:
        more_factors = FACTORS in session_data(record)
        return msg.SIGN_IN_AGAIN_TWO_STEP if more_factors else msg.SIGN_IN_AGAIN_CHANGED
    # Two factors meet every set-up: only a weaker session looks at the account's
    # factor rows (one query), so most requests do not.
    if record.state == SIGNED_IN and record.factors < 2 \
            and record.factors < user.required_factors:
        return msg.SIGN_IN_AGAIN_TWO_STEP
    if record.state == PENDING and not user.two_step_enabled:
        return msg.SIGN_IN_AGAIN_CHANGED
    return None


def end_weaker_sessions(user: User, keep: str | None = None) -> int:
    """End the sessions that fall short of what ``user``'s account now requires.

    Every ``signed_in`` session with fewer factors than
    :attr:`~hubweb.models.User.required_factors`, and every ``pending`` one
    (its second step belongs to the old set-up), is marked ``ended``, with
    the reason as its data; the next request with its cookie deletes it and
    says why. The session ``keep`` is spared and raised to the required
    level: it made the change after re-authenticating, and a factor it turned
    on was proved by a code in the same flow.

    :param user: the account, with its new set-up assigned (flushed or not).
    :param keep: the id (token hash) of the session making the change, if any.
    :return: the number of sessions ended. The caller commits.
    """
    required = user.required_factors
    mine = UserSession.user_id == user.id
    if keep is not None:
        mine = sa.and_(mine, UserSession.id != keep)
        _update(sa.update(UserSession).where(UserSession.id == keep,
                                             UserSession.factors < required)
                .values(factors=required))
    weaker = sa.and_(UserSession.state == SIGNED_IN, UserSession.factors < required)
    ended = _update(sa.update(UserSession).where(mine, weaker)
                    .values(state=ENDED, data=json.dumps({FACTORS: required})))
    return ended + _update(sa.update(UserSession).where(mine, UserSession.state == PENDING)
                           .values(state=ENDED, data=json.dumps({"set_up_changed": True})))


def _update(stmt) -> int:
    """Run a Core-style UPDATE of sessions (rows in memory are detached)."""
    return db.session.execute(stmt, execution_options={"synchronize_session": False}).rowcount
