"""The portal home page."""

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_login import current_user

from .extensions import login_manager
from .htmx import redirect_to

bp = Blueprint("views", __name__)


@bp.get("/")
def home():
    """Signed in: the home page; otherwise a redirect to sign-in."""
    if not current_user.is_authenticated:
        return redirect(url_for("auth.sign_in"))
    return render_template("home.html")


@login_manager.unauthorized_handler
def _unauthorized():
    """Send the visitor to sign-in (``HX-Redirect`` for htmx, never a swapped page)."""
    if request.method == "GET" and not request.headers.get("HX-Request"):
        session["next"] = request.full_path.rstrip("?")
    return redirect_to(url_for("auth.sign_in"))
