"""The translation catalogs (translations/): complete, in step with the code, with
the placeholders and plural forms each language needs; and the SMS text of every
language fits one SMS.

The catalog checks fail until every language is fully translated: a fuzzy or
empty entry is an English sentence on a translated page.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po
from flask_babel import force_locale

from hubweb import i18n
from hubweb.twostep.sms import (
    GSM7_SEGMENT,
    MAX_HOST,
    MAX_PORTAL,
    UCS2_SEGMENT,
    code_message,
    gsm_septets,
    ucs2_units,
)
from hubweb.twostep.smscodes import LIFETIME

ROOT = Path(__file__).resolve().parents[2]
TRANSLATED = [lang for lang in i18n.SUPPORTED if lang != "en"]
#: ``%(name)s``-style (gettext, ngettext) and ``{name}`` (``str.format``) placeholders.
PLACEHOLDER = re.compile(r"%\((\w+)\)[sdf]|\{(\w*)\}")
#: The plural number may be written out in a form (Arabic "zero", "one", "two").
NUMBER_NAMES = {"num", "count"}


def placeholders(text: str) -> set[str]:
    return {a or b for a, b in PLACEHOLDER.findall(text)}


def catalog(lang: str):
    with open(i18n.TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po", "rb") as fh:
        return read_po(fh, locale=lang)


def entries(lang: str):
    return [m for m in catalog(lang) if m.id]


def test_catalogs_exist_for_every_language():
    assert sorted(p.name for p in i18n.TRANSLATIONS.iterdir() if p.is_dir()) == sorted(
        TRANSLATED)
    assert (i18n.TRANSLATIONS / "messages.pot").is_file()


@pytest.mark.parametrize("lang", TRANSLATED)
def test_plural_forms_header_is_the_language_rule(lang):
    expected_count, expected_rule = get_plural(lang)
    cat = catalog(lang)
    assert cat.num_plurals == expected_count
    assert cat.plural_expr == expected_rule


def test_template_holds_every_text_of_the_code(tmp_path):
    """``make messages`` was run after the last change of a marked text."""
    fresh = tmp_path / "fresh.pot"
    subprocess.run(
        [str(Path(sys.executable).parent / "pybabel"), "-q", "extract", "-F", "babel.cfg",
         "-k", "lazy_gettext", "-k", "_l", "-k", "lazy_ngettext:1,2", "-o", str(fresh), "."],
        cwd=ROOT, check=True)
    with open(fresh, "rb") as fh:
        wanted = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}
    with open(i18n.TRANSLATIONS / "messages.pot", "rb") as fh:
        have = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}
    assert sorted(wanted - have) == [], "run `make messages`"
    assert sorted(have - wanted) == [], "run `make messages`"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_catalog_has_every_text_of_the_template(lang):
    with open(i18n.TRANSLATIONS / "messages.pot", "rb") as fh:
        wanted = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(fh) if m.id}
    have = {m.id if isinstance(m.id, str) else m.id[0] for m in entries(lang)}
    assert sorted(wanted - have) == [], "run `make messages`"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_no_entry_is_untranslated_or_fuzzy(lang):
    missing = [m.id for m in entries(lang)
               if not m.string or (isinstance(m.string, tuple) and not all(m.string))]
    fuzzy = [m.id for m in entries(lang) if m.fuzzy]
    assert (len(missing), missing[:5]) == (0, [])
    assert (len(fuzzy), fuzzy[:5]) == (0, [])


@pytest.mark.parametrize("lang", TRANSLATED)
def test_translations_keep_the_placeholders(lang):
    wrong = []
    for m in entries(lang):
        if not m.string:
            continue
        if isinstance(m.id, str):
            if m.string and placeholders(m.string) != placeholders(m.id):
                wrong.append((m.id, m.string))
            continue
        source = placeholders(m.id[0]) | placeholders(m.id[1])
        for form in m.string:
            if form and not (source - NUMBER_NAMES <= placeholders(form) <= source):
                wrong.append((m.id[0], form))
    assert wrong == []


@pytest.mark.parametrize("lang", TRANSLATED)
def test_plural_entries_have_the_language_number_of_forms(lang):
    count = get_plural(lang)[0]
    wrong = [(m.id[0], len(m.string)) for m in entries(lang)
             if isinstance(m.id, tuple) and len(m.string) != count]
    assert wrong == []


@pytest.mark.parametrize("lang", TRANSLATED)
def test_translations_are_well_formed(lang):
    """Babel's own checks (python-format placeholders and their types)."""
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog(lang).check()]
    assert problems == []


# --- one SMS segment --------------------------------------------------------------

#: The longest host and portal name the settings allow (hubweb.config), of
#: characters that each take one septet.
LONGEST_HOST = "portal.example.co.uk"
LONGEST_PORTAL = "W" * MAX_PORTAL


@pytest.mark.parametrize("lang", i18n.SUPPORTED)
@pytest.mark.parametrize("minutes", sorted({LIFETIME // 60, 1, 2, 5, 11, 21}))
def test_sms_fits_one_segment_in_every_language(app, lang, minutes):
    """GSM-7 within 160 septets (gsm0338 codec), else UCS-2 within 70 units, the
    origin-bound last line ``@host #123456`` included."""
    with app.app_context(), force_locale(lang):
        text = code_message(portal=LONGEST_PORTAL, code="123456", minutes=minutes,
                            base_url=f"https://{LONGEST_HOST}:8443/")
    assert len(LONGEST_HOST) == MAX_HOST
    assert text.endswith(f"\n@{LONGEST_HOST} #123456")
    septets = gsm_septets(text)
    if septets is not None:
        assert septets <= GSM7_SEGMENT, (lang, septets, text)
    else:
        assert ucs2_units(text) <= UCS2_SEGMENT, (lang, ucs2_units(text), text)


def test_segment_counts_are_real_gsm_and_ucs2():
    assert gsm_septets("Hello @ 123") == 11
    assert gsm_septets("{x}") == 5  # braces are GSM extension characters: two septets
    assert gsm_septets("Ваш код") is None
    assert ucs2_units("Ваш код") == 7
    assert ucs2_units("😀") == 2


@pytest.mark.parametrize(("setting", "value", "ok"), [
    ("BASE_URL", f"https://{'h' * MAX_HOST}:8443", True),
    ("BASE_URL", f"https://{'h' * (MAX_HOST + 1)}", False),
    ("PORTAL_NAME", "W" * MAX_PORTAL, True),
    ("PORTAL_NAME", "W" * (MAX_PORTAL + 1), False),
    ("PORTAL_NAME", "Hub {" + "W" * (MAX_PORTAL - 5), False),  # "{" takes two septets
    ("PORTAL_NAME", "Хаб", False),  # not GSM 7-bit: every SMS would be UCS-2
    ("PORTAL_NAME", "", False),
])
def test_settings_keep_the_sms_within_one_segment(tmp_path, migrated_db, setting, value, ok):
    from hubweb import create_app
    from hubweb.config import ConfigError
    from tests.support.database import fresh_database

    config = {**fresh_database(tmp_path, migrated_db), "ALLOW_CONSOLE_BACKENDS": True,
              setting: value}
    if ok:
        assert create_app(config).config[setting] == value
    else:
        with pytest.raises(ConfigError, match=f"HUBWEB_{setting}"):
            create_app(config)
