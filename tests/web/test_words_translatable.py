"""Every word a person reads goes through the catalog: the templates hold no
English outside ``{% trans %}`` blocks and ``_()`` calls, and ``static/app.js``
holds no sentence at all (its words come from the page's data attributes).

Read from the sources, not from rendered pages, so a branch that no test
reaches is checked too. Each check is first shown to catch a bare sentence.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2 import Environment

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
APP_JS = ROOT / "static" / "app.js"

#: Stands for what a Jinja expression or a ``{% trans %}`` block outputs.
SLOT = "\x00"
#: Words that are the same in every language: the unit of the times shown.
ALLOWED_WORDS = {"UTC"}
#: Attributes whose values a person reads or hears (the rest are for programs).
VISIBLE_ATTRS = {"alt", "title", "aria-label", "placeholder", "label", "data-label",
                 "aria-description", "aria-roledescription", "aria-valuetext"}
#: Calls whose string arguments are catalog entries.
GETTEXT = {"_", "gettext", "ngettext", "pgettext", "npgettext", "lazy_gettext"}
#: A word: two or more letters of any script.
WORD = re.compile(r"[^\W\d_]{2,}")


def _prose_literal(value: str) -> bool:
    """A string literal that reads as words for people ("Confirm", "Send code"),
    not as a name for programs ("settings.two_step_start", "danger", "app_move")."""
    return bool(re.search(r"[^\W\d_]{2,} +[^\W\d_]{2,}", value)
                or re.match(r"[A-Z][a-z]", value) or re.fullmatch(r"[A-Z]{2,}", value))


def _strip_jinja(source: str) -> tuple[str, list[str]]:
    """The template with every ``{{ ... }}``, tag and ``{% trans %}`` block
    replaced by :data:`SLOT` (comments dropped), and the prose string literals
    found in expressions outside gettext calls.

    :return: (the text left, the literals).
    """
    env = Environment(extensions=["jinja2.ext.i18n"])
    out: list[str] = []
    literals: list[str] = []
    in_trans = False
    tag: list[tuple[str, str]] | None = None
    for token in env.lexer.tokenize(source):
        kind, value = token.type, token.value
        if kind in ("variable_begin", "block_begin"):
            tag = []
        elif kind in ("variable_end", "block_end"):
            names = [v for k, v in tag if k == "name"]
            first = names[0] if names else ""
            if kind == "block_end" and first == "trans":
                in_trans = True
            elif kind == "block_end" and first == "endtrans":
                in_trans = False
                out.append(SLOT)
            elif kind == "variable_end" and not in_trans:
                out.append(SLOT)
            if first not in ("trans", "pluralize", "endtrans"):
                literals += _untranslated_literals(tag)
            tag = None
        elif tag is not None:
            tag.append((kind, value))
        elif kind == "data" and not in_trans:
            out.append(value)
    return "".join(out), literals


def _untranslated_literals(tokens: list[tuple[str, str]]) -> list[str]:
    """String literals of one tag that read as prose and are not gettext arguments."""
    calls: list[str] = []
    found: list[str] = []
    previous = ("", "")
    for kind, value in tokens:
        if kind == "lparen":
            calls.append(previous[1] if previous[0] == "name" else "")
        elif kind == "rparen" and calls:
            calls.pop()
        elif kind == "string" and not (calls and calls[-1] in GETTEXT):
            if _prose_literal(value):
                found.append(value)
        previous = (kind, value)
    return found


class _Visible(HTMLParser):
    """The text and the person-facing attribute values of an HTML fragment."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0  # inside <script> or <style>

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._hidden += 1
        self.parts += [v for k, v in attrs if k in VISIBLE_ATTRS and v]

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)


def bare_words(source: str, html: bool = True) -> list[str]:
    """The words of ``source`` (a template) that a person would read untranslated:
    text and visible attributes outside trans blocks and expressions, and prose
    string literals outside gettext calls."""
    text, literals = _strip_jinja(source)
    if html:
        parser = _Visible()
        parser.feed(text)
        parser.close()
        text = " ".join(parser.parts)
    words = [w for w in WORD.findall(text) if w not in ALLOWED_WORDS]
    return words + [repr(lit) for lit in literals]


def _templates() -> list[Path]:
    return sorted(p for p in TEMPLATES.rglob("*") if p.suffix in (".html", ".txt"))


def test_the_template_check_finds_bare_english():
    assert bare_words("<h1>Sign in</h1>") == ["Sign", "in"]
    assert bare_words("<h1>{{ _('Sign in') }}</h1>") == []
    assert bare_words('<img alt="QR code" src="{{ x }}">') == ["QR", "code"]
    assert bare_words("<img alt=\"{{ _('QR code') }}\">") == []
    assert bare_words("<p>{% trans n=1 %}{{ n }} code{% pluralize %}{{ n }} codes{% endtrans %}"
                      "</p>") == []
    assert bare_words("<p>{% trans %}Key: {{ key }}{% endtrans %} (time-based)</p>") == [
        "time", "based"]
    assert bare_words("{{ buttons('Confirm', 'primary') }}") == ["'Confirm'"]
    assert bare_words("{{ 'Email' if sent else 'SMS' }} to") == ["to", "'Email'", "'SMS'"]
    assert bare_words("{{ action_form('settings.start', _('Set up'), 'danger', flow='sms') }}"
                      ) == []
    assert bare_words("{# a comment, for programmers #}<b>{{ portal }}</b> UTC") == []
    assert bare_words("Hello,\n\n{{ link }}\n", html=False) == ["Hello"]


@pytest.mark.parametrize("path", _templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_have_no_untranslated_words(path):
    found = bare_words(path.read_text(encoding="utf-8"), html=path.suffix == ".html")
    assert found == [], f"{path.relative_to(ROOT)}: words outside the catalog: {found}"


def js_string_literals(source: str) -> list[str]:
    """The string literals of a JavaScript source (quotes '...' and "..."),
    comments skipped. Enough for app.js: no template literals or regex literals."""
    literals: list[str] = []
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if source.startswith("//", i):
            i = source.find("\n", i)
            i = n if i < 0 else i
        elif source.startswith("/*", i):
            i = source.index("*/", i + 2) + 2
        elif c in "'\"`":
            assert c != "`", "a template literal in app.js: extend js_string_literals"
            j = i + 1
            while source[j] != c:
                j += 2 if source[j] == "\\" else 1
            literals.append(source[i + 1:j])
            i = j + 1
        else:
            i += 1
    return literals


#: Literals of app.js that read like words but are not for people.
JS_NOT_WORDS = {"use strict", "Escape"}


def js_sentences(source: str) -> list[str]:
    return [s for s in js_string_literals(source) if _prose_literal(s) and s not in JS_NOT_WORDS
            or re.search(r"[^\W\d_]{2,}[.!?]$", s)]


def test_the_script_check_finds_sentences():
    source = ('// "Copied." in a comment\nvar a = "Copied.", b = \'Copy key\';\n'
              'var c = "data-copy-done", d = "{count}"; /* "Not this" */ e.key === "Escape";')
    assert js_string_literals(source) == ["Copied.", "Copy key", "data-copy-done", "{count}",
                                          "Escape"]
    assert js_sentences(source) == ["Copied.", "Copy key"]


def test_app_js_holds_no_sentence():
    assert js_sentences(APP_JS.read_text(encoding="utf-8")) == []
