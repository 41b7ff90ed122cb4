"""Sign-up, sign-in, the second step, sign-out, email confirmation and recovery."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from . import recovery, routes, verify  # noqa: E402,F401
