"""User account settings: password, sessions, two-step verification, activity."""

# The views, and one flow module per factor flow (each registers its flows and
# panels in .flow_table).
from . import app_setup, disable, recovery_codes, routes, sms_setup, two_step  # noqa: F401
from .blueprint import bp  # noqa: F401 - registered by hubweb.create_app
