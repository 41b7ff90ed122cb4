"""The ``settings`` blueprint object, apart from the package so that its view
modules import it without importing the package that imports them."""

from flask import Blueprint

bp = Blueprint("settings", __name__, url_prefix="/settings")
