"""Operator commands: ``flask --app wsgi users ...`` and ``sessions purge``."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from . import accounts, sessions
from .extensions import db
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


@sessions_cli.command("purge")
def purge() -> None:
    """Delete expired sessions (run it from cron, e.g. hourly)."""
    count = sessions.purge_expired(current_app)
    click.echo(f"Deleted {count} expired sessions.")


def init_app(app) -> None:
    """Register the command groups."""
    app.cli.add_command(users)
    app.cli.add_command(sessions_cli)
