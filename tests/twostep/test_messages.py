"""How waits are put into words, and the seconds those words promise; the
help for a lost factor and the method list, from each factor's sentences."""

import pytest

from hubweb.twostep.messages import choose_method, duration, lost_help, stated_seconds


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


def test_lost_help_is_the_factors_sentences_then_the_places_closing():
    assert lost_help("sign_in", "No access to your phone?", []) == (
        "No access to your phone? Ask your administrator to reset two-step verification "
        "for your account; you can then sign in with your password.")
    assert lost_help("recovery", "Lost it?", ["Choose A.", "Choose B."]) == (
        "Lost it? Choose A. Choose B. If you have none of them, ask your administrator "
        "to reset two-step verification for your account, then open the link in the "
        "email again.")
    with pytest.raises(KeyError):
        lost_help("setup", "Lost it?", [])


@pytest.mark.parametrize(("names", "words"), [
    (["SMS"], "Choose SMS."),
    (["the authenticator app", "SMS"], "Choose the authenticator app or SMS."),
    (["a security key", "the authenticator app", "SMS"],
     "Choose a security key, the authenticator app, or SMS."),
])
def test_the_method_list_is_joined_as_the_language_joins_a_choice(names, words):
    assert choose_method(names) == words
