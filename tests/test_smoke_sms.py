"""Temporary smoke test of the SMS flow (replaced by tests/test_two_step_sms.py)."""
import re
from datetime import timedelta

import time_machine
from conftest import csrf_token


def sms_code(outbox):
    return re.search(r"#(\d{6})$", outbox.messages("sms")[0].body).group(1)


def test_sms_flow(app, client, auth, make_user, outbox):
    make_user()
    auth.sign_in()
    tok = csrf_token(client, "/settings/account")
    r = client.post("/settings/two-step/sms/start", data={"csrf_token": tok},
                    headers={"HX-Request": "true"})
    assert r.status_code == 200, r.data
    assert "Enter your current password" in r.get_data(as_text=True)
    r = client.post("/settings/two-step/sms/password",
                    data={"csrf_token": tok, "password": "correct horse battery staple"},
                    headers={"HX-Request": "true"})
    assert "Send code" in r.get_data(as_text=True), r.data
    r = client.post("/settings/two-step/sms/phone",
                    data={"csrf_token": tok, "phone": "+44 7400 123456"},
                    headers={"HX-Request": "true"})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert "••56" in r.get_data(as_text=True)
    code = sms_code(outbox)
    r = client.post("/settings/two-step/sms/code", data={"csrf_token": tok, "code": code},
                    headers={"HX-Request": "true"})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert "Two-step verification by SMS is on" in r.get_data(as_text=True)
    auth.sign_out()
    traveller = time_machine.travel(timedelta(seconds=61), tick=True)
    traveller.start()
    r = auth.sign_in()
    assert r.headers["Location"] == "/sign-in/verify"
    r = client.get("/settings/account")
    assert r.headers["Location"] == "/sign-in/verify"
    r = client.get("/sign-in/verify")
    assert r.status_code == 200
    code = sms_code(outbox)
    tok = csrf_token(client, "/sign-in/verify")
    r = client.post("/sign-in/verify", data={"csrf_token": tok, "code": code})
    assert r.status_code == 303, r.get_data(as_text=True)
    assert client.get("/settings/account").status_code == 200
    traveller.stop()
