"""The portal home page, and the language chooser."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import (
    Blueprint,
    current_app,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext
from flask_login import current_user

from . import i18n
from .errors import error_reply
from .extensions import db, login_manager
from .htmx import redirect_to

bp = Blueprint("views", __name__)

#: The longest ``next`` (a path and query) the language chooser takes, in characters.
MAX_NEXT = 2048


@bp.get("/")
def home():
    """Signed in: the home page; otherwise a redirect to sign-in."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.sign_in"))
    return render_template("home.html")


@bp.post("/language")
def change_language():
    """The language chooser (footer, and the account page): field ``language``.

    Sets the ``language`` cookie (a year, ``SameSite=Lax``, ``Secure`` under
    https) and, when signed in, saves the choice on the account; then 303
    (htmx: ``HX-Redirect``) back to ``next`` when it is a local path of this
    site, else to the same-site ``Referer``, else to ``/``. CSRF is checked by
    CSRFProtect before this view, as for every form.

    :return: 400 with a clear message for a tag not in ``HUBWEB_LANGUAGES``, or
        a ``next`` longer than :data:`MAX_NEXT` (no page of the portal has one).
    """
    if len(request.form.get("next", "")) > MAX_NEXT:
        return error_reply(400, gettext("The address of the page to go back to is too long."))
    tag = request.form.get("language", "")
    if not i18n.is_language(tag):
        return error_reply(400, gettext(
            "Choose one of the languages offered: %(languages)s.",
            languages=", ".join(i18n.language_name(t) for t in i18n.languages()),
        ))
    if current_user.is_authenticated:
        current_user.language = tag
        db.session.commit()
    reply = redirect_to(_return_path())
    reply.set_cookie(
        i18n.COOKIE, tag, max_age=i18n.COOKIE_MAX_AGE, path="/", httponly=True,
        samesite="Lax", secure=str(current_app.config["BASE_URL"]).startswith("https://"),
    )
    return reply


def _return_path() -> str:
    """Where the chooser goes back to: ``next`` or the Referer, when local; else ``/``."""
    local = local_path(request.form.get("next"))
    if local is None:
        referrer = urlsplit(request.referrer or "")
        if referrer.netloc == request.host and referrer.scheme == request.scheme:
            local = local_path(referrer.path + (f"?{referrer.query}" if referrer.query else ""))
    return local or url_for("views.home")


def local_path(target: object) -> str | None:
    """``target`` when it is a path on this site (``/...``), else None.

    Refused: anything with a scheme or host, ``//host`` and ``/\\host`` (which
    browsers read as another host), and control characters (a browser drops
    some, which could turn ``/\\t/host`` into ``//host``).
    """
    if not isinstance(target, str) or not target.startswith("/") or len(target) > MAX_NEXT:
        return None
    if target.startswith(("//", "/\\")) or "\\" in target:
        return None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@login_manager.unauthorized_handler
def _unauthorized():
    """Send the visitor to sign-in (``HX-Redirect`` for htmx, never a swapped page)."""
    if request.method == "GET" and not request.headers.get("HX-Request"):
        session["next"] = request.full_path.rstrip("?")
    return redirect_to(url_for("auth.sign_in"))
