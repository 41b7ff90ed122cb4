"""Languages: which one a request is answered in, and the catalogs (Flask-Babel).

One catalog domain, ``messages``, in ``translations/`` at the repository root
(``translations/<lang>/LC_MESSAGES/messages.po``, compiled to ``.mo`` by
``make``). English is the source language: its texts are the ``msgid`` s.

The language of a request (:func:`select_language`), first that applies:

1. the signed-in person's saved choice (``users.language``);
2. the ``language`` cookie set by the footer chooser (:data:`COOKIE`);
3. the best match of the ``Accept-Language`` header (RFC 9110 section 12.5.4);
4. the first of ``HUBWEB_LANGUAGES``.

Outside a request (the mail queue, the CLI) it is the first configured
language; mail and SMS to a person go out under
:func:`flask_babel.force_locale` with :func:`language_of` that person.

Templates get ``html_lang`` (a BCP 47 tag), ``html_dir`` (``ltr`` or
``rtl``), ``languages`` (``[(tag, name in its own language), ...]``),
``current_language`` (a tag) and ``language_next`` (the path the chooser
returns to, or None on a page whose path carries a token), and the filter
``when`` (:func:`format_when`), from :func:`init_app`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from babel import Locale, negotiate_locale
from babel.dates import match_skeleton, parse_pattern
from flask import current_app, g, has_app_context, has_request_context, request
from flask.globals import _cv_app
from flask_babel import Babel, get_locale, get_translations
from jinja2 import pass_context
from markupsafe import Markup, escape

#: The languages hubweb ships catalogs for; ``HUBWEB_LANGUAGES`` is a subset.
SUPPORTED = ("en", "de", "fr", "es", "ru", "ar")
#: The default of ``HUBWEB_LANGUAGES``: the first one is the default language.
DEFAULT_LANGUAGES = "en,de,fr,es,ru,ar"
#: The cookie the chooser sets (CONTRACT.md, field ``language``).
COOKIE = "language"
#: How long the chooser's cookie lives, in seconds (one year).
COOKIE_MAX_AGE = 365 * 24 * 3600
#: Where the catalogs live: ``translations/`` beside the ``hubweb`` package.
TRANSLATIONS = Path(__file__).resolve().parent.parent / "translations"

def translations():
    """The catalog of the current language (Flask-Babel's ``get_translations``),
    looked up once per request and language instead of on every text.

    Flask-Babel finds the catalog anew for every ``gettext`` (the request's
    namespace, its domain, its locale, a cache keyed by ``str(locale)``): a
    settings page says some 150 texts. The catalog found is kept in Flask-Babel's
    own per-request namespace together with the locale object and domain it is
    for, and used again only while both are the very same objects: a
    :func:`flask_babel.force_locale` (mail and SMS in the account's language)
    sets a new locale object and restores the old one, and ``refresh()`` clears
    it, so a text is always in the language Flask-Babel would choose.

    :return: a :class:`babel.support.Translations` (``NullTranslations``
        outside a request or app context).
    """
    ctx = _babel_namespace()
    if ctx is not None:
        hit = ctx.get("hubweb_catalog")
        if (hit is not None and hit[0] is ctx.get("babel_locale")
                and hit[1] is ctx.get("babel_domain")):
            return hit[2]
    found = get_translations()
    ctx = _babel_namespace()
    locale = ctx.get("babel_locale") if ctx is not None else None
    if locale is not None:
        ctx["hubweb_catalog"] = (locale, ctx.get("babel_domain"), found)
    return found


def _babel_namespace() -> dict | None:
    """The attributes of Flask-Babel's per-request namespace (``g._flask_babel``),
    or None before Flask-Babel made it or outside an app context. Read straight
    from the app context (Flask's context variable), not through ``g``'s proxy:
    a page asks on every text."""
    app_ctx = _cv_app.get(None)
    if app_ctx is None:
        return None
    namespace = app_ctx.g.__dict__.get("_flask_babel")
    return namespace.__dict__ if namespace is not None else None


def gettext(string: str, **variables) -> str:
    """Flask-Babel's ``gettext`` through :func:`translations` (the same text)."""
    text = translations().ugettext(string)
    return text % variables if variables else text


class LazyText(str):
    """A text of the catalog, said in the current language wherever it is used.

    Its ``str`` value is the English source (the ``msgid``): it compares, hashes
    and is found with ``in`` as that English text. Anything that asks for its
    words translates it at that moment: ``str()``, Jinja (``__html__``; plain
    text templates call ``str()``), ``format``, ``%``, f-strings and ``+``.
    ``json.dumps``, ``str.join`` and headers read the raw value, so the text
    must be passed through ``str()`` before it reaches JSON, a header or the
    database (a test checks the places that do).

    Module-level texts are ``lazy_text("...")`` (imported as ``_l``; ``make
    messages`` extracts ``_l`` and ``lazy_gettext`` calls).
    """

    __slots__ = ()

    @property
    def source(self) -> str:
        """The English source text (the catalog's ``msgid``)."""
        return str.__str__(self)

    def __str__(self) -> str:
        return translations().ugettext(self.source)

    def __html__(self) -> Markup:
        return escape(str(self))

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def format(self, *args, **kwargs) -> str:  # noqa: D102 - str.format, translated
        return str(self).format(*args, **kwargs)

    def format_map(self, mapping) -> str:  # noqa: D102 - str.format_map, translated
        return str(self).format_map(mapping)

    def __mod__(self, values) -> str:
        return str(self) % values

    def __add__(self, other: str) -> str:
        return str(self) + other

    def __radd__(self, other: str) -> str:
        return other + str(self)

    def __repr__(self) -> str:
        return f"lazy_text({self.source!r})"


def lazy_text(source: str) -> LazyText:
    """Mark ``source`` (English) for the catalog; see :class:`LazyText`."""
    return LazyText(source)


def parse_languages(value) -> list[str]:
    """Read ``HUBWEB_LANGUAGES``: ``"en,de"`` or a JSON list ``["en", "de"]``.

    :return: the tags in order, lower case, without repeats.
    :raises ValueError: when empty, or holding a tag not in :data:`SUPPORTED`.
    """
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ValueError(f"must be a comma-separated list of language tags; got {value!r}")
    tags: list[str] = []
    for item in items:
        tag = str(item).strip().lower().replace("_", "-")
        if tag not in SUPPORTED:
            raise ValueError(
                f"knows only {', '.join(SUPPORTED)}; got {str(item).strip()!r}"
            )
        if tag not in tags:
            tags.append(tag)
    if not tags:
        raise ValueError("must name at least one language")
    return tags


def languages() -> list[str]:
    """The configured language tags (``HUBWEB_LANGUAGES``), the default first."""
    return current_app.config["LANGUAGES"]


def is_language(tag: object) -> bool:
    """True when ``tag`` is one of the configured languages (exact, lower case)."""
    return isinstance(tag, str) and tag in languages()


def language_of(user) -> str:
    """The language to write to ``user`` in (mail, SMS): the account's saved
    one when still offered, else the language of the current request.

    :param user: a :class:`~hubweb.models.User`, or ``None``.
    :return: a tag from ``HUBWEB_LANGUAGES``.
    """
    saved = getattr(user, "language", None)
    if is_language(saved):
        return saved
    return current_language()


def current_language() -> str:
    """The tag of the language this request (or app context) is answered in."""
    locale = get_locale()
    tag = str(locale).replace("_", "-").lower() if locale is not None else ""
    return tag if is_language(tag) else languages()[0]


def _saved_language() -> str | None:
    """The signed-in person's saved language, or None (not signed in, none saved,
    or the session could not be read)."""
    if g.get("database_down"):
        return None
    from flask_login import current_user

    user = current_user._get_current_object() if current_user else None
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return getattr(user, "language", None)


def select_language() -> str:
    """Flask-Babel's locale selector: see the module docstring for the order."""
    offered = languages()
    if not has_request_context():
        return offered[0]
    saved = _saved_language()
    if saved in offered:
        return saved
    cookie = request.cookies.get(COOKIE)
    if cookie in offered:
        return cookie
    return best_match(request.accept_languages.values(), offered) or offered[0]


def best_match(preferred, offered: list[str]) -> str | None:
    """The first of ``preferred`` (``Accept-Language`` ranges, best first) that
    ``offered`` has, else its primary language (``de-CH`` -> ``de``); RFC 4647
    section 3.4 "Lookup", as Babel's :func:`~babel.core.negotiate_locale` does.
    ``*`` matches nothing, so it leaves the default."""
    wanted = [str(tag).strip().lower() for tag in preferred if tag and tag != "*"]
    return negotiate_locale(wanted, offered, sep="-", aliases=None)


@lru_cache(maxsize=64)
def language_name(tag: str) -> str:
    """The name of language ``tag`` in that language (``de`` -> ``Deutsch``);
    CLDR data, so kept once computed (a handful of tags)."""
    name = Locale.parse(tag.replace("-", "_")).get_display_name() or tag
    return name[:1].upper() + name[1:]


@lru_cache(maxsize=64)
def text_direction(tag: str) -> str:
    """``rtl`` for a right-to-left language (per CLDR), else ``ltr``; kept once
    computed."""
    return Locale.parse(tag.replace("-", "_")).text_direction


def keep_ltr(text: str) -> str:
    """``text`` (a number, a code, an address) kept left to right inside a
    sentence of a right-to-left language: wrapped in the Unicode bidi isolates
    LRI (U+2066) and PDI (U+2069), Unicode UAX #9 section 2.4; unchanged in a
    left-to-right language. For plain text (messages, emails); templates use
    the ``ltr`` macro (``<bdi dir="ltr">``)."""
    if not has_app_context():  # pure use (a parser's own tests): no language
        return text
    return f"\u2066{text}\u2069" if text_direction(current_language()) == "rtl" else text


def init_app(app) -> None:
    """Set Flask-Babel up on ``app`` and give templates the language variables.

    ``app.config["LANGUAGES"]`` must already be the parsed list (see
    :func:`hubweb.config.validate`).
    """
    app.config["BABEL_DEFAULT_LOCALE"] = app.config["LANGUAGES"][0]
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS))
    app.config["BABEL_DOMAIN"] = "messages"
    app.config.setdefault("BABEL_DEFAULT_TIMEZONE", "UTC")
    # One Babel per app: Flask-Babel caches the catalogs it loaded on the Babel
    # object, by language only, so apps sharing one (tests) would share catalogs.
    # The selector gives Flask-Babel a Locale, which it takes as is: parsing the
    # tag again on each request costs more than choosing it.
    Babel(app, locale_selector=lambda: _locale(select_language()))
    # Flask-Babel's template callables look the catalog up through five context
    # lookups per call; a page makes a dozen calls. Same catalogs, found once.
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: translations().ugettext(s),
        ngettext=lambda s, p, n: translations().ungettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: translations().unpgettext(c, s, p, n),
    )
    # Jinja's newstyle gettext, and its ``_`` alias, each call through the
    # template context again (three calls for one ``_()``): the same rules here
    # in one call.
    app.jinja_env.globals["gettext"] = app.jinja_env.globals["_"] = _template_gettext
    app.add_template_filter(format_when, "when")

    @app.context_processor
    def _language_globals():
        tag = current_language()
        return {
            "html_lang": tag,
            "html_dir": text_direction(tag),
            "current_language": tag,
            "languages": _offered(tuple(languages())),
            "language_next": return_path(),
        }


@lru_cache(maxsize=64)
def _locale(tag: str) -> Locale:
    """The Babel :class:`~babel.Locale` of a configured tag (kept; a handful)."""
    return Locale.parse(tag.replace("-", "_"))


@lru_cache(maxsize=16)
def _offered(tags: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """``((tag, name in its own language), ...)`` for the chooser."""
    return tuple((t, language_name(t)) for t in tags)


@pass_context
def _template_gettext(__context, __string: str, **variables) -> str:
    """Jinja's newstyle ``gettext`` (``jinja2.ext``): the translation, made
    Markup under autoescape, always ``%``-formatted with ``variables``."""
    rv = translations().ugettext(__string)
    if __context.eval_ctx.autoescape:
        rv = Markup(rv)
    return rv % variables



def format_when(value: datetime, seconds: bool = False) -> str:
    """A moment for people, in the current language, in UTC, saying so:
    ``Dec 7, 2026, 15:47 UTC`` (en), ``7. Dez. 2026, 15:47 UTC`` (de).

    The Jinja filter ``when`` (``{{ event.created_at|when }}``); CLDR's
    date (skeleton ``yMMMd``) and 24-hour time (``Hm``) joined by its medium
    date-time pattern (Babel's ``format_skeleton``, with the patterns it would
    choose looked up once per language: :func:`_when_patterns`).

    :param value: an aware datetime (hubweb.timeutil: every stored one is).
    :param seconds: say the seconds too.
    """
    namespace = _babel_namespace()  # the request's locale, once Flask-Babel chose it
    locale = (namespace.get("babel_locale") if namespace is not None else None) or (
        get_locale() or Locale.parse(languages()[0]))
    return gettext("%(when)s UTC", when=_when_text(locale, seconds, value.astimezone(UTC)))


@lru_cache(maxsize=4096)
def _when_text(locale: Locale, seconds: bool, value: datetime) -> str:
    """The date and time of :func:`format_when` before "UTC" is said: CLDR's
    words only (no catalog), the same for every app, so kept for the moments a
    process shows again (a page's activity rows are the same on every view).

    :param value: an aware datetime in UTC.
    """
    date, time, glue = _when_patterns(locale, seconds)
    return glue.replace("{1}", date.apply(value, locale)).replace("{0}", time.apply(value, locale))


@lru_cache(maxsize=64)
def _when_patterns(locale: Locale, seconds: bool):
    """``(date pattern, time pattern, medium date-time glue)`` of :func:`format_when`
    in ``locale``: what :func:`babel.dates.format_skeleton` finds for the skeletons
    ``yMMMd`` and ``Hm`` (``Hms`` with ``seconds``) on every call (a fuzzy
    skeleton match over CLDR's list, then the parsed pattern), found once.

    :return: two :class:`babel.dates.DateTimePattern` and a ``str`` with
        ``{1}`` (the date) and ``{0}`` (the time).
    """
    def pattern(skeleton: str):
        skeletons = locale.datetime_skeletons
        if skeleton not in skeletons:
            skeleton = match_skeleton(skeleton, skeletons) or skeleton
        return parse_pattern(skeletons[skeleton])

    return (pattern("yMMMd"), pattern("Hms" if seconds else "Hm"),
            str(locale.datetime_formats["medium"]))


def return_path() -> str | None:
    """The path (and query) of this page for the chooser's ``next`` field, or None.

    None for a request other than GET (its URL may not answer a GET) and for a
    page whose URL carries an emailed token (``/reset-password/<token>``): the
    token must not be copied into a form field; the chooser then goes back by
    the Referer, or home.
    """
    if not has_request_context() or request.method != "GET":
        return None
    if request.view_args and "token" in request.view_args:
        return None
    return request.full_path.rstrip("?")
