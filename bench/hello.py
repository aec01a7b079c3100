"""The baseline: a bare Flask "hello", served by gunicorn exactly like the app."""

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "hello"
