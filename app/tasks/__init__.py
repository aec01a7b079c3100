"""RQ jobs: the outbound and inbound webhook pipelines, order sweeps and housekeeping.

Jobs are enqueued by dotted path with ids (`app.queue.enqueue`), re-load their rows and run
inside an app context built once per worker process (`job_context`). Workers are RQ
`SimpleWorker`s: no fork per job. Jobs call services; services never import jobs.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app, has_app_context
from rq import get_current_job

from app import create_app
from app.logs import bind_context, current_request_id, new_request_id

_worker_app: Flask | None = None


@contextmanager
def job_context() -> Iterator[Flask]:
    """The app context a job runs in (the caller's if there is one, else one per process),
    logging under the request id of whoever enqueued the job (a new one for cron's jobs).
    An exception the job raises is counted (and sent to Sentry when it is on), then re-raised
    for RQ to record."""
    global _worker_app
    job = get_current_job()
    request_id = (job.meta.get("request_id") if job is not None else None) or current_request_id() or new_request_id()
    with bind_context(request_id=request_id, job_id=job.id if job is not None else None):
        if has_app_context():
            with _counting_errors(current_app):
                yield current_app
            return
        if _worker_app is None:
            _worker_app = create_app()
        with _worker_app.app_context(), _counting_errors(_worker_app):
            yield _worker_app


@contextmanager
def _counting_errors(app: Flask) -> Iterator[None]:
    from app.observability import count_unexpected_error

    try:
        yield
    except Exception as exc:
        count_unexpected_error("job", exc)
        raise
