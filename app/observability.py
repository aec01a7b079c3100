"""Request ids, the access log line, request metrics and (optionally) Sentry, for the web app.

Every request gets a request id: the caller's `X-Request-ID` when it is a sane token, else a
new one; it is echoed in the response's `X-Request-ID`, carried by every log record made while
answering (app/logs.py), stored in the meta of every RQ job enqueued meanwhile (app/queue.py)
so the job logs with it too, and sent as `X-Request-ID` on the outbound webhooks those jobs
deliver. One access line per request (`app.access`): method, path, route, status, duration,
user and company — health probes and static files at DEBUG so they don't drown the rest.
"""

import logging
import os
import time
from contextlib import suppress
from typing import Any

from flask import Flask, Response, current_app, request

from app import logs, metrics
from app.extensions import db

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_ENVIRON = "HTTP_X_REQUEST_ID"  # the header as WSGI hands it over
QUIET_ENDPOINTS = frozenset({"ops.healthz", "ops.readyz", "ops.metrics_text", "static"})
_TOKEN_KEY = "tradepost.log_token"
_STARTED_KEY = "tradepost.started"

access_log = logging.getLogger("app.access")
ACCESS_FORMAT = "%s %s %s %.1fms"


def init_app(app: Flask) -> None:
    """Register the request hooks first, so a request refused by a later hook (CSRF, body
    size, rate limits) still has its id, its log line and its metrics."""
    init_sentry(app)
    directory = metrics.multiprocess_dir()
    if directory:  # prometheus_client writes there at the first count; make sure it can
        os.makedirs(directory, exist_ok=True)
    if app.config["METRICS_ENABLED"]:
        metrics.watch_pools()
        with app.app_context():
            metrics.set_pool_limit(db.engine.pool)
        app.extensions["metrics_live"] = metrics.LiveCollector(app)
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_forget)


def init_sentry(app: Flask) -> None:
    """Report unexpected errors of the web app and of jobs to Sentry when SENTRY_DSN is set."""
    dsn = app.config.get("SENTRY_DSN")
    if not dsn:
        return
    import sentry_sdk

    sentry_sdk.init(
        dsn=dsn,
        environment=app.config["ENV_NAME"],
        traces_sample_rate=app.config["SENTRY_TRACES_SAMPLE_RATE"],
        send_default_pii=False,
    )


def _start() -> None:
    environ = request.environ
    if _TOKEN_KEY in environ:  # a test client re-entering the same request
        return
    environ[_STARTED_KEY] = time.perf_counter()
    request_id = logs.clean_request_id(environ.get(REQUEST_ID_ENVIRON))
    environ[_TOKEN_KEY] = logs.bind(request_id=request_id, route=request.endpoint)
    if current_app.config.get("SENTRY_DSN"):
        import sentry_sdk

        sentry_sdk.set_tag("request_id", request_id)


def _finish(response: Response) -> Response:
    req = request._get_current_object()  # type: ignore[attr-defined]  # one context lookup, not one per use
    started = req.environ.get(_STARTED_KEY)
    request_id = logs.current_request_id()
    if started is None or request_id is None:
        return response
    response.headers[REQUEST_ID_HEADER] = request_id
    duration = time.perf_counter() - started
    endpoint = req.endpoint or "unmatched"
    method = req.method
    status = response.status_code
    if current_app.config["METRICS_ENABLED"]:
        latency, answered = metrics.request_series(endpoint, method, status)
        latency.observe(duration)
        answered.inc()
    level = logging.DEBUG if endpoint in QUIET_ENDPOINTS else logging.INFO
    if access_log.isEnabledFor(level):
        path = req.path
        fields: dict[str, Any] = {
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(duration * 1000, 1),
        }
        # Logger.log without its walk up the stack for the caller's file and line: always here.
        args = (method, path, status, duration * 1000)
        record = access_log.makeRecord(
            access_log.name, level, __file__, _FINISH_LINE, ACCESS_FORMAT, args, None, "_finish", fields
        )
        access_log.handle(record)
    return response


_FINISH_LINE = _finish.__code__.co_firstlineno


def _forget(_exc: BaseException | None) -> None:
    token = request.environ.pop(_TOKEN_KEY, None)
    if token is not None:
        with suppress(ValueError):  # bound in another context (a streamed response): it ends there
            logs.unbind(token)


def count_unexpected_error(where: str, exc: BaseException) -> None:
    """Count an unexpected error (and its pool exhaustion), and send it to Sentry if on."""
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    if current_app.config.get("METRICS_ENABLED", True):
        metrics.ERRORS.labels(where=where).inc()
        if isinstance(exc, PoolTimeout):
            metrics.DB_POOL_TIMEOUTS.inc()
    if current_app.config.get("SENTRY_DSN"):
        import sentry_sdk

        sentry_sdk.capture_exception(exc)
