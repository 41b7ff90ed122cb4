"""Two-step verification domain: one-time codes, TOTP, throttling, SMS senders.

No Flask views live here, so the package can be read and tested alone.
"""
