"""Operator commands: ``flask --app wsgi users ...``, ``sessions purge``, ``mail ...``."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from . import accounts, sessions, trusted_browsers
from .extensions import db
from .i18n import lazy_text as _l
from .models import User

users = AppGroup("users", help="Manage accounts.")
sessions_cli = AppGroup("sessions", help="Manage server-side sessions.")


@users.command("create")
@click.argument("email")
@click.password_option(prompt="Password", confirmation_prompt=True)
def create(email: str, password: str) -> None:
    """Create a confirmed account for EMAIL (asks for the password)."""
    try:
        user = accounts.create_user(email, password, confirmed=True)
        db.session.commit()
    except accounts.AccountError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Created account {user.id} for {user.email}.")


@users.command("list")
def list_users() -> None:
    """List accounts: id, email, confirmed, created (UTC)."""
    rows = db.session.scalars(sa.select(User).order_by(User.id))
    click.echo(f"{'id':>6}  {'confirmed':9}  {'created (UTC)':19}  email")
    for user in rows:
        created = user.created_at.strftime("%Y-%m-%d %H:%M:%S")
        confirmed = "yes" if user.email_confirmed else "no"
        click.echo(f"{user.id:>6}  {confirmed:9}  {created:19}  {user.email}")


@users.command("reset-2sv")
@click.argument("email")
@click.confirmation_option(
    prompt="Have you checked this person's identity? Their account will need only a password"
)
def reset_2sv(email: str) -> None:
    """Turn two-step verification off for EMAIL (a lost phone), after an identity check.

    Turns SMS and the authenticator app off, voids the emailed links
    (:func:`hubweb.accounts.credentials_changed`), ends all the account's sessions,
    records a security event and emails the user.
    """
    from . import events, mail
    from .twostep import factors

    try:
        accounts.normalize_email(email)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    user = accounts.find_by_email(email)
    if user is None:
        raise click.ClickException(f"No account for {email}.")
    if not user.two_step_enabled:
        raise click.ClickException(f"Two-step verification is already off for {user.email}.")
    factors.disable(user, factors.base())  # every factor goes with the base one
    accounts.credentials_changed(user)
    sessions.end_user_sessions(user.id)
    with current_app.test_request_context(headers={"User-Agent": "flask users reset-2sv"}):
        events.record(user, "two_step_reset_by_operator")
        mail.queue(user, _l("Two-step verification was turned off by an administrator"),
                   "two_step_reset")
        db.session.commit()
    click.echo(f"Two-step verification is now off for {user.email}.")


@users.command("delete")
@click.argument("email")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete_user(email: str, yes: bool) -> None:
    """Delete the account of EMAIL and everything keyed to it (GDPR art. 17).

    Signs it out everywhere and sends the goodbye email
    (:func:`hubweb.deletion.delete_account`). Asks first, unless ``--yes``.
    """
    from . import deletion

    user = accounts.find_by_email(email)
    if user is None:
        raise click.ClickException(f"No account for {email}.")
    if not yes:
        click.confirm(f"Delete the account {user.email} and all its data? This cannot be "
                      "undone", abort=True)
    with current_app.test_request_context(headers={"User-Agent": "flask users delete"}):
        deletion.delete_account(user)
        db.session.commit()
    click.echo(f"Deleted the account {email} and its data.")


@click.command("purge")
@with_appcontext
def purge_all() -> None:
    """Delete what is older than HUBWEB_RETENTION_DAYS; shorten IPs older than 30 days.

    Run it from cron, e.g. daily (README, "Privacy").
    """
    from . import purge as purging

    counts = purging.run(current_app)
    days = current_app.config["RETENTION_DAYS"]
    click.echo(f"Older than {days} days: deleted {counts['events']} security events, "
               f"{counts['sessions']} sessions, {counts['tokens']} emailed links, "
               f"{counts['codes']} SMS codes, {counts['emails']} sent emails, "
               f"{counts['outbox']} outbox messages; shortened {counts['ips']} IP addresses.")


@sessions_cli.command("purge")
def purge() -> None:
    """Delete expired sessions and trusted browsers (run it from cron, e.g. hourly)."""
    count = sessions.purge_expired(current_app)
    click.echo(f"Deleted {count} expired sessions.")
    browsers = trusted_browsers.purge_expired()
    db.session.commit()
    click.echo(f"Deleted {browsers} expired trusted browsers.")


keys_cli = AppGroup("keys", help="Manage the keys that encrypt TOTP secrets.")


@keys_cli.command("rotate")
def rotate() -> None:
    """Re-encrypt every TOTP key with the newest of HUBWEB_ENCRYPTION_KEYS.

    Put a new key first in the list, keep the old ones after it, run this,
    then the old keys may be removed.
    """
    from . import mailqueue
    from .twostep import appcodes

    count = appcodes.rotate_all()
    click.echo(f"Re-encrypted {count} keys with the newest key.")
    count = mailqueue.rotate_all()
    click.echo(f"Re-encrypted {count} queued emails with the newest key.")


mail_cli = AppGroup("mail", help="Deliver and inspect the mail queue (smtp backend).")


@mail_cli.command("work")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit (for cron).")
def mail_work(once: bool) -> None:
    """Deliver queued email with retries until stopped (SIGTERM: after the email in hand).

    Run one or more beside the web servers, with HUBWEB_MAIL_SENDER=off
    there; on PostgreSQL any number share the queue without sending a row twice.
    """
    import signal
    import threading

    from . import mailsender

    if once:
        click.echo(f"Attempted {mailsender.deliver_due()} queued emails.")
        return
    stop, wake = threading.Event(), threading.Event()

    def _stop(_signum, _frame):  # finish the email in hand, then exit (systemd stop)
        stop.set()
        wake.set()

    signal.signal(signal.SIGTERM, _stop)
    click.echo("Delivering queued email; Ctrl-C or SIGTERM stops.")
    try:
        mailsender.work(current_app._get_current_object(), stop, wake)
    except KeyboardInterrupt:
        pass
    click.echo("Stopped.")


@mail_cli.command("status")
def mail_status() -> None:
    """Show pending, failing and given-up emails and the age of the oldest pending one."""
    from . import mailqueue

    st = mailqueue.status()
    oldest = "-" if st.oldest_age is None else f"{st.oldest_age:.0f} s"
    click.echo(f"pending: {st.pending}")
    click.echo(f"failing: {st.failing} (pending, last attempt failed)")
    click.echo(f"given up: {st.given_up}")
    click.echo(f"sent: {st.sent}")
    click.echo(f"oldest pending: {oldest}")


def init_app(app) -> None:
    """Register the command groups."""
    app.cli.add_command(users)
    app.cli.add_command(sessions_cli)
    app.cli.add_command(keys_cli)
    app.cli.add_command(mail_cli)
    app.cli.add_command(purge_all)
