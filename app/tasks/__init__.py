"""Redis, RQ queues and the helpers jobs use.

Jobs are enqueued by dotted path with ids, never ORM objects, and run inside an app context
built once per worker process (`job_context`). Workers are RQ `SimpleWorker`s: no fork per job.
"""
from contextlib import contextmanager

from flask import current_app, has_app_context
from redis import Redis
from rq import Queue

QUEUE_NAMES = ("default", "webhooks", "scheduled")
_worker_app = None


def init_app(app):
    """Attach one Redis connection pool to the app."""
    app.extensions["redis"] = Redis.from_url(app.config["REDIS_URL"], socket_timeout=5,
                                             socket_connect_timeout=2)


def get_redis():
    return current_app.extensions["redis"]


def get_queue(name="default"):
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    return Queue(name, connection=get_redis())


def enqueue(dotted_path, *args, queue="default", **kwargs):
    """Enqueue the function at `dotted_path` (e.g. 'app.tasks.sweeps.prune_notifications')."""
    return get_queue(queue).enqueue(dotted_path, *args, **kwargs)


@contextmanager
def job_context():
    """The app context a job runs in: the caller's if there is one, else one per process."""
    global _worker_app
    if has_app_context():
        yield current_app
        return
    if _worker_app is None:
        from app import create_app

        _worker_app = create_app()
    with _worker_app.app_context():
        yield _worker_app
