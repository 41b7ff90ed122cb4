"""An htmx reply to a finished 2SV flow repeats nothing the page keeps (figure 3).

The new "Recent security activity" row goes out of band without indentation
and without its cells' data-label (app.js copies each column's heading,
tests/e2e/test_flows.py); whole pages keep the labels, for narrow screens
without JavaScript. The security keys' "needs JavaScript" sentence is in whole
pages only; the words webauthn.js shows for a browser without WebAuthn are said
once, on the section, outside the part replies replace.
"""

from __future__ import annotations

import re

import pytest

from tests.support.accounts import PASSWORD
from tests.support.authenticator import click
from tests.support.sms import last_sms_code

NEEDS_JS = "Adding and using a security key needs JavaScript."
UNSUPPORTED = 'data-unsupported="This browser cannot use security keys."'


@pytest.fixture
def sms_done(client, make_user, auth, outbox):
    """The htmx reply that turned SMS on, as text."""
    make_user()
    auth.sign_in()
    page = client.get("/settings/account")
    reauth = click(client, page, "Set up")
    phone = click(client, reauth, "Continue", {"password": PASSWORD})
    code = click(client, phone, "Send code", {"phone": "+44 7400 123456"})
    done = click(client, code, "Confirm", {"code": last_sms_code(outbox)})
    assert done.status_code == 200
    return done.get_data(as_text=True)


def test_the_new_activity_row_goes_without_labels_or_indentation(client, sms_done):
    partial = re.search(r"<hx-partial [^>]*>(.*?)</hx-partial>", sms_done, re.S)[1]
    assert re.sub(r'<time datetime="[^"]+">[^<]+</time>', "<time/>", partial) == (
        '\n<tr data-kind="sms_enabled">\n<td>Two-step verification by SMS turned on</td>\n'
        "<td><time/></td>\n<td>127.0.0.1</td>\n<td>Unknown browser</td>\n</tr>")
    # The page's rows keep their column's word on each cell.
    page = client.get("/settings/account").get_data(as_text=True)
    row = re.search(r'<tr data-kind="sms_enabled">(.*?)</tr>', page, re.S)[1]
    assert re.findall(r'data-label="([^"]+)"', row) == ["What", "When", "IP address", "Browser"]


def test_the_security_keys_sentence_for_no_javascript_is_in_whole_pages_only(client, sms_done):
    assert '<p class="meta" data-webauthn-nojs></p>' in sms_done
    assert NEEDS_JS not in sms_done and UNSUPPORTED not in sms_done
    page = client.get("/settings/account").get_data(as_text=True)
    assert f'<p class="meta" data-webauthn-nojs>{NEEDS_JS}</p>' in page
    section = re.search(r'<div id="two-step" [^>]*>', page)[0]
    assert UNSUPPORTED in section
    assert page.count(UNSUPPORTED) == 1
