"""Prometheus metrics: what every process counts, and the text `/metrics` answers with.

Counters and histograms are module-level prometheus_client objects that services and views
update (`metrics.PAYMENTS.labels(kind="gig", outcome="succeeded").inc()`). With
`PROMETHEUS_MULTIPROC_DIR` set in the environment of every process (`make run` and the
Procfile do; gunicorn.conf.py removes a dead worker's live gauges), each process writes its
values to files there and `/metrics` adds up every process's — gunicorn workers and RQ
workers alike. Without it (tests, a single `flask run`) the process's own registry answers.

Figures that are read when scraped rather than counted (queue depths and lag, live workers)
come from `LiveCollector`, which asks Redis at scrape time.

The Legends streaming process (app/streaming) counts its open SSE connections and the
messages it relays; with PROMETHEUS_MULTIPROC_DIR set they are added to the web's /metrics,
and the stream also answers its own /metrics.
"""

import os
from collections.abc import Iterable, Iterator
from typing import Any

# prometheus_client picks multiprocess mode when the variable exists at all, even empty (as an
# empty line of .env leaves it): empty means "not set" here, as for every other setting.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR") == "":
    del os.environ["PROMETHEUS_MULTIPROC_DIR"]

from flask import Flask  # noqa: E402
from prometheus_client import (  # noqa: E402
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric  # noqa: E402
from prometheus_client.multiprocess import MultiProcessCollector  # noqa: E402
from prometheus_client.registry import Collector  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy.pool import Pool  # noqa: E402

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0)
LAG_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600)

REQUEST_LATENCY = Histogram(
    "tradepost_http_request_duration_seconds",
    "Time to answer a request, per endpoint (Flask endpoint name) and method.",
    ["endpoint", "method"],
    buckets=LATENCY_BUCKETS,
)
REQUESTS = Counter(
    "tradepost_http_requests",
    "Requests answered, per endpoint, method and status code.",
    ["endpoint", "method", "status"],
)
ERRORS = Counter(
    "tradepost_errors",
    "Unexpected errors (exceptions answered with a 500, or raised by a job), per where they happened.",
    ["where"],
)
PAYMENTS = Counter(
    "tradepost_payments",
    "Payments by kind (gig, product, subscription) and outcome (succeeded, failed, refunded).",
    ["kind", "outcome"],
)
DELIVERIES = Counter(
    "tradepost_webhook_deliveries",
    "Outbound webhook delivery attempts by outcome (delivered, retrying, failed).",
    ["outcome"],
)
DELIVERY_LAG = Histogram(
    "tradepost_webhook_delivery_lag_seconds",
    "From the moment an outbound webhook message was created to the start of each attempt.",
    buckets=LAG_BUCKETS,
)
INBOUND_EVENTS = Counter(
    "tradepost_inbound_events",
    "Inbound webhook events by provider and outcome (received, duplicate, rejected, processed, ignored, failed).",
    ["provider", "outcome"],
)
LICENSE_API = Counter(
    "tradepost_license_api_requests",
    "License API answers by action (validate, activate, deactivate, checkout) and result "
    "(the answer's code: valid, not_found, expired, rate_limited, ...).",
    ["action", "result"],
)
DB_POOL_IN_USE = Gauge(
    "tradepost_db_pool_connections_in_use",
    "Database connections checked out of the pools, summed over live processes.",
    multiprocess_mode="livesum",
)
DB_POOL_LIMIT = Gauge(
    "tradepost_db_pool_connections_limit",
    "How many connections the pools may hand out (size + overflow), summed over live processes.",
    multiprocess_mode="livesum",
)
LEGENDS_SSE_CONNECTIONS = Gauge(
    "tradepost_legends_sse_connections",
    "Open Legends live-update (SSE) connections, summed over live streaming processes.",
    multiprocess_mode="livesum",
)
LEGENDS_SSE_MESSAGES = Counter(
    "tradepost_legends_sse_messages",
    "Legends live updates written to open SSE connections (one per connection reached), by "
    "how they were sent (live, or replayed after a reconnect from Last-Event-ID).",
    ["how"],
)
DB_POOL_TIMEOUTS = Counter(
    "tradepost_db_pool_timeouts",
    "Requests for a database connection that waited the whole pool timeout (the pool was exhausted).",
)


_request_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def request_series(endpoint: str, method: str, status: int) -> tuple[Any, Any]:
    """The REQUEST_LATENCY and REQUESTS children of a request's labels, looked up once per
    process (`labels()` checks and locks on every call; a request needs both)."""
    key = (endpoint, method, status)
    found = _request_series.get(key)
    if found is None:
        found = _request_series[key] = (
            REQUEST_LATENCY.labels(endpoint, method),
            REQUESTS.labels(endpoint, method, str(status)),
        )
    return found


def multiprocess_dir() -> str | None:
    """Where every process writes its values, or None (this process's registry answers)."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition(live: Collector | None = None) -> bytes:
    """The metrics text: every process's values (multiprocess mode) or this process's, then
    the figures `live` reads at scrape time."""
    directory = multiprocess_dir()
    if directory:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    if live is not None:
        extra = CollectorRegistry(auto_describe=False)
        extra.register(live)
        text += generate_latest(extra)
    return text


class LiveCollector(Collector):
    """Queue depths, the age of each queue's oldest job and the workers alive, read from Redis
    when scraped (one process answers for all: Redis is shared). Redis down: these are left
    out and `tradepost_redis_up` is 0."""

    def __init__(self, app: Flask):
        self.app = app

    def collect(self) -> Iterable[Metric]:
        from app.health import queue_figures, worker_figures

        up = GaugeMetricFamily("tradepost_redis_up", "1 when Redis answered this scrape.")
        with self.app.app_context():
            try:
                queues = queue_figures()
                workers = worker_figures()
            except Exception:
                up.add_metric([], 0)
                yield up
                return
        up.add_metric([], 1)
        yield up
        depth = GaugeMetricFamily("tradepost_queue_depth", "Jobs waiting in each RQ queue.", labels=["queue"])
        scheduled = GaugeMetricFamily(
            "tradepost_queue_scheduled", "Jobs scheduled for later on each RQ queue.", labels=["queue"]
        )
        lag = GaugeMetricFamily(
            "tradepost_queue_lag_seconds", "How long the oldest waiting job of each queue has waited.", labels=["queue"]
        )
        for name, figures in queues.items():
            depth.add_metric([name], figures["depth"])
            scheduled.add_metric([name], figures["scheduled"])
            lag.add_metric([name], figures["lag_seconds"])
        alive = GaugeMetricFamily("tradepost_workers_alive", "RQ workers whose heartbeat is recent.")
        alive.add_metric([], workers["alive"])
        stale = GaugeMetricFamily("tradepost_workers_stale", "RQ workers registered but silent past the heartbeat.")
        stale.add_metric([], workers["stale"])
        yield from (depth, scheduled, lag, alive, stale)


def _pool_limit(pool: Pool) -> int | None:
    size = getattr(pool, "size", None)
    overflow = getattr(pool, "_max_overflow", None)
    if callable(size) and isinstance(overflow, int):
        return size() + max(overflow, 0)
    return None


def _on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    DB_POOL_IN_USE.inc()


def _on_checkin(dbapi_connection: Any, record: Any) -> None:
    DB_POOL_IN_USE.dec()


_pool_events_installed = False


def watch_pools() -> None:
    """Count checked-out connections of every SQLAlchemy pool in this process (once)."""
    global _pool_events_installed
    if _pool_events_installed:
        return
    event.listen(Pool, "checkout", _on_checkout)
    event.listen(Pool, "checkin", _on_checkin)
    _pool_events_installed = True


def set_pool_limit(pool: Pool) -> None:
    """This process's pool limit (a live gauge: a dead process's share drops out)."""
    limit = _pool_limit(pool)
    if limit is not None:
        DB_POOL_LIMIT.set(limit)


def sample_values(text: str) -> Iterator[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of every sample in a metrics text (for the operations page)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            yield sample.name, sample.labels, sample.value
