"""TOTP maths against RFC 6238 / RFC 4226 vectors and the independent oathtool."""

import base64
import subprocess

import pytest

from hubweb.twostep.keys import new_secret
from hubweb.twostep.totp import TotpCheck, code_at_step, time_step, verify
from tests.support.tools import require_tools

RFC_SECRET = base64.b32encode(b"12345678901234567890").decode("ascii")

# RFC 6238 Appendix B (SHA1), last six digits of the 8-digit values.
RFC6238_SHA1 = [
    (59, "287082"),
    (1111111109, "081804"),
    (1111111111, "050471"),
    (1234567890, "005924"),
    (2000000000, "279037"),
    (20000000000, "353130"),
]

# RFC 4226 Appendix D, HOTP values for counters 0..9.
RFC4226_HOTP = ["755224", "287082", "359152", "969429", "338314",
                "254676", "287922", "162583", "399871", "520489"]

AT = 1111111111.0
NOW = 37037037  # time_step(AT)




def test_rfc_secret_is_the_appendix_seed():
    assert RFC_SECRET == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


@pytest.mark.parametrize(("at", "step"), [(0, 0), (29.999, 0), (30, 1), (59, 1),
                                          (1111111111, 37037037), (20000000000, 666666666)])
def test_time_step(at, step):
    assert time_step(at) == step


def test_time_step_rejects_negative():
    with pytest.raises(ValueError):
        time_step(-1)


@pytest.mark.parametrize(("at", "code"), RFC6238_SHA1)
def test_rfc6238_vectors(at, code):
    assert code_at_step(RFC_SECRET, time_step(at)) == code
    check = verify(RFC_SECRET, code, at=at, last_step=None)
    assert check == TotpCheck(ok=True, step=time_step(at), drift_steps=None)


@pytest.mark.parametrize(("counter", "code"), list(enumerate(RFC4226_HOTP)))
def test_rfc4226_vectors(counter, code):
    assert code_at_step(RFC_SECRET, counter) == code


def test_secret_spacing_and_case_do_not_matter():
    assert code_at_step("gezd gnbv gy3t qojq gezd gnbv gy3t qojq", 1) == "287082"


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_window_accepts_one_step_either_side(offset):
    code = code_at_step(RFC_SECRET, NOW + offset)
    assert verify(RFC_SECRET, code, at=AT, last_step=None) == TotpCheck(True, NOW + offset)


@pytest.mark.parametrize("offset", [-2, 2, -5, 7, -20, 20])
def test_outside_window_reports_drift(offset):
    code = code_at_step(RFC_SECRET, NOW + offset)
    check = verify(RFC_SECRET, code, at=AT, last_step=None)
    assert check == TotpCheck(ok=False, step=None, drift_steps=offset)


@pytest.mark.parametrize("offset", [-21, 21, 100])
def test_far_outside_reports_nothing(offset):
    code = code_at_step(RFC_SECRET, NOW + offset)
    assert verify(RFC_SECRET, code, at=AT, last_step=None) == TotpCheck(False, None, None)


@pytest.mark.parametrize(("steps", "minutes"), [(2, 1), (-2, 1), (3, 2), (4, 2), (5, 3),
                                                (-7, 4), (20, 10)])
def test_drift_minutes(steps, minutes):
    assert TotpCheck(ok=False, drift_steps=steps).drift_minutes == minutes


def test_drift_minutes_none_without_drift():
    assert TotpCheck(ok=True, step=1).drift_minutes is None


def test_window_zero():
    before = code_at_step(RFC_SECRET, NOW - 1)
    check = verify(RFC_SECRET, before, at=AT, last_step=None, window=0)
    assert check == TotpCheck(ok=False, drift_steps=-1)
    with pytest.raises(ValueError):
        verify(RFC_SECRET, before, at=AT, last_step=None, window=20)


def test_replay_of_the_same_step_is_refused():
    code = code_at_step(RFC_SECRET, NOW)
    first = verify(RFC_SECRET, code, at=AT, last_step=NOW - 1)
    assert first == TotpCheck(ok=True, step=NOW)
    again = verify(RFC_SECRET, code, at=AT + 5, last_step=first.step)
    assert again == TotpCheck(ok=False, step=NOW, drift_steps=None)


def test_earlier_step_than_last_used_is_refused():
    code = code_at_step(RFC_SECRET, NOW - 1)
    assert verify(RFC_SECRET, code, at=AT, last_step=NOW) == TotpCheck(False, NOW - 1)


def test_next_step_after_last_used_is_accepted():
    code = code_at_step(RFC_SECRET, NOW + 1)
    assert verify(RFC_SECRET, code, at=AT, last_step=NOW) == TotpCheck(True, NOW + 1)


def test_old_code_before_last_step_is_not_called_drift():
    code = code_at_step(RFC_SECRET, NOW - 3)
    assert verify(RFC_SECRET, code, at=AT, last_step=NOW) == TotpCheck(False, None, None)


@pytest.mark.parametrize("bad", ["", "12345", "1234567", "abcdef", "１２３４５６", "12 456"])
def test_malformed_code_is_refused(bad):
    assert verify(RFC_SECRET, bad, at=AT, last_step=None) == TotpCheck(False, None, None)


def test_wrong_code_is_refused():
    window = {code_at_step(RFC_SECRET, NOW + d) for d in range(-20, 21)}
    wrong = next(f"{n:06d}" for n in range(10**6) if f"{n:06d}" not in window)
    assert verify(RFC_SECRET, wrong, at=AT, last_step=None) == TotpCheck(False, None, None)


def _oathtool(*args):
    out = subprocess.run(["oathtool", "-b", *args], capture_output=True, text=True,
                         check=True, timeout=10).stdout
    return out.split()


def test_hotp_matches_oathtool():
    require_tools("oathtool")
    assert _oathtool("-c", "0", "-w", "9", RFC_SECRET) == RFC4226_HOTP


@pytest.mark.parametrize("epoch", [59, 1111111109, 1234567890, 1700000000, 2000000000])
def test_totp_matches_oathtool(epoch):
    require_tools("oathtool")
    for secret in (RFC_SECRET, new_secret(), new_secret()):
        # Codes for steps now .. now+2, as oathtool computes them.
        expected = _oathtool("--totp", "-N", f"@{epoch}", "-w", "2", secret)
        now = time_step(epoch)
        assert [code_at_step(secret, now + i) for i in range(3)] == expected
        for i, code in enumerate(expected[:2]):
            assert verify(secret, code, at=epoch, last_step=None).step == now + i
