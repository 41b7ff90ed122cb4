"""The portal plus one bench-only page, for figure 2's breakdown.

``gunicorn -c gunicorn.conf.py bench.floor:app``: the production app
(``wsgi:app``) with two bench-only pages that answer "ok":

- ``GET /bench/floor`` needs a signed-in session. It costs what every
  signed-in page costs before its own work: the request hooks, the
  server-side session lookup (one query; on PostgreSQL in autocommit, so one
  round trip: see hubweb.sessions) and the security headers.
- ``GET /bench/anonymous``, asked without a cookie, is the same app's hooks
  and headers without any database work.

Never served in production; only the benchmark starts it.
"""

from flask_login import login_required

from wsgi import app


@app.get("/bench/floor")
@login_required
def floor():
    return "ok"


@app.get("/bench/anonymous")
def anonymous():
    return "ok"
