"""A Flask "hello world", the ceiling conformance/bench_scim.py compares Roster to.

    gunicorn --workers 2 conformance.bench_peers.hello:app
"""

from __future__ import annotations

from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "Hello, World!"
