"""gunicorn settings of figure 8 (``bench/peer.py``), the same for the portal and its peer.

The portal's own ``gunicorn.conf.py`` (its worker class, threads, timeouts,
keep-alive, bind), with two changes for both servers: no access log (a line
formatted and written per request is not what is being compared) and no worker
recycling (``max_requests = 0``, so a worker restart in the middle of a short round
does not decide the figure). The peer (``BENCH_PEER=1``, run by its own Python)
gets the portal's worker class too, loaded from its file (it needs only gunicorn and
Werkzeug, not the portal), and gunicorn's stock logger instead of the portal's
redacting one (the portal keeps its logger: that is part of its cost).
"""

import importlib.util
import os
from pathlib import Path

_ROOT = Path(__file__).resolve().parents[2]
_PORTAL_CONF = _ROOT / "gunicorn.conf.py"
exec(compile(_PORTAL_CONF.read_text(), str(_PORTAL_CONF), "exec"))  # noqa: S102 - our own file

accesslog = None
max_requests = 0
max_requests_jitter = 0

if os.environ.get("BENCH_PEER") == "1":
    _spec = importlib.util.spec_from_file_location(
        "hubweb_gunicorn_worker", _ROOT / "hubweb" / "gunicorn_worker.py")
    _worker = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_worker)
    worker_class = _worker.ThreadWorker
    logger_class = "gunicorn.glogging.Logger"
