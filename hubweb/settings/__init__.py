"""User account settings: password, sessions, two-step verification, activity."""

from flask import Blueprint

bp = Blueprint("settings", __name__, url_prefix="/settings")

from . import routes, sms_setup, two_step  # noqa: E402,F401
