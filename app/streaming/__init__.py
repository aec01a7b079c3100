"""The Legends live-updates process (server-sent events fed by Redis pub/sub), separate from
the web app: `app.streaming.server:create_stream_app()` under gunicorn's gevent worker."""

import sys
from pathlib import Path

TARGET = "app.streaming.server:create_stream_app()"


def gunicorn_command(bind: str, *options: str) -> list[str]:
    """The command line of the streaming process as the Procfile runs it (gunicorn, gevent
    worker) on `bind` ("127.0.0.1:5060"), for the tests, the browser stack and the bench."""
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    return [gunicorn, "--worker-class", "gevent", "--bind", bind, "--graceful-timeout", "2", *options, TARGET]
