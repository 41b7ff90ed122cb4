"""The account settings: the page, its flows (SMS, app, disable), credential changes."""
