"""The HTMX rules, in one place.

- :func:`is_htmx`: an htmx request that swaps a fragment (not a boosted or
  history-restore request, which want whole pages).
- :func:`redirect_to`: ``HX-Redirect`` with status 200 for htmx, 303 otherwise.
- :func:`render`: the fragment alone for htmx, else the whole page, which
  includes the same fragment template.
- :func:`done`: after a form succeeded, the fragment for htmx, else a 303.
- Every reply gets ``Vary: HX-Request``, and templates can ask ``is_htmx()``
  (see :func:`init_app`): a fragment's forms leave out the hidden CSRF field,
  as htmx sends the token in the ``X-CSRFToken`` header (``hx-headers`` in
  ``base.html``); the same forms in a whole page keep it, for browsers
  without JavaScript.
"""

from __future__ import annotations

from flask import Response, flash, redirect, render_template, request


def is_htmx() -> bool:
    """Return True for an htmx request that expects a fragment."""
    h = request.headers
    return (
        h.get("HX-Request") == "true"
        and h.get("HX-Boosted") != "true"
        and h.get("HX-History-Restore-Request") != "true"
    )


def redirect_to(url: str) -> Response:
    """Redirect: ``HX-Redirect`` (200) for htmx, else 303 See Other.

    303 makes the browser follow a POST with a GET (RFC 9110 section 15.4.4).
    """
    if is_htmx():
        return Response("", 200, {"HX-Redirect": url})
    return redirect(url, code=303)


def render(page: str, fragment: str, status: int = 200, **context) -> tuple[str, int]:
    """Render ``fragment`` for htmx requests, else the full ``page`` template.

    :param page: template of the whole page; it includes ``fragment``.
    :param fragment: template of the part htmx swaps (name starts with ``_``).
    :param status: 200, or 422 for a form with errors (htmx is set to swap it).
    :return: ``(html, status)`` for Flask.
    """
    return render_template(fragment if is_htmx() else page, **context), status


def done(page: str, fragment: str, message: str, url: str, **context):
    """Reply to a form that succeeded: the updated fragment for htmx, else
    post/redirect/get: ``message`` flashed and a 303 to ``url``."""
    if is_htmx():
        return render(page, fragment, **context)
    flash(str(message), "success")
    return redirect_to(url)


def init_app(app) -> None:
    """Add ``Vary: HX-Request`` to every reply, as its body depends on it, and
    make :func:`is_htmx` a template global."""
    app.jinja_env.globals["is_htmx"] = is_htmx

    @app.after_request
    def _vary(response):
        response.vary.add("HX-Request")
        return response
