"""The bare Flask "hello" app of figure 2: ``gunicorn -c gunicorn.conf.py bench.hello:app``."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello():
    return "hello"
