"""Texts and dates are in the request's language, also where the lookup is kept.

:func:`hubweb.i18n.translations` keeps the catalog found for a request, and
:func:`hubweb.i18n.format_when` keeps the date and time patterns of each
language; both must say exactly what Flask-Babel and Babel say without the
keeping, in every language, and follow a language forced for a mail or SMS
(:func:`flask_babel.force_locale`) inside the same request.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import flask_babel
import pytest
from babel.dates import format_skeleton
from flask import render_template_string
from flask_babel import force_locale, get_locale

from hubweb import i18n

MOMENTS = (
    datetime(2026, 12, 7, 15, 47, 9, tzinfo=UTC),
    datetime(2025, 1, 1, 0, 0, 0, tzinfo=UTC),
    # Another offset: shown in UTC (2024-02-29 22:30:05).
    datetime(2024, 3, 1, 1, 30, 5, tzinfo=timezone(timedelta(hours=3))),
)
TEXT = "Recent security activity"


def babel_when(value: datetime, seconds: bool) -> str:
    """What ``format_when`` said before it kept its patterns: Babel's
    ``format_skeleton`` on every call, Flask-Babel's ``gettext``."""
    locale = get_locale()
    value = value.astimezone(UTC)
    date = format_skeleton("yMMMd", value, tzinfo=UTC, locale=locale)
    time = format_skeleton("Hms" if seconds else "Hm", value, tzinfo=UTC, locale=locale)
    joined = str(locale.datetime_formats["medium"]).replace("{1}", date).replace("{0}", time)
    return flask_babel.gettext("%(when)s UTC", when=joined)


@pytest.mark.parametrize("seconds", [False, True])
def test_dates_in_every_language_are_babels_own(app, seconds):
    said = {}
    with app.test_request_context():
        for tag in i18n.SUPPORTED:
            with force_locale(tag):
                for moment in MOMENTS:
                    # Twice: the second answer comes from the kept patterns.
                    assert i18n.format_when(moment, seconds) == babel_when(moment, seconds)
                    assert i18n.format_when(moment, seconds) == babel_when(moment, seconds)
                said[tag] = i18n.format_when(MOMENTS[2], seconds)
    assert said["en"] == ("Feb 29, 2024, 22:30:05 UTC" if seconds else "Feb 29, 2024, 22:30 UTC")
    assert said["de"].startswith("29.02.2024") or said["de"].startswith("29. Feb")
    assert len(set(said.values())) == len(i18n.SUPPORTED)  # each language its own words


def test_texts_follow_a_language_forced_inside_the_request(app):
    with app.test_request_context(headers={"Accept-Language": "en"}):
        english = i18n.gettext(TEXT)
        with force_locale("de"):
            german = i18n.gettext(TEXT)
            german_template = render_template_string("{{ _(text) }}", text=TEXT)
            assert german == flask_babel.gettext(TEXT)
        assert i18n.gettext(TEXT) == english == flask_babel.gettext(TEXT)
        assert render_template_string("{{ _(text) }}", text=TEXT) == english
    assert english == TEXT
    assert german == german_template != english


@pytest.mark.parametrize("tag", i18n.SUPPORTED)
def test_template_texts_are_flask_babels_in_every_language(app, tag):
    with app.test_request_context(headers={"Accept-Language": tag}):
        template = render_template_string(
            "{{ _(text) }}|{% trans count=n %}{{ count }} recovery code left{% pluralize %}"
            "{{ count }} recovery codes left{% endtrans %}", text=TEXT, n=3)
        babel = (flask_babel.gettext(TEXT) + "|" + flask_babel.ngettext(
            "%(count)s recovery code left", "%(count)s recovery codes left", 3, count=3))
        assert template == babel
        assert str(get_locale()) == tag
