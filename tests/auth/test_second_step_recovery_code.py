"""The second step by recovery code, at sign-in and in a password reset:
"Use a recovery code" (``method=recovery``, field ``code``, not numeric), a
code works once, wrong codes meet the account throttle, and after a sign-in
with one the person lands on the settings with what to do now."""

from __future__ import annotations

from tests.support.accounts import PASSWORD, csrf_token, is_signed_in
from tests.support.pages import decoded, text
from tests.support.recovery import issue, left_shown, rows
from tests.support.sms import (
    EMAIL,
    emails,
    event_kinds,
    post,
    same_step,
    start_second_step,
    token_of,
)

USED_SUBJECT = "A recovery code was used for your account"
NEW_PASSWORD = "a completely new passphrase"


def use_recovery(client, token, path="/sign-in/verify", *, htmx=False):
    """ "Use a recovery code" at the second step: the page a browser then shows."""
    return same_step(client, post(client, path + "/method", {"method": "recovery"},
                                  token=token, htmx=htmx), path)


def enter(client, token, code, path="/sign-in/verify", *, htmx=False):
    return same_step(client, post(client, path, {"code": code, "method": "recovery"},
                                  token=token, htmx=htmx), path)


def test_offered_only_with_codes_left(app, client, with_sms):
    start_second_step(client)
    assert "Use a recovery code" not in text(client.get("/sign-in/verify"))
    issue(app, with_sms)  # a change of the set-up: the half-signed-in session ends
    other = app.test_client()
    start_second_step(other)
    page = text(other.get("/sign-in/verify"))
    assert "Use a recovery code" in page
    assert 'Choose "Use a recovery code" if you saved your recovery codes.' in page


def test_the_field_takes_letters(app, client, with_sms):
    issue(app, with_sms)
    token = start_second_step(client)
    page = decoded(use_recovery(client, token))
    assert 'name="code"' in page and 'name="method" value="recovery"' in page
    field = page[page.index('name="code"') - 300:page.index('name="code"') + 300]
    assert 'inputmode="numeric"' not in field and 'type="text"' in field
    assert "Recovery code" in page and "No recovery code at hand?" in page


def test_sign_in_with_a_recovery_code_lands_on_the_settings(app, client, with_sms, outbox):
    codes = issue(app, with_sms)
    token = start_second_step(client)
    use_recovery(client, token)
    r = post(client, "/sign-in/verify", {"code": codes[0].upper().replace("-", " "),
                                         "method": "recovery"}, token=token)
    assert r.status_code == 303 and r.headers["Location"] == "/settings/account"
    page = client.get("/settings/account")
    assert page.status_code == 200 and is_signed_in(client)
    body = text(page)
    assert "You signed in with a recovery code. If you lost your phone, change the phone " \
           "number or set up your authenticator app again, and get new recovery codes." in body
    assert left_shown(decoded(page)) == 9
    assert event_kinds(app, with_sms)[-2:] == ["recovery_code_used", "sign_in"]
    [mail] = emails(outbox, USED_SUBJECT)
    assert "9 recovery codes are left." in mail.body
    assert codes[0] not in mail.body and codes[0].replace("-", "") not in mail.body


def test_sign_in_with_htmx_redirects_to_the_settings(app, client, with_sms):
    codes = issue(app, with_sms)
    token = start_second_step(client)
    use_recovery(client, token, htmx=True)
    r = post(client, "/sign-in/verify", {"code": codes[1], "method": "recovery"},
             token=token, htmx=True)
    assert r.headers["HX-Redirect"] == "/settings/account"


def test_a_used_code_does_not_sign_in_again(app, client, with_sms):
    codes = issue(app, with_sms)
    token = start_second_step(client)
    use_recovery(client, token)
    assert post(client, "/sign-in/verify", {"code": codes[0], "method": "recovery"},
                token=token).headers["Location"] == "/settings/account"
    post(client, "/sign-out", token=csrf_token(client, "/"))
    other = app.test_client()
    token = start_second_step(other)
    use_recovery(other, token)
    r = enter(other, token, codes[0])
    assert r.status_code == 422 and "That recovery code was used already." in text(r)
    assert not is_signed_in(other)


def test_wrong_codes_meet_the_account_throttle(app, client, with_sms, clock):
    codes = issue(app, with_sms)
    token = start_second_step(client)
    use_recovery(client, token)
    for _ in range(4):
        r = enter(client, token, "zzzzz-zzzzz")
        assert r.status_code == 422 and "That code is not right." in text(r)
    r = enter(client, token, "zzzzz-zzzzz")
    assert r.status_code == 429 and "Wait 1 minute before trying again." in text(r)
    r = enter(client, token, codes[0])  # right, but the account must wait
    assert r.status_code == 429 and not is_signed_in(client)
    assert rows(app, with_sms)[0]["used"] is False
    clock.shift(61)
    assert post(client, "/sign-in/verify", {"code": codes[0], "method": "recovery"},
                token=token).headers["Location"] == "/settings/account"


def test_malformed_code_is_a_clear_422(app, client, with_sms):
    issue(app, with_sms)
    token = start_second_step(client)
    use_recovery(client, token)
    r = enter(client, token, "123456")
    assert r.status_code == 422
    assert "Enter a recovery code: 10 letters and digits, like abcde-12345." in text(r)
    r = enter(client, token, "")
    assert r.status_code == 422 and "Enter a recovery code" in text(r)


def test_the_last_code_signs_in_and_the_method_goes(app, client, with_sms):
    codes = issue(app, with_sms)
    from tests.twostep.test_recovery_codes import check
    for code in codes[:9]:
        check(app, with_sms, code)
    token = start_second_step(client)
    use_recovery(client, token)
    post(client, "/sign-in/verify", {"code": codes[9], "method": "recovery"}, token=token)
    page = text(client.get("/settings/account"))
    assert "You have used all your recovery codes. Get new recovery codes" in page
    post(client, "/sign-out", token=csrf_token(client, "/"))
    token = start_second_step(client)
    assert "Use a recovery code" not in text(client.get("/sign-in/verify"))
    r = use_recovery(client, token)
    assert r.status_code == 422 and "Choose SMS." in text(r)


def test_the_warning_after_a_sign_in_by_sms(app, client, with_sms, outbox):
    codes = issue(app, with_sms)
    from tests.twostep.test_recovery_codes import check
    for code in codes[:7]:
        check(app, with_sms, code)
    from tests.support.sms import last_sms_code
    token = start_second_step(client)
    r = post(client, "/sign-in/verify", {"code": last_sms_code(outbox)}, token=token)
    assert r.status_code == 303 and r.headers["Location"] == "/"
    home = text(client.get("/"))
    assert "Only 3 recovery codes are left. Get new recovery codes before you run out." in home


def test_password_reset_with_a_recovery_code(app, client, with_sms, outbox):
    codes = issue(app, with_sms)
    r = post(client, "/forgot-password", {"email": EMAIL},
             token=csrf_token(client, "/forgot-password"))
    assert r.status_code == 200
    link = outbox.last_link(EMAIL)
    page = client.get(link)
    token = token_of(page)
    assert "Use a recovery code" in text(page)
    use_recovery(client, token, link)
    r = post(client, link, {"code": codes[2], "method": "recovery"}, token=token, htmx=True)
    assert r.status_code == 200 and r.headers["HX-Redirect"] == link
    page = client.get(link)
    assert 'name="new_password"' in text(page)
    r = post(client, link, {"new_password": NEW_PASSWORD}, token=token_of(page))
    assert r.status_code == 303 and r.headers["Location"] == "/sign-in"
    kinds = event_kinds(app, with_sms)
    assert "recovery_code_used" in kinds and kinds[-1] == "reset_done"
    assert len(emails(outbox, USED_SUBJECT)) == 1
    assert [row["used"] for row in rows(app, with_sms)].count(True) == 1
    # The password alone still does not sign in.
    r = post(client, "/sign-in", {"email": EMAIL, "password": NEW_PASSWORD},
             token=csrf_token(client, "/sign-in"))
    assert r.headers["Location"] == "/sign-in/verify"
    assert PASSWORD  # the old one is gone: shown by test_sign_up_sign_in_recovery


def test_codes_are_never_in_urls_or_logs(app, client, with_sms, caplog):
    codes = issue(app, with_sms)
    token = start_second_step(client)
    use_recovery(client, token)
    r = post(client, "/sign-in/verify", {"code": codes[0], "method": "recovery"}, token=token,
             htmx=False)
    assert codes[0] not in r.headers["Location"]
    assert codes[0].replace("-", "") not in r.headers["Location"]
    enter(client, token, codes[0])  # used: refused, and still not logged
    for code in codes:
        assert code not in caplog.text and code.replace("-", "") not in caplog.text
