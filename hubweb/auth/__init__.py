"""Sign-up, sign-in, the second step, sign-out, email confirmation and recovery."""

from . import half_signed_in, recovery, routes, verify  # noqa: F401 - register the views
from .blueprint import bp  # noqa: F401 - registered by hubweb.create_app
