"""Sign-up, sign-in, the second step, sign-out, email confirmation and recovery."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from . import half_signed_in, recovery, routes, verify  # noqa: E402,F401
