"""Temporary smoke test of the authenticator-app flow (replaced by test_two_step_app.py)."""
import re
import subprocess
from datetime import timedelta

import time_machine
from conftest import PASSWORD, csrf_token
from test_smoke_sms import sms_code

HX = {"HX-Request": "true"}


def oath(secret, offset=0):
    return subprocess.run(["oathtool", "--totp", "-b", secret, "-N", f"now + {offset} seconds"],
                          capture_output=True, text=True, check=True).stdout.strip()


def test_app_flow(app, client, auth, make_user, outbox):
    make_user()
    auth.sign_in()
    tok = csrf_token(client, "/settings/account")
    page = client.get("/settings/account").get_data(as_text=True)
    assert "Set up two-step verification by SMS first" in page
    for path, data in [("/settings/two-step/sms/start", {}),
                       ("/settings/two-step/sms/password", {"password": PASSWORD}),
                       ("/settings/two-step/sms/phone", {"phone": "+44 7400 123456"})]:
        client.post(path, data={"csrf_token": tok, **data}, headers=HX)
    client.post("/settings/two-step/sms/code", data={"csrf_token": tok, "code": sms_code(outbox)})
    r = client.post("/settings/two-step/app/start", data={"csrf_token": tok}, headers=HX)
    assert r.status_code == 200
    r = client.post("/settings/two-step/app/password",
                    data={"csrf_token": tok, "password": PASSWORD}, headers=HX)
    html = r.get_data(as_text=True)
    secret = re.search(r'data-secret="([A-Z2-7]+)"', html).group(1)
    assert len(secret) == 32
    assert 'id="totp-qr"' in html and "otpauth://totp/" in html
    again = client.get("/settings/account").get_data(as_text=True)
    assert secret in again
    r = client.post("/settings/two-step/app/code", data={"csrf_token": tok, "code": "000000"},
                    headers=HX)
    assert r.status_code == 422
    assert secret in r.get_data(as_text=True)
    code = oath(secret)
    r = client.post("/settings/two-step/app/code", data={"csrf_token": tok, "code": code},
                    headers=HX)
    assert "Your authenticator app is on" in r.get_data(as_text=True), r.get_data(as_text=True)
    auth.sign_out()
    auth.sign_in()
    page = client.get("/sign-in/verify").get_data(as_text=True)
    assert "Use SMS" in page and "authenticator app shows" in page
    tok = csrf_token(client, "/sign-in/verify")
    r = client.post("/sign-in/verify", data={"csrf_token": tok, "code": code})
    assert r.status_code == 422
    assert "already used" in r.get_data(as_text=True)
    r = client.post("/sign-in/verify", data={"csrf_token": tok, "code": oath(secret, 300)})
    assert "clock seems to be about 5 minutes ahead" in r.get_data(as_text=True)
    with time_machine.travel(timedelta(seconds=31), tick=True):
        r = client.post("/sign-in/verify", data={"csrf_token": tok, "code": oath(secret, 31)})
        assert r.status_code == 303, r.get_data(as_text=True)
