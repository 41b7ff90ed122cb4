"""WSGI entry point: ``gunicorn -c gunicorn.conf.py wsgi:app``, ``flask --app wsgi``.

Logging is configured here, in the process's entry point, not in the app
factory (which tests and other programs call too).
"""

import logging

from hubweb import create_app

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
app = create_app()
