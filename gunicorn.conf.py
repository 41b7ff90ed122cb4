"""gunicorn settings for production: ``gunicorn -c gunicorn.conf.py wsgi:app``.

Each argon2id check holds 64 MiB (RFC 9106 low-memory profile) for about the
time of one hash; hubweb.admission bounds them per worker (``HUBWEB_PASSWORD_CHECKS``,
below ``threads`` so that pages always find a thread): see README, "Sizing
workers". Override with the environment variables below.
"""

import multiprocessing
import os

bind = os.environ.get("HUBWEB_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2))
threads = int(os.environ.get("HUBWEB_THREADS", "4"))
# gunicorn's gthread worker, changed so that an oversized or slowly sent request body
# cannot stall other clients: the worker's main loop no longer waits up to 2 s on
# each closing connection, a body must arrive within HUBWEB_BODY_TIMEOUT (10 s), and
# a reply that leaves a body unread closes the connection. The cause, measured, is
# in hubweb/gunicorn_worker.py; `make bench` figure 6 keeps it measured.
worker_class = "hubweb.gunicorn_worker.ThreadWorker"
# Above the SMS gateway and SMTP timeouts (10 s each), so a slow provider
# fails the request cleanly before gunicorn kills the worker.
timeout = int(os.environ.get("HUBWEB_WORKER_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
max_requests = 2000
# A recycling worker accepts no connection until its last requests are done, and
# its replacement starts only then: spread the recycling (2000-3000 requests) so the
# workers of a server, which serve about the same number of requests, rarely stop
# together (with 200 both once stopped within 4 s of each other under figure 6).
max_requests_jitter = 1000
accesslog = "-"
# Reset and confirmation tokens live in the path: this logger redacts them.
logger_class = "hubweb.logredact.GunicornLogger"
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(L)ss "%(a)s"'
errorlog = "-"
forwarded_allow_ips = os.environ.get("HUBWEB_FORWARDED_ALLOW_IPS", "127.0.0.1")
