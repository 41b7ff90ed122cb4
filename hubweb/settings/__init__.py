"""User account settings: password, sessions, two-step verification, activity."""

# The views, and one flow module per factor flow (each registers its flows and
# panels in .flow_table).
from . import (  # noqa: F401
    app_setup,
    disable,
    recovery_codes,
    routes,
    security_keys,
    sms_setup,
    trusted,
    two_step,
)
from .blueprint import bp  # noqa: F401 - registered by hubweb.create_app
