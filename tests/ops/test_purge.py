"""``flask --app wsgi purge``: what is older than HUBWEB_RETENTION_DAYS goes,
IP addresses older than 30 days keep only their network prefix."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from hubweb import purge
from hubweb.config import ConfigError
from hubweb.extensions import db
from hubweb.mailqueue import QueuedMail
from hubweb.models import EmailToken, OutboxMessage, SecurityEvent, UserSession
from hubweb.timeutil import utcnow
from hubweb.twostep.models import SmsCode

DAY = timedelta(days=1)


def test_network_prefix():
    assert purge.network_prefix("203.0.113.77") == "203.0.113.0/24"
    assert purge.network_prefix("2001:db8:1:2:3::9") == "2001:db8:1::/48"
    assert purge.network_prefix("203.0.113.0/24") == "203.0.113.0/24"
    assert purge.network_prefix("") == ""


def test_the_default_is_90_days_and_a_bad_value_stops_the_start(app):
    from hubweb import create_app
    assert app.config["RETENTION_DAYS"] == 90
    with pytest.raises(ConfigError, match="RETENTION_DAYS"):
        create_app({**app.config, "RETENTION_DAYS": 0})


def _seed(user_id: int, age: timedelta, tag: str) -> None:
    at = utcnow() - age
    db.session.add_all([
        SecurityEvent(user_id=user_id, kind="sign_in", created_at=at, ip="198.51.100.23",
                      user_agent=tag),
        UserSession(id=f"{tag}-ended".ljust(64, "0"), user_id=user_id, state="ended",
                    created_at=at, last_seen_at=at, ip="2001:db8:5:6::1", user_agent=tag),
        EmailToken(user_id=user_id, purpose="reset", token_hash=f"{tag}-used".ljust(64, "0"),
                   created_at=at, expires_at=at + timedelta(hours=1), used_at=at),
        EmailToken(user_id=user_id, purpose="confirm",
                   token_hash=f"{tag}-expired".ljust(64, "0"), created_at=at,
                   expires_at=at + DAY),
        SmsCode(user_id=user_id, phone="+447400123456", purpose="sign_in", code_hash="x" * 64,
                created_at=at, expires_at=at + timedelta(minutes=5), used_at=at),
        QueuedMail(recipient="alice@example.com", kind=tag, body="sealed", created_at=at,
                   next_attempt_at=at, sent_at=at),
        OutboxMessage(channel="email", recipient="alice@example.com", subject=tag, body="b",
                      created_at=at),
    ])


def _by_tag(model) -> dict[str, str]:
    """The rows' IP addresses by the tag the seed put in their browser."""
    return dict(db.session.execute(sa.select(model.user_agent, model.ip)).all())


def _left(model) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.mark.settings(RETENTION_DAYS=90)
def test_purge_deletes_what_is_older_and_keeps_the_rest(app, runner, make_user, clock):
    user_id = make_user()
    with app.app_context():
        _seed(user_id, 91 * DAY, "old")
        _seed(user_id, 89 * DAY, "kept")
        db.session.commit()
    result = runner.invoke(args=["purge"])
    assert result.exit_code == 0, result.output
    assert ("Older than 90 days: deleted 1 security events, 2 sessions, 2 emailed links, "
            "1 SMS codes, 1 sent emails, 1 outbox messages") in result.output
    with app.app_context():
        for model in (SecurityEvent, SmsCode, QueuedMail, OutboxMessage):
            assert _left(model) == 1, model
        # An ended session past its idle lifetime goes whatever its age (sessions purge).
        assert _left(UserSession) == 0
        assert _left(EmailToken) == 2
        assert db.session.scalar(sa.select(SecurityEvent.user_agent)) == "kept"


@pytest.mark.settings(RETENTION_DAYS=7)
def test_the_setting_moves_the_line(app, make_user, clock):
    user_id = make_user()
    with app.app_context():
        _seed(user_id, 8 * DAY, "old")
        _seed(user_id, 6 * DAY, "kept")
        db.session.commit()
        counts = purge.run(app)
        assert counts["events"] == 1 and counts["tokens"] == 2
        assert _left(SecurityEvent) == 1


def test_unused_unexpired_links_and_signed_in_sessions_stay(app, make_user, clock):
    user_id = make_user()
    with app.app_context():
        now = utcnow()
        db.session.add_all([
            EmailToken(user_id=user_id, purpose="confirm", token_hash="live".ljust(64, "0"),
                       created_at=now, expires_at=now + DAY),
            UserSession(id="live".ljust(64, "0"), user_id=user_id, state="signed_in",
                        created_at=now, last_seen_at=now),
        ])
        db.session.commit()
        purge.run(app)
        assert _left(EmailToken) == 1 and _left(UserSession) == 1


# Sessions that live that long, so that one of a month ago is still there.
@pytest.mark.settings(SESSION_IDLE_TIMEOUT=60 * 86400, SESSION_ABSOLUTE_TIMEOUT=60 * 86400)
def test_ips_older_than_30_days_keep_their_prefix(app, make_user, clock):
    user_id = make_user()
    with app.app_context():
        _seed(user_id, 31 * DAY, "month")
        _seed(user_id, 29 * DAY, "recent")
        db.session.commit()
        counts = purge.run(app)
        ips = _by_tag(SecurityEvent)
        assert ips == {"month": "198.51.100.0/24", "recent": "198.51.100.23"}
        sessions = _by_tag(UserSession)
        assert sessions["month"] == "2001:db8:5::/48"
        assert sessions["recent"] == "2001:db8:5:6::1"
        assert counts["ips"] == 2  # the event and the ended session of a month ago
        purge.run(app)  # a second run changes nothing more
        assert _by_tag(SecurityEvent) == ips
