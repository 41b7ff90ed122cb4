"""The web layer: htmx rules, security headers, cookies, CSRF, rate limits, error pages."""

from __future__ import annotations

import re

import pytest
from flask import Response

from hubweb import errors, htmx
from tests.support.accounts import PASSWORD, Auth, csrf_token
from tests.support.pages import HX, is_fragment
from tests.support.pages import decoded as text


def set_cookies(response) -> list[str]:
    return response.headers.getlist("Set-Cookie")


# --------------------------------------------------------------------------- htmx module


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, False),
        ({"HX-Request": "true"}, True),
        ({"HX-Request": "false"}, False),
        ({"HX-Request": "true", "HX-Boosted": "true"}, False),
        ({"HX-Request": "true", "HX-History-Restore-Request": "true"}, False),
    ],
)
def test_is_htmx(app, headers, expected):
    with app.test_request_context(headers=headers):
        assert htmx.is_htmx() is expected


def test_redirect_to_plain_is_303(app):
    with app.test_request_context(method="POST"):
        reply = htmx.redirect_to("/somewhere")
    assert reply.status_code == 303
    assert reply.headers["Location"] == "/somewhere"
    assert "HX-Redirect" not in reply.headers


def test_redirect_to_htmx_is_200_with_hx_redirect(app):
    with app.test_request_context(method="POST", headers=HX):
        reply = htmx.redirect_to("/somewhere")
    assert isinstance(reply, Response)
    assert reply.status_code == 200
    assert reply.headers["HX-Redirect"] == "/somewhere"
    assert "Location" not in reply.headers
    assert reply.get_data() == b""


@pytest.mark.parametrize("path", ["/sign-in", "/register", "/forgot-password", "/nope",
                                  "/static/style.css"])
def test_every_reply_varies_on_hx_request(client, path):
    assert "HX-Request" in client.get(path).headers["Vary"]


def test_signed_out_htmx_request_gets_hx_redirect_not_a_sign_in_page(client):
    reply = client.get("/settings/account", headers=HX)
    assert reply.status_code == 200
    assert reply.headers["HX-Redirect"] == "/sign-in"
    assert reply.get_data(as_text=True) == ""
    assert "Location" not in reply.headers


def test_signed_out_htmx_request_does_not_store_next(client, make_user):
    make_user()
    client.get("/settings/account", headers=HX)
    assert Auth(client).sign_in().headers["Location"] == "/"


def test_signed_out_boosted_request_gets_a_normal_redirect(client):
    reply = client.get("/settings/account", headers={**HX, "HX-Boosted": "true"})
    assert reply.status_code == 303
    assert reply.headers["Location"] == "/sign-in"


def test_invalid_settings_form_answers_422_with_the_fragment(client, make_user):
    make_user()
    Auth(client).sign_in()
    token = csrf_token(client, "/settings/account")
    reply = client.post("/settings/password", headers={**HX, "X-CSRFToken": token},
                        data={"password": "", "new_password": ""})
    assert reply.status_code == 422
    assert is_fragment(reply)
    body = text(reply)
    assert body.lstrip().startswith('<section class="card" id="change-password"')
    assert "Enter your password." in body and "Choose a new password." in body
    assert "HX-Request" in reply.headers["Vary"]


def test_base_layout_configures_htmx(client):
    body = client.get("/sign-in").get_data(as_text=True)
    meta = re.search(r'<meta name="htmx-config" content=\'([^\']*)\'>', body)
    assert meta
    assert '"includeIndicatorCSS": false' in meta.group(1)
    assert re.search(r'<script src="/static/htmx\.min\.js"', body)


def test_body_carries_the_csrf_token_for_htmx(client):
    body = client.get("/sign-in").get_data(as_text=True)
    found = re.search(r'<body[^>]*\shx-headers(?::inherited)?=\'\{"X-CSRFToken": "([^"]+)"\}\'',
                      body)
    assert found
    form_token = re.search(r'name="csrf_token" value="([^"]+)"', body).group(1)
    assert found.group(1) == form_token


def test_htmx_post_with_the_body_token_is_accepted(client, make_user):
    make_user()
    Auth(client).sign_in()
    body = client.get("/settings/account").get_data(as_text=True)
    token = re.search(r'"X-CSRFToken": "([^"]+)"', body).group(1)
    reply = client.post("/settings/sessions/sign-out-others",
                        headers={**HX, "X-CSRFToken": token})
    assert reply.status_code == 200
    assert "HX-Refresh" not in reply.headers


def test_pages_have_no_inline_script_or_style(client, make_user):
    make_user()
    pages = ["/sign-in", "/register", "/forgot-password", "/nope"]
    bodies = [client.get(p).get_data(as_text=True) for p in pages]
    Auth(client).sign_in()
    bodies += [client.get(p).get_data(as_text=True) for p in ["/", "/settings/account"]]
    for body in bodies:
        for tag in re.findall(r"<script\b[^>]*>", body):
            assert "src=" in tag
        assert not re.search(r"<script\b[^>]*>\s*(?!</script>)\S", body)
        assert not re.search(r"\sstyle=", body)
        assert "<style" not in body
        assert not re.search(r"\son[a-z]+=", body)  # no inline event handlers


# --------------------------------------------------------------------------- headers


def csp(reply) -> dict[str, str]:
    policy = reply.headers["Content-Security-Policy"]
    return {d.split()[0]: " ".join(d.split()[1:]) for d in policy.split(";") if d.strip()}


@pytest.mark.parametrize("path", ["/sign-in", "/register", "/forgot-password",
                                  "/reset-password/x", "/confirm-email/x", "/nope"])
def test_security_headers_on_public_pages(client, path):
    reply = client.get(path)
    policy = csp(reply)
    assert "unsafe-inline" not in reply.headers["Content-Security-Policy"]
    assert "unsafe-eval" not in reply.headers["Content-Security-Policy"]
    assert policy["script-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert policy["default-src"] == "'self'"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["Referrer-Policy"] in ("same-origin", "no-referrer",
                                                "strict-origin-when-cross-origin")
    assert reply.headers["Cache-Control"] == "no-store"


def test_security_headers_on_signed_in_pages(client, make_user):
    make_user()
    Auth(client).sign_in()
    for path in ("/", "/settings/account"):
        reply = client.get(path)
        assert reply.status_code == 200
        assert reply.headers["Cache-Control"] == "no-store"
        assert csp(reply)["frame-ancestors"] == "'none'"
        assert reply.headers["X-Content-Type-Options"] == "nosniff"


def test_security_headers_on_htmx_and_redirect_replies(client, make_user):
    make_user()
    reply = Auth(client).sign_in()
    assert reply.status_code == 303
    assert reply.headers["Cache-Control"] == "no-store"
    hx = client.get("/settings/account", headers=HX)
    assert hx.headers["Cache-Control"] == "no-store"
    assert hx.headers["X-Content-Type-Options"] == "nosniff"


def test_reset_page_sends_no_referrer(app, client, make_user):
    make_user()
    token = csrf_token(client, "/forgot-password")
    client.post("/forgot-password", data={"email": "alice@example.com", "csrf_token": token})
    from tests.support.accounts import Outbox
    link = Outbox(app).last_link(to="alice@example.com")
    reply = client.get(link)
    assert reply.status_code == 200
    assert reply.headers["Referrer-Policy"] == "no-referrer"
    assert reply.headers["Cache-Control"] == "no-store"


def test_static_files_are_cacheable_and_nosniff(client):
    reply = client.get("/static/app.js")
    assert reply.status_code == 200
    assert reply.headers.get("Cache-Control") != "no-store"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"


# --------------------------------------------------------------------------- cookies


def test_session_cookie_flags_on_http(client):
    page = client.get("/sign-in")  # the anonymous session holding the CSRF token
    [cookie] = [c for c in set_cookies(page) if c.startswith("hubweb_session=")]
    attrs = [a.strip().lower() for a in cookie.split(";")]
    assert "httponly" in attrs
    assert "samesite=lax" in attrs
    assert "path=/" in attrs
    assert "secure" not in attrs
    assert not any(a.startswith("domain=") for a in attrs)


def test_sign_in_sets_an_httponly_lax_cookie(client, make_user):
    make_user()
    reply = Auth(client).sign_in()
    [cookie] = [c for c in set_cookies(reply) if c.startswith("hubweb_session=")]
    attrs = [a.strip().lower() for a in cookie.split(";")]
    assert "httponly" in attrs and "samesite=lax" in attrs
    assert not any(a.startswith(("expires=", "max-age=")) for a in attrs)  # browser session


@pytest.mark.settings(BASE_URL="https://portal.example.com", ALLOW_CONSOLE_BACKENDS=True)
def test_https_base_url_uses_a_host_prefixed_secure_cookie(app, make_user):
    make_user()
    client = app.test_client()
    base = "https://portal.example.com"
    page = client.get("/sign-in", base_url=base)
    [cookie] = set_cookies(page)
    assert cookie.startswith("__Host-hubweb=")
    attrs = [a.strip().lower() for a in cookie.split(";")]
    assert "secure" in attrs and "httponly" in attrs and "samesite=lax" in attrs
    assert "path=/" in attrs
    assert not any(a.startswith("domain=") for a in attrs)  # __Host- forbids Domain
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    reply = client.post("/sign-in", base_url=base,
                        data={"email": "alice@example.com", "password": PASSWORD,
                              "csrf_token": token})
    assert reply.status_code == 303
    [cookie] = set_cookies(reply)
    assert cookie.startswith("__Host-hubweb=") and "Secure" in cookie
    assert client.get("/settings/account", base_url=base).status_code == 200
    # Sign-out clears it with the same attributes (browsers need Secure to clear __Host-).
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      client.get("/", base_url=base).get_data(as_text=True)).group(1)
    out = client.post("/sign-out", base_url=base, data={"csrf_token": token})
    cleared = [c for c in set_cookies(out) if c.startswith("__Host-hubweb=")]
    assert cleared
    assert all("Secure" in c for c in cleared)


# --------------------------------------------------------------------------- CSRF


@pytest.mark.parametrize("path", ["/sign-in", "/register", "/forgot-password", "/sign-out"])
def test_post_without_csrf_token_gets_a_clear_400_page(app, client, path, make_user):
    make_user()
    reply = client.post(path, data={"email": "alice@example.com", "password": PASSWORD})
    assert reply.status_code == 400
    body = text(reply)
    assert "<html" in body
    assert "This form has expired or did not come from this site." in body
    assert "Bad Request" not in body
    assert reply.headers["Cache-Control"] == "no-store"
    assert "Content-Security-Policy" in reply.headers


def test_post_with_tampered_csrf_token_is_refused(client, make_user):
    make_user()
    token = csrf_token(client)
    reply = client.post("/sign-in", data={"email": "alice@example.com", "password": PASSWORD,
                                          "csrf_token": token[:-2] + "xx"})
    assert reply.status_code == 400
    assert "This form has expired" in text(reply)
    assert client.get("/").status_code == 302  # not signed in


def test_htmx_post_without_csrf_token_asks_for_a_refresh(client, make_user):
    make_user()
    Auth(client).sign_in()
    reply = client.post("/settings/password", headers=HX,
                        data={"password": PASSWORD, "new_password": "granite lantern orbit"})
    assert reply.headers["HX-Refresh"] == "true"
    assert reply.status_code == 400  # a refusal; htmx 4 reloads on HX-Refresh all the same
    # The reloaded page explains what happened.
    assert errors.CSRF_MESSAGE in text(client.get("/settings/account"))


def test_token_from_another_browser_is_refused(app, client, make_user):
    make_user()
    other = app.test_client()
    token = csrf_token(other)
    client.get("/sign-in")
    reply = client.post("/sign-in", data={"email": "alice@example.com", "password": PASSWORD,
                                          "csrf_token": token})
    assert reply.status_code == 400


# --------------------------------------------------------------------------- rate limits


LIMITED = [
    ("/sign-in", "RATELIMIT_SIGN_IN", {"email": "alice@example.com", "password": "wrong pass"}),
    ("/register", "RATELIMIT_REGISTER", {"email": "new@example.com", "password": "short"}),
    ("/forgot-password", "RATELIMIT_FORGOT", {"email": "alice@example.com"}),
]


@pytest.mark.parametrize(("path", "key", "data"), LIMITED, ids=[p for p, _, _ in LIMITED])
def test_rate_limit_by_ip(app, make_user, path, key, data):
    make_user()
    app.config[key] = "3 per minute"
    client = app.test_client()
    token = csrf_token(client, path)
    form = {**data, "csrf_token": token}
    for _ in range(3):
        allowed = client.post(path, data=form)
        assert allowed.status_code != 429
        # No X-RateLimit-* headers (a storage round trip each), no Retry-After.
        assert not [h for h in allowed.headers.keys() if h.lower().startswith(
            ("x-ratelimit", "retry-after"))], allowed.headers
    blocked = client.post(path, data=form)
    assert blocked.status_code == 429
    # RFC 6585 section 4: when to try again; within the one-minute window.
    assert 1 <= int(blocked.headers["Retry-After"]) <= 60
    assert "Too many attempts. Wait a little and try again." in text(blocked)
    assert "<html" in text(blocked)
    # GET is not limited, so the page can still be read.
    assert client.get(path).status_code == 200
    # htmx: the message goes to the alert region, not over the form.
    hx = client.post(path, data=form, headers=HX)
    assert hx.status_code == 429
    assert is_fragment(hx)
    assert "Too many attempts" in text(hx)
    assert hx.headers["HX-Retarget"] == "#alerts"
    # Another address is not affected.
    other = app.test_client()
    other_token = csrf_token(other, path)
    reply = other.post(path, data={**data, "csrf_token": other_token},
                       environ_base={"REMOTE_ADDR": "198.51.100.1"})
    assert reply.status_code != 429


def test_rate_limited_sign_in_does_not_check_the_password(app, client, make_user):
    make_user()
    app.config["RATELIMIT_SIGN_IN"] = "2 per minute"
    for _ in range(2):
        Auth(client).sign_in(password="wrong password x")
    assert Auth(client).sign_in().status_code == 429
    assert client.get("/").status_code == 302


def test_default_sign_in_limit_applies(client, make_user):
    make_user()
    codes = [Auth(client).sign_in(password="wrong password x").status_code for _ in range(11)]
    assert codes[:10] == [422] * 10
    assert codes[10] == 429


# --------------------------------------------------------------------------- error pages


def test_404_page(client):
    reply = client.get("/no/such/page")
    assert reply.status_code == 404
    assert "There is no page at this address." in text(reply)
    assert "<html" in text(reply)


def test_404_for_htmx_is_an_alert_fragment(client):
    reply = client.get("/no/such/page", headers=HX)
    assert reply.status_code == 404
    assert is_fragment(reply)
    assert reply.headers["HX-Retarget"] == "#alerts"
    assert 'role="alert"' in text(reply)


def test_405_page(client):
    reply = client.delete("/sign-in")
    assert reply.status_code == 405
    assert "This page does not accept that kind of request." in text(reply)


def test_nul_byte_is_a_clear_400(client):
    token = csrf_token(client)
    reply = client.post("/sign-in", data={"email": "a\x00@example.com", "password": PASSWORD,
                                          "csrf_token": token})
    assert reply.status_code == 400
    assert errors.NUL_MESSAGE in text(reply)


def test_nul_byte_in_query_is_a_clear_400(client):
    reply = client.get("/sign-in?x=%00")
    assert reply.status_code == 400
    assert errors.NUL_MESSAGE in text(reply)


def test_too_large_body_is_413(client):
    token = csrf_token(client)
    reply = client.post("/sign-in", data={"email": "a" * (2 * 1024 * 1024), "password": "x",
                                          "csrf_token": token})
    assert reply.status_code == 413
    assert "What you sent is too large." in text(reply)


def test_invalid_utf8_is_not_a_server_error(client):
    token = csrf_token(client)
    body = b"email=%FF%FE%41&password=%C3%28&csrf_token=" + token.encode()
    reply = client.post("/sign-in", data=body,
                        content_type="application/x-www-form-urlencoded")
    assert 400 <= reply.status_code < 500


def test_unexpected_error_is_a_clear_500_page(app, client, monkeypatch):
    from hubweb import views

    def boom():
        raise RuntimeError("boom")

    monkeypatch.setitem(app.view_functions, "views.home", boom)
    assert views  # the module under test is loaded
    reply = client.get("/")
    assert reply.status_code == 500
    assert "Something went wrong on our side." in text(reply)
    assert "boom" not in text(reply)
