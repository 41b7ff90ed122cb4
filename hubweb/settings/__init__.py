"""User account settings: password, sessions, two-step verification, activity."""

# The views, and one flow module per factor flow (each registers its flows and
# panels in .flow_table).
# The Account section's actions, behind one gate (.account_gate).
from . import (  # noqa: F401
    account_actions,
    account_deletion,
    app_setup,
    data_export,
    disable,
    email_change,
    recovery_codes,
    routes,
    security_keys,
    sms_setup,
    trusted,
    two_step,
)
from .blueprint import bp  # noqa: F401 - registered by hubweb.create_app
