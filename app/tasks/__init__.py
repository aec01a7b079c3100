"""RQ jobs: the outbound and inbound webhook pipelines, order sweeps and housekeeping.

Jobs are enqueued by dotted path with ids (`app.queue.enqueue`), re-load their rows and run
inside an app context built once per worker process (`job_context`). Workers are RQ
`SimpleWorker`s: no fork per job. Jobs call services; services never import jobs.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, has_app_context

from app import create_app

_worker_app: Flask | None = None


@contextmanager
def job_context() -> Iterator[Flask]:
    """The app context a job runs in: the caller's if there is one, else one per process."""
    global _worker_app
    if has_app_context():
        yield current_app
        return
    if _worker_app is None:
        _worker_app = create_app()
    with _worker_app.app_context():
        yield _worker_app
