"""Reading replies as a person (or htmx) would: the htmx request header, the text of
a body, whether a reply is a fragment."""

from __future__ import annotations

import html
import re

#: The header htmx sends with every request it makes.
HX = {"HX-Request": "true"}


def text(response) -> str:
    """The body of a response, entities decoded and runs of white space made one space."""
    return re.sub(r"\s+", " ", html.unescape(response.get_data(as_text=True)))


def decoded(response) -> str:
    """The body of a response with HTML entities decoded, white space as sent."""
    return html.unescape(response.get_data(as_text=True))


def is_fragment(response) -> bool:
    """True when the body is a fragment: no ``<html>``, ``<head>`` or ``<body>`` tag."""
    body = response.get_data(as_text=True).lower()
    return "<html" not in body and "<body" not in body and "<head" not in body
