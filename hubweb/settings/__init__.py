"""User account settings: password, sessions, two-step verification, activity."""

from . import routes, sms_setup, trusted, two_step  # noqa: F401 - register the views
from .blueprint import bp  # noqa: F401 - registered by hubweb.create_app
