"""How waits are put into words, and the seconds those words promise."""

import pytest

from hubweb.twostep.messages import duration, stated_seconds


@pytest.mark.parametrize(("seconds", "words", "stated"), [
    (1, "1 second", 1), (45, "45 seconds", 45), (59, "59 seconds", 59),
    (60, "1 minute", 60), (61, "2 minutes", 120), (115, "2 minutes", 120),
    (120, "2 minutes", 120), (2421, "41 minutes", 2460), (3600, "60 minutes", 3600),
    # Above 2 hours (the daily SMS ceiling's waits), whole hours.
    (7200, "120 minutes", 7200), (7201, "3 hours", 10800), (82800, "23 hours", 82800),
])
def test_duration_and_the_seconds_it_states(seconds, words, stated):
    assert duration(seconds) == words
    assert stated_seconds(seconds) == stated
    assert stated >= seconds  # never tells anyone to come back too early
