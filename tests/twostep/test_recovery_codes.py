"""Recovery codes, the domain: format, storage as keyed hashes, single use
(also under a race), the throttle, a new set voiding the old, deletion with
two-step verification, and the warnings."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from hubweb.extensions import db
from hubweb.models import User
from hubweb.twostep import factors, recoverycodes, throttle
from hubweb.twostep.codes import FAILURES_BEFORE_DELAY
from hubweb.twostep.result import Problem
from tests.support.recovery import CODE_SHAPE, issue, rows
from tests.support.sms import event_kinds


def check(app, user_id, text):
    """Check ``text`` as a recovery code and commit, as the second step does."""
    with app.test_request_context():
        result = recoverycodes.check_code(db.session.get(User, user_id), text)
        db.session.commit()
        return result


def test_a_set_is_ten_distinct_codes_of_fifty_bits():
    codes = recoverycodes.generate_set()
    assert len(codes) == 10 == len(set(codes))
    assert all(len(code) == 10 and set(code) <= set(recoverycodes.ALPHABET) for code in codes)
    assert len(recoverycodes.ALPHABET) == 32  # 5 bits a character, 50 a code
    assert not set("ilou") & set(recoverycodes.ALPHABET)


def test_codes_are_random_across_many_sets():
    seen = [code for _ in range(200) for code in recoverycodes.generate_set()]
    assert len(set(seen)) == len(seen)
    # every character of the alphabet turns up, none far more often than the others
    counts = Counter("".join(seen))
    assert set(counts) == set(recoverycodes.ALPHABET)
    assert max(counts.values()) < 2 * min(counts.values())


def test_codes_are_shown_in_two_groups_of_five():
    assert recoverycodes.display("abcde12345") == "abcde-12345"
    assert all(CODE_SHAPE.match(recoverycodes.display(c)) for c in recoverycodes.generate_set())


@pytest.mark.parametrize("typed", ["abcde-12345", "ABCDE12345", " abcde 12345 ", "ab-cd-e1-23-45",
                                   "abcde\u201312345", "abcde\t12345"])
def test_case_spaces_and_dashes_do_not_matter(typed):
    assert recoverycodes.normalize(typed) == "abcde12345"


def test_crockford_look_alikes_are_read_as_digits():
    assert recoverycodes.normalize("IL0Oa-bcdef") == "1100abcdef"


@pytest.mark.parametrize("typed", [None, "", "abcde-1234", "abcde-123456", "abcde-1234u",
                                   "abcde-1234!", "123456"])
def test_what_cannot_be_a_code_is_refused(typed):
    assert recoverycodes.normalize(typed) is None


def test_stored_as_keyed_hashes_bound_to_the_account(app, with_sms, make_user):
    shown = issue(app, with_sms)
    stored = rows(app, with_sms)
    assert len(stored) == 10
    for code, row in zip(shown, stored, strict=True):
        plain = code.replace("-", "")
        assert len(row["lookup"]) == 64 and plain not in row["lookup"]
        assert row["secret"] is None and plain not in row["data"]
    # The hash depends on the server key and on the account.
    other = make_user("bob@example.com")
    with app.app_context():
        user, bob = db.session.get(User, with_sms), db.session.get(User, other)
        plain = shown[0].replace("-", "")
        assert recoverycodes._lookup(user, plain) == stored[0]["lookup"]
        assert recoverycodes._lookup(bob, plain) != stored[0]["lookup"]
        app.config["SECRET_KEY"] = "another key"
        assert recoverycodes._lookup(user, plain) != stored[0]["lookup"]


def test_a_code_works_once_and_the_others_stay_valid(app, with_sms):
    codes = issue(app, with_sms)
    assert check(app, with_sms, codes[0]).ok
    again = check(app, with_sms, codes[0])
    assert again.problem is Problem.RECOVERY_USED
    assert "used already" in again.message
    assert check(app, with_sms, codes[1].upper().replace("-", " ")).ok
    assert [r["used"] for r in rows(app, with_sms)] == [True, True] + [False] * 8
    with app.app_context():
        assert recoverycodes.remaining(db.session.get(User, with_sms)) == 8


def test_a_code_of_another_account_does_not_work(app, with_sms, make_user):
    other = make_user("bob@example.com")
    from tests.support.sms import set_sms
    set_sms(app, other)
    theirs = issue(app, other)
    issue(app, with_sms)
    assert check(app, with_sms, theirs[0]).problem is Problem.WRONG
    assert check(app, other, theirs[0]).ok


def test_two_parallel_uses_of_one_code_exactly_one_wins(app, with_sms):
    codes = issue(app, with_sms)
    for code in codes[:5]:
        barrier, results = threading.Barrier(2, timeout=10), [None, None]

        def use(i, code=code, barrier=barrier, results=results):
            with app.test_request_context():
                user = db.session.get(User, with_sms)
                user.authenticators  # noqa: B018 - loaded before the race, as a request would
                barrier.wait()
                results[i] = recoverycodes.check_code(user, code)
                db.session.commit()

        threads = [threading.Thread(target=use, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(r.ok for r in results) == [False, True], results
        assert [r.problem for r in results if not r.ok] == [Problem.RECOVERY_USED]
    assert [r["used"] for r in rows(app, with_sms)] == [True] * 5 + [False] * 5
    assert event_kinds(app, with_sms).count("recovery_code_used") == 5
    assert check(app, with_sms, codes[5]).ok  # the others stay valid


def test_wrong_codes_count_on_the_account_throttle(app, with_sms, clock):
    codes = issue(app, with_sms)
    for _ in range(FAILURES_BEFORE_DELAY):
        assert check(app, with_sms, "zzzzz-zzzzz").problem is Problem.WRONG
    held = check(app, with_sms, codes[0])
    assert held.problem is Problem.THROTTLED and held.wait == 60
    clock.shift(61)
    assert check(app, with_sms, codes[0]).ok
    with app.app_context():
        assert db.session.get(User, with_sms).factor_failures == 0


def test_a_used_code_counts_as_a_wrong_one(app, with_sms):
    codes = issue(app, with_sms)
    assert check(app, with_sms, codes[0]).ok
    check(app, with_sms, codes[0])
    with app.app_context():
        assert db.session.get(User, with_sms).factor_failures == 1


def test_malformed_input_is_not_counted(app, with_sms):
    issue(app, with_sms)
    result = check(app, with_sms, "123456")
    assert result.problem is Problem.RECOVERY_FORMAT
    assert "10 letters and digits" in result.message
    with app.app_context():
        assert db.session.get(User, with_sms).factor_failures == 0


def test_the_failure_counter_is_shared_with_sms_codes(app, with_sms):
    issue(app, with_sms)
    with app.test_request_context():
        user = db.session.get(User, with_sms)
        throttle.record_failure(user)
        db.session.commit()
    check(app, with_sms, "zzzzz-zzzzz")
    with app.app_context():
        assert db.session.get(User, with_sms).factor_failures == 2


def test_a_new_set_voids_the_old_one_at_once(app, with_sms, outbox):
    old = issue(app, with_sms)
    new = issue(app, with_sms)
    assert not set(old) & set(new)
    assert check(app, with_sms, old[0]).problem is Problem.WRONG
    assert check(app, with_sms, new[0]).ok
    assert len(rows(app, with_sms)) == 10
    assert event_kinds(app, with_sms)[-3:] == ["recovery_codes_created",
                                               "recovery_codes_replaced", "recovery_code_used"]
    subjects = [m.subject for m in outbox.messages("email")]
    assert subjects.count("New recovery codes were made for your account") == 2


def test_use_records_an_event_and_emails_the_number_left(app, with_sms, outbox):
    codes = issue(app, with_sms)
    assert check(app, with_sms, codes[3]).ok
    assert event_kinds(app, with_sms)[-1] == "recovery_code_used"
    [mail] = [m for m in outbox.messages("email")
              if m.subject == "A recovery code was used for your account"]
    assert "9 recovery codes are left." in mail.body, mail.body
    for code in codes:
        assert code not in mail.body and code.replace("-", "") not in mail.body
        for m in outbox.messages("email"):
            assert code not in m.body and code.replace("-", "") not in m.body


def test_offered_only_with_sms_on_and_a_code_left(app, with_sms):
    with app.app_context():
        user = db.session.get(User, with_sms)
        assert not recoverycodes.FACTOR.is_on(user)  # none made
    codes = issue(app, with_sms)
    with app.app_context():
        user = db.session.get(User, with_sms)
        assert [f.key for f in factors.available(user)] == ["sms", "recovery"]
    for code in codes:
        assert check(app, with_sms, code).ok
    with app.app_context():
        user = db.session.get(User, with_sms)
        assert [f.key for f in factors.available(user)] == ["sms"]
        assert recoverycodes.has_set(user) and recoverycodes.remaining(user) == 0


def test_warning_at_three_left_and_at_none(app, with_sms):
    codes = issue(app, with_sms)

    def warning():
        with app.test_request_context():
            return factors.warnings(db.session.get(User, with_sms))

    for code in codes[:6]:
        check(app, with_sms, code)
    assert warning() == []  # 4 left
    check(app, with_sms, codes[6])
    assert warning() == ["Only 3 recovery codes are left. Get new recovery codes before "
                         "you run out."]
    check(app, with_sms, codes[7])
    check(app, with_sms, codes[8])
    assert warning() == ["Only 1 recovery code is left. Get new recovery codes before you "
                         "run out."]
    check(app, with_sms, codes[9])
    assert warning() == ["You have used all your recovery codes. Get new recovery codes, so "
                         "that you can still sign in if you lose your phone."]


def test_no_warning_without_a_set(app, with_sms):
    with app.test_request_context():
        assert factors.warnings(db.session.get(User, with_sms)) == []


def test_turning_two_step_verification_off_deletes_them(app, with_sms):
    issue(app, with_sms)
    with app.test_request_context():
        user = db.session.get(User, with_sms)
        gone = factors.disable(user, factors.base())
        db.session.commit()
    assert recoverycodes.FACTOR in gone
    assert rows(app, with_sms) == []


def test_the_registry_holds_the_factor_last():
    assert factors.FACTORS[-1] is recoverycodes.FACTOR
    assert factors.get("recovery").switch_label == "Use a recovery code"
    assert factors.get("recovery").numeric is False
    assert factors.get("recovery").requires_base
