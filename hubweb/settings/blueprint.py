"""The ``settings`` blueprint object, apart from the package so that its view
modules import it without importing the package that imports them."""

import re

from flask import Blueprint
from markupsafe import Markup

bp = Blueprint("settings", __name__, url_prefix="/settings")
_INDENT = re.compile(r"\n[ \t]+")


@bp.app_template_filter("unindent")
def unindent(html: str) -> Markup:
    """``html`` without the indentation at the start of its lines, for the parts
    an htmx reply sends out of band (``_oob.html``): indentation before a tag
    shows nowhere (no ``<pre>`` or ``<textarea>`` there), and a reply to a
    change has to stay small (README, "Performance", figure 3).

    :param html: markup already escaped (a ``{% filter %}`` block's output).
    :return: the same markup, line breaks kept, leading spaces and tabs removed.
    """
    return Markup(_INDENT.sub("\n", str(html)))
