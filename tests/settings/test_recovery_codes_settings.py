"""Recovery codes in the Two-step verification section: "Get recovery codes"
behind the current password, the codes shown once (no-store), the one
download, "Done", the number left afterwards, a new set voiding the old, the
warnings, and deletion when two-step verification goes off."""

from __future__ import annotations

import re

import pytest

from tests.support.accounts import PASSWORD, csrf_token
from tests.support.pages import HX, decoded, is_fragment, text
from tests.support.recovery import CODE_SHAPE, codes_shown, get_codes, issue, left_shown, rows
from tests.support.sms import emails, event_kinds, set_sms

NEW_SUBJECT = "New recovery codes were made for your account"


@pytest.fixture
def with_sms_signed_in(app, signed_in) -> int:
    """A signed-in account with SMS 2SV on; its id."""
    set_sms(app, signed_in)
    return signed_in


def settings(client):
    return client.get("/settings/account")


def test_offered_only_while_two_step_verification_is_on(app, client, signed_in):
    assert "Get recovery codes" not in text(settings(client))
    assert client.post("/settings/two-step/recovery/start",
                       data={"csrf_token": csrf_token(client, "/settings/account")},
                       headers=HX).status_code == 409
    set_sms(app, signed_in)
    page = text(settings(client))
    assert "Get recovery codes" in page and "Get new recovery codes" not in page
    assert left_shown(decoded(settings(client))) is None


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_get_codes_behind_the_password_shows_ten_once(app, client, with_sms_signed_in, outbox,
                                                      htmx):
    token = csrf_token(client, "/settings/account")
    prompt = client.post("/settings/two-step/recovery/start", data={"csrf_token": token},
                         headers=HX if htmx else {})
    if not htmx:
        prompt = client.get(prompt.headers["Location"])
    assert "Enter your current password" in text(prompt)
    assert rows(app, with_sms_signed_in) == []  # nothing made before the password
    wrong = client.post("/settings/two-step/recovery/password",
                        data={"csrf_token": token, "password": "not it at all"}, headers=HX)
    assert wrong.status_code == 422 and rows(app, with_sms_signed_in) == []
    reply = get_codes(client, htmx=htmx)
    assert reply.status_code == 200
    assert is_fragment(reply) == htmx
    assert reply.headers["Cache-Control"] == "no-store"
    codes = codes_shown(decoded(reply))
    assert len(codes) == 10 == len(set(codes))
    assert all(CODE_SHAPE.match(code) for code in codes)
    body = text(reply)
    assert "Download" in body and "Print" in body and "alice@example.com" in body
    assert len(rows(app, with_sms_signed_in)) == 10
    assert event_kinds(app, with_sms_signed_in)[-1] == "recovery_codes_created"
    [mail] = emails(outbox, NEW_SUBJECT)
    assert "10" in mail.body and all(code not in mail.body + mail.html for code in codes)
    if htmx:  # the new activity row comes out of band
        assert "Recovery codes made" in body


def test_a_reload_shows_the_same_codes_until_done_then_only_the_number(
        app, client, with_sms_signed_in):
    codes = codes_shown(decoded(get_codes(client)))
    assert codes_shown(decoded(settings(client))) == codes  # a reload loses nothing
    token = csrf_token(client, "/settings/account")
    done = client.post("/settings/two-step/recovery/code", data={"csrf_token": token})
    assert done.status_code == 303
    page = decoded(client.get(done.headers["Location"]))
    assert codes_shown(page) == [] and all(code not in page for code in codes)
    assert "Your recovery codes are saved." in page
    assert left_shown(page) == 10
    assert "Get new recovery codes" in page and "made on" in page
    # Done sent again (Back, resubmit): the same truthful outcome, nothing shown.
    again = client.post("/settings/two-step/recovery/code", data={"csrf_token": token},
                        headers=HX)
    assert again.status_code == 200 and codes_shown(decoded(again)) == []


def test_codes_are_never_in_urls_logs_or_emails(app, client, with_sms_signed_in, outbox,
                                                caplog):
    reply = get_codes(client, htmx=False)
    codes = codes_shown(decoded(reply))
    body = decoded(reply)
    for code in codes:
        assert not re.search(rf'(href|action|hx-post|hx-get)="[^"]*{code}', body)
        assert code not in caplog.text and code.replace("-", "") not in caplog.text
        for mail in outbox.messages("email"):
            assert code.replace("-", "") not in mail.body.replace("-", "")
    assert all(code not in str(rows(app, with_sms_signed_in)) for code in codes)


def test_the_download_is_the_set_just_made_once(app, client, with_sms_signed_in):
    codes = codes_shown(decoded(get_codes(client)))
    reply = client.get("/settings/recovery-codes.txt")
    assert reply.status_code == 200
    assert reply.mimetype == "text/plain"
    assert reply.headers["Cache-Control"] == "no-store"
    assert reply.headers["Content-Disposition"] == 'attachment; filename="recovery-codes.txt"'
    lines = reply.get_data(as_text=True).split("\r\n")
    assert lines[0] == "Business Hub recovery codes"
    assert lines[1] == "Account: alice@example.com"
    assert re.fullmatch(r"Made on: \w+ \d{1,2}, \d{4}", lines[2]), lines[2]
    assert [line for line in lines if CODE_SHAPE.match(line)] == codes
    again = client.get("/settings/recovery-codes.txt")
    assert again.status_code == 410 and codes[0] not in again.get_data(as_text=True)
    # The panel no longer offers it.
    assert "recovery-codes.txt" not in decoded(settings(client))


def test_the_download_refuses_other_sites_and_a_finished_flow(app, client, with_sms_signed_in):
    get_codes(client)
    assert client.get("/settings/recovery-codes.txt",
                      headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    client.post("/settings/two-step/recovery/code",
                data={"csrf_token": csrf_token(client, "/settings/account")})
    assert client.get("/settings/recovery-codes.txt").status_code == 410


def test_the_download_needs_a_signed_in_session(client):
    reply = client.get("/settings/recovery-codes.txt")
    assert reply.status_code in (302, 303) and "/sign-in" in reply.headers["Location"]


def test_the_codes_expire_with_the_re_authentication(app, client, with_sms_signed_in, clock):
    codes = codes_shown(decoded(get_codes(client)))
    clock.shift(601)
    page = decoded(settings(client))
    assert codes_shown(page) == [] and codes[0] not in page
    assert client.get("/settings/recovery-codes.txt").status_code == 410


def test_new_codes_void_the_old_at_once(app, client, with_sms_signed_in, outbox):
    old = issue(app, with_sms_signed_in)
    page = text(settings(client))
    assert "Get new recovery codes" in page
    prompt = client.post("/settings/two-step/recovery/start",
                         data={"csrf_token": csrf_token(client, "/settings/account")}, headers=HX)
    assert "<h3>Get new recovery codes</h3>" in decoded(prompt)
    assert "your current recovery codes stop working at once" in text(prompt)
    new = codes_shown(decoded(get_codes(client)))
    assert len(new) == 10 and not set(old) & set(new)
    stored = rows(app, with_sms_signed_in)
    assert len(stored) == 10
    assert event_kinds(app, with_sms_signed_in)[-1] == "recovery_codes_replaced"
    [mail, _first] = emails(outbox, NEW_SUBJECT)
    assert "old recovery codes no longer work" in " ".join(mail.body.split())


def test_a_set_replaced_in_another_tab_is_not_shown(app, client, with_sms_signed_in):
    codes = codes_shown(decoded(get_codes(client)))
    issue(app, with_sms_signed_in)  # another session made a newer set
    page = decoded(settings(client))
    assert codes_shown(page) == [] and codes[0] not in page
    assert client.get("/settings/recovery-codes.txt").status_code == 410


def test_password_continue_twice_shows_one_set(app, client, with_sms_signed_in, outbox):
    first = codes_shown(decoded(get_codes(client)))
    token = csrf_token(client, "/settings/account")
    again = client.post("/settings/two-step/recovery/password",
                        data={"csrf_token": token, "password": PASSWORD}, headers=HX)
    assert codes_shown(decoded(again)) == first
    assert len(emails(outbox, NEW_SUBJECT)) == 1


def test_warning_on_the_settings_page_at_three_and_at_none(app, client, with_sms_signed_in):
    from tests.twostep.test_recovery_codes import check

    codes = issue(app, with_sms_signed_in)
    for code in codes[:6]:
        check(app, with_sms_signed_in, code)
    page = text(settings(client))
    assert left_shown(decoded(settings(client))) == 4 and "Only" not in page
    check(app, with_sms_signed_in, codes[6])
    page = text(settings(client))
    assert left_shown(decoded(settings(client))) == 3
    assert "Only 3 recovery codes are left. Get new recovery codes before you run out." in page
    for code in codes[7:]:
        check(app, with_sms_signed_in, code)
    page = text(settings(client))
    assert left_shown(decoded(settings(client))) == 0
    assert "You have used all your recovery codes. Get new recovery codes" in page


def test_disabling_two_step_verification_deletes_them(app, client, with_sms_signed_in):
    issue(app, with_sms_signed_in)
    token = csrf_token(client, "/settings/account")
    client.post("/settings/two-step/disable/start", data={"csrf_token": token}, headers=HX)
    reply = client.post("/settings/two-step/disable/password",
                        data={"csrf_token": token, "password": PASSWORD}, headers=HX)
    assert reply.status_code == 200
    assert rows(app, with_sms_signed_in) == []
    assert "recovery-codes-left" not in decoded(settings(client))


def test_operator_reset_deletes_them(app, runner, with_sms):
    issue(app, with_sms)
    result = runner.invoke(args=["users", "reset-2sv", "alice@example.com", "--yes"])
    assert result.exit_code == 0, result.output
    assert rows(app, with_sms) == []
