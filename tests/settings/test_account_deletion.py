"""Deleting the account: the gate, the confirmation page, every row keyed to
the account gone in one go (a walk over every table), signed out everywhere,
the goodbye email, one anonymous log line, the operator's command."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from hubweb.extensions import db
from tests.support.account_actions import page_of, pass_gate
from tests.support.accounts import PASSWORD, Auth, is_signed_in
from tests.support.pages import text
from tests.support.sms import PHONE, post, sign_in_with_sms, token_of

EMAIL = "alice@example.com"
GOODBYE = "Your account was deleted"


def confirm(client, typed=EMAIL, *, htmx=False):
    return post(client, "/settings/account/delete/confirm", {"confirm_email": typed},
                token=token_of(client.get("/settings/account")), htmx=htmx)


def rows_keyed_to(app, user_id: int, needles: list[str], allow=lambda t, r: False):
    """Every row of every table in the database that holds ``user_id`` in a
    column referring to the account, or any of ``needles`` in a text column;
    ``allow(table, row)`` spares a row (the goodbye email)."""
    found = []
    with app.app_context():
        inspector = sa.inspect(db.engine)
        for table in inspector.get_table_names():
            keyed = {c for fk in inspector.get_foreign_keys(table)
                     if fk["referred_table"] == "users" for c in fk["constrained_columns"]}
            keyed |= {c["name"] for c in inspector.get_columns(table) if c["name"] == "user_id"}
            if table == "users":
                keyed.add("id")
            for row in db.session.execute(sa.text(f'SELECT * FROM "{table}"')).mappings():
                if allow(table, row):
                    continue
                if any(row[c] == user_id for c in keyed):
                    found.append((table, dict(row)))
                elif any(isinstance(v, str) and n.lower() in v.lower()
                         for v in row.values() for n in needles):
                    found.append((table, dict(row)))
    return found


def goodbye_row(table, row) -> bool:
    return table == "dev_outbox" and row["subject"] == GOODBYE


def test_the_page_says_what_goes_and_asks_for_the_address(client, signed_in):
    page = text(pass_gate(client, "delete"))
    assert "cannot be undone" in page and "security activity" in page
    assert "Type your email address to confirm" in page
    assert 'name="confirm_email"' in pass_gate(client, "delete").get_data(as_text=True)


def test_nothing_is_deleted_without_the_password(client, signed_in):
    reply = confirm(client)
    assert reply.status_code == 303 and reply.headers["Location"] == page_of("delete")
    assert is_signed_in(client)


def test_another_address_typed_is_refused(client, signed_in):
    pass_gate(client, "delete")
    reply = confirm(client, "bob@example.com")
    assert reply.status_code == 422
    assert "That is not your account's email address." in text(reply)
    empty = confirm(client, "", htmx=True)
    assert empty.status_code == 422 and "Type your email address to confirm." in text(empty)
    assert is_signed_in(client)


def test_deletion_signs_out_everywhere_and_says_goodbye(app, client, signed_in, outbox, caplog):
    other = app.test_client()
    Auth(other).sign_in()
    assert is_signed_in(other)
    pass_gate(client, "delete")
    with caplog.at_level(logging.INFO, logger="hubweb.deletion"):
        reply = confirm(client, "  ALICE@example.com ")
    assert reply.status_code == 303 and reply.headers["Location"] == "/sign-in"
    assert "Your account has been deleted." in text(client.get("/sign-in"))
    assert not is_signed_in(client) and not is_signed_in(other)
    mails = outbox.messages("email", EMAIL)
    assert [m.subject for m in mails] == [GOODBYE]
    assert "was deleted" in mails[0].body
    lines = [r.getMessage() for r in caplog.records if r.name == "hubweb.deletion"]
    assert lines == ["An account was deleted."]
    assert Auth(client).sign_in().status_code == 422


@pytest.mark.parametrize("backend", ["console", "smtp"])
def test_no_row_keeps_the_id_the_address_or_the_number(app, backend, make_user, outbox,
                                                       clock):
    app.config["MAIL_BACKEND"] = backend
    from tests.support.authenticator import set_up
    user_id = make_user()
    set_up(app, user_id, "sms")
    client = app.test_client()
    sign_in_with_sms(client, outbox)
    # A pending change of address and a reset link: rows that hold both.
    token = token_of(client.get("/forgot-password"))
    post(client, "/forgot-password", {"email": EMAIL}, token=token)
    clock.shift(600)
    pass_gate(client, "email", outbox)
    post(client, "/settings/account/email/change", {"new_email": "new@example.org"},
         token=token_of(client.get("/settings/account")))
    keeper = make_user("keeper@example.com")
    before = rows_keyed_to(app, user_id, [EMAIL, PHONE, "new@example.org"])
    tables = {table for table, _ in before}
    assert {"users", "sessions", "authenticators", "sms_codes", "email_tokens",
            "security_events"} <= tables  # the walk finds them before
    assert ("mail_queue" if backend == "smtp" else "dev_outbox") in tables
    from hubweb import deletion
    from hubweb.models import User
    with app.test_request_context():
        deletion.delete_account(db.session.get(User, user_id))
        db.session.commit()
    allow = goodbye_row if backend == "console" else (
        lambda table, row: table == "mail_queue" and row["kind"] == "account_deleted")
    assert rows_keyed_to(app, user_id, [EMAIL, PHONE, "new@example.org"], allow) == []
    assert rows_keyed_to(app, keeper, ["keeper@example.com"])  # others are kept


def test_a_new_account_on_the_address_inherits_nothing(app, client, make_user, outbox,
                                                       clock):
    from tests.support.authenticator import set_up
    old = make_user()
    set_up(app, old, "sms")
    sign_in_with_sms(client, outbox)
    clock.shift(600)  # past the sign-in code's send cooldown
    pass_gate(client, "delete", outbox)
    assert confirm(client).headers["Location"] == "/sign-in"
    make_user()  # the same address again
    fresh = app.test_client()
    assert Auth(fresh).sign_in().headers["Location"] == "/"  # no second step asked
    pass_gate(fresh, "export")
    data = fresh.get("/settings/account/export/data.json").get_json()
    assert data["two_step"] == {"enabled": False, "methods": []}
    assert [e["kind"] for e in data["security_events"]] == ["sign_in"]
    assert len(data["sessions"]) == 1


def test_operator_deletes_with_confirmation(app, runner, make_user, outbox):
    user_id = make_user()
    refused = runner.invoke(args=["users", "delete", EMAIL], input="n\n")
    assert refused.exit_code == 1 and "Aborted" in refused.output
    assert rows_keyed_to(app, user_id, [])
    done = runner.invoke(args=["users", "delete", EMAIL], input="y\n")
    assert done.exit_code == 0, done.output
    assert rows_keyed_to(app, user_id, [EMAIL], goodbye_row) == []
    assert [m.subject for m in outbox.messages("email", EMAIL)] == [GOODBYE]
    again = runner.invoke(args=["users", "delete", EMAIL, "--yes"])
    assert again.exit_code == 1 and "No account" in again.output


def test_operator_yes_skips_the_question(app, runner, make_user):
    user_id = make_user()
    done = runner.invoke(args=["users", "delete", EMAIL, "--yes"])
    assert done.exit_code == 0 and "Deleted the account" in done.output
    assert rows_keyed_to(app, user_id, [EMAIL], goodbye_row) == []


def test_htmx_confirmation_redirects_to_sign_in(client, signed_in):
    page = client.get(page_of("delete"))
    post(client, page_of("delete") + "/password", {"password": PASSWORD}, token=token_of(page))
    reply = confirm(client, htmx=True)
    assert reply.headers.get("HX-Redirect") == "/sign-in"
    assert not is_signed_in(client)
