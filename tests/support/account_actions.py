"""The Account section's actions through their real pages: the gate
(password, then the second step while it is on) and each action's form."""

from __future__ import annotations

from tests.support.accounts import PASSWORD
from tests.support.sms import PHONE, last_sms_code, post, token_of


def page_of(action: str) -> str:
    return f"/settings/account/{action}"


def pass_password(client, action: str, password: str = PASSWORD):
    """Open the action's page and give the password; returns the reply."""
    page = client.get(page_of(action))
    assert page.status_code == 200, page.status_code
    return post(client, f"{page_of(action)}/password", {"password": password},
                token=token_of(page))


def pass_gate(client, action: str, outbox=None, phone: str = PHONE, *,
              code: str | None = None, method: str = "sms"):
    """The password, then (when asked for) the second step: ``code`` by
    ``method``, by default the newest SMS code to ``phone``; returns the
    action's page as the browser then shows it."""
    reply = pass_password(client, action)
    assert reply.status_code == 303, reply.status_code
    if reply.headers["Location"].endswith("/verify"):
        verify = client.get(reply.headers["Location"])
        assert verify.status_code == 200
        reply = post(client, reply.headers["Location"],
                     {"code": code or last_sms_code(outbox, phone), "method": method},
                     token=token_of(verify))
        assert reply.status_code == 303, reply.status_code
    assert reply.headers["Location"] == page_of(action)
    page = client.get(page_of(action))
    assert page.status_code == 200
    return page
