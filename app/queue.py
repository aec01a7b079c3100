"""Redis and the RQ queues: the one connection pool, and enqueueing jobs by dotted path.

Views and services schedule work through `enqueue("app.tasks.module.job", ids...)`: they
name a job, never import it, so `app/tasks/` (which builds the app to run jobs) is imported
by nothing in the web app. Jobs take ids, never ORM objects.

Every job enqueued while a request (or a job) is being handled carries its request id in
`job.meta["request_id"]`; the job logs under that id (`app.tasks.job_context`).
"""

from typing import Any

from flask import Flask, current_app
from redis import Redis
from rq import Queue
from rq.job import Job

from app.logs import current_request_id

QUEUE_NAMES = ("default", "webhooks", "scheduled")


def init_app(app: Flask) -> None:
    """Attach one Redis connection pool to the app."""
    app.extensions["redis"] = Redis.from_url(app.config["REDIS_URL"], socket_timeout=5, socket_connect_timeout=2)


def get_redis() -> Redis:
    """The app's Redis connection (pooled)."""
    return current_app.extensions["redis"]


class TracedQueue(Queue):
    """An RQ queue whose jobs carry the request id of whoever enqueued them."""

    def create_job(self, *args: Any, meta: dict | None = None, **kwargs: Any) -> Job:
        request_id = current_request_id()
        if request_id is not None:
            meta = {"request_id": request_id, **(meta or {})}
        return super().create_job(*args, meta=meta, **kwargs)


def get_queue(name: str = "default") -> Queue:
    """The RQ queue `name`, one of QUEUE_NAMES."""
    if name not in QUEUE_NAMES:
        raise ValueError(f"unknown queue {name!r}")
    return TracedQueue(name, connection=get_redis())


def enqueue(dotted_path: str, *args: Any, queue: str = "default", **kwargs: Any) -> Job:
    """Enqueue the function at `dotted_path` (e.g. 'app.tasks.sweeps.prune_notifications')."""
    return get_queue(queue).enqueue(dotted_path, *args, **kwargs)
