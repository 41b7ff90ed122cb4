"""The portal plus one bench-only page, for figure 2's breakdown.

``gunicorn -c gunicorn.conf.py bench.floor:app``: the production app
(``wsgi:app``) with ``GET /bench/floor``, which needs a signed-in session and
answers "ok". It costs what every signed-in page costs before its own work:
the request hooks, the server-side session lookup (one query, with the
connection pool's pre-ping) and the security headers. Never served in
production; only the benchmark starts it.
"""

from flask_login import login_required

from wsgi import app


@app.get("/bench/floor")
@login_required
def floor():
    return "ok"
