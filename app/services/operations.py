"""The figures of the admin operations page: the alert targets (ops/prometheus/alerts.yml)
over the last hour and day, computed from the database, and the live metrics.

From the database (every process's work, whatever Prometheus kept): payments that succeeded
against payment failures Stripe reported, outbound messages delivered against those that
failed for good (and the attempts' success rate), inbound events by provider and status.
From the metrics (since the processes started): requests, the share answered 5xx, the p95
latency, queue depths and lag, workers alive, database connections in use.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import distinct, func, select

from app.clock import now
from app.extensions import db
from app.models import InboundEvent, Payment, WebhookAttempt, WebhookMessage

WINDOWS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
PAYMENT_FAILURE_EVENTS = ("invoice.payment_failed", "payment_intent.payment_failed")
# The targets of the requirements, as in ops/prometheus/alerts.yml.
PAYMENT_SUCCESS_TARGET = 0.98
DELIVERY_TARGET = 0.99
ERROR_RATE_TARGET = 0.01
P95_TARGET_SECONDS = 0.5
QUIET_ENDPOINTS = ("ops.", "static")


def ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


@dataclass
class WindowFigures:
    """What happened in one window (the last hour or day)."""

    name: str
    payments_succeeded: int = 0
    payments_failed: int = 0
    messages_delivered: int = 0
    messages_failed: int = 0
    attempts: int = 0
    attempts_succeeded: int = 0
    inbound: dict[tuple[str, str], int] = field(default_factory=dict)

    @property
    def payment_success(self) -> float | None:
        return ratio(self.payments_succeeded, self.payments_succeeded + self.payments_failed)

    @property
    def delivery_success(self) -> float | None:
        return ratio(self.messages_delivered, self.messages_delivered + self.messages_failed)

    @property
    def attempt_success(self) -> float | None:
        return ratio(self.attempts_succeeded, self.attempts)

    @property
    def payments_ok(self) -> bool:
        return self.payment_success is None or self.payment_success > PAYMENT_SUCCESS_TARGET

    @property
    def deliveries_ok(self) -> bool:
        return self.delivery_success is None or self.delivery_success > DELIVERY_TARGET


def window_figures(name: str) -> WindowFigures:
    """The database's figures for the window `name` ("hour" or "day") ending now."""
    since = now() - WINDOWS[name]
    figures = WindowFigures(name)
    figures.payments_succeeded = (
        db.session.scalar(select(func.count()).select_from(Payment).where(Payment.created_at >= since)) or 0
    )
    figures.payments_failed = (
        db.session.scalar(
            select(func.count())
            .select_from(InboundEvent)
            .where(InboundEvent.received_at >= since, InboundEvent.type.in_(PAYMENT_FAILURE_EVENTS))
        )
        or 0
    )
    figures.messages_delivered = (
        db.session.scalar(select(func.count()).select_from(WebhookMessage).where(WebhookMessage.delivered_at >= since))
        or 0
    )
    figures.messages_failed = (
        db.session.scalar(
            select(func.count(distinct(WebhookMessage.id)))
            .join(WebhookAttempt, WebhookAttempt.message_id == WebhookMessage.id)
            .where(WebhookMessage.status == "failed", WebhookAttempt.attempted_at >= since)
        )
        or 0
    )
    attempts = db.session.execute(
        select(func.count(), func.count().filter(WebhookAttempt.succeeded)).where(WebhookAttempt.attempted_at >= since)
    ).one()
    figures.attempts, figures.attempts_succeeded = attempts[0], attempts[1]
    rows = db.session.execute(
        select(InboundEvent.provider, InboundEvent.status, func.count())
        .where(InboundEvent.received_at >= since)
        .group_by(InboundEvent.provider, InboundEvent.status)
        .order_by(InboundEvent.provider, InboundEvent.status)
    )
    figures.inbound = {(provider, status): count for provider, status, count in rows}
    return figures


@dataclass
class LiveFigures:
    """The metrics since the processes started (all of them in multiprocess mode)."""

    requests: float = 0
    errors: float = 0
    p95_seconds: float | None = None
    queues: dict[str, dict[str, float]] = field(default_factory=dict)
    workers_alive: float | None = None
    pool_in_use: float = 0
    pool_limit: float = 0
    payments: dict[str, float] = field(default_factory=dict)
    deliveries: dict[str, float] = field(default_factory=dict)

    @property
    def error_rate(self) -> float | None:
        return ratio(self.errors, self.requests)

    @property
    def pool_usage(self) -> float | None:
        return ratio(self.pool_in_use, self.pool_limit)


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """The q-quantile of cumulative histogram `buckets` (upper bound → count), interpolated
    within its bucket as Prometheus's histogram_quantile does."""
    if not buckets:
        return None
    bounds = sorted(buckets)
    total = buckets[bounds[-1]]
    if not total:
        return None
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == float("inf"):
                return lower_bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / ((count - lower_count) or 1)
        lower_bound, lower_count = bound, count
    return bounds[-1]


def live_figures(samples: list[tuple[str, dict[str, str], float]]) -> LiveFigures:
    """Fold the metrics samples (app.metrics.sample_values) into the page's live figures."""
    live = LiveFigures()
    buckets: dict[float, float] = {}
    for name, labels, value in samples:
        endpoint = labels.get("endpoint", "")
        counted = not endpoint.startswith(QUIET_ENDPOINTS)
        if name == "tradepost_http_requests_total" and counted:
            live.requests += value
            if labels.get("status", "").startswith("5"):
                live.errors += value
        elif name == "tradepost_http_request_duration_seconds_bucket" and counted:
            bound = float(labels["le"])
            buckets[bound] = buckets.get(bound, 0.0) + value
        elif name in ("tradepost_queue_depth", "tradepost_queue_lag_seconds", "tradepost_queue_scheduled"):
            live.queues.setdefault(labels["queue"], {})[name.removeprefix("tradepost_queue_")] = value
        elif name == "tradepost_workers_alive":
            live.workers_alive = value
        elif name == "tradepost_db_pool_connections_in_use":
            live.pool_in_use = value
        elif name == "tradepost_db_pool_connections_limit":
            live.pool_limit = value
        elif name == "tradepost_payments_total":
            live.payments[labels["outcome"]] = live.payments.get(labels["outcome"], 0) + value
        elif name == "tradepost_webhook_deliveries_total":
            live.deliveries[labels["outcome"]] = live.deliveries.get(labels["outcome"], 0) + value
    live.p95_seconds = quantile(0.95, buckets)
    return live


def operations_figures(samples: list[tuple[str, dict[str, str], float]]) -> dict[str, Any]:
    """Everything the operations page shows."""
    return {
        "windows": [window_figures(name) for name in WINDOWS],
        "live": live_figures(samples),
        "targets": {
            "payment_success": PAYMENT_SUCCESS_TARGET,
            "delivery": DELIVERY_TARGET,
            "error_rate": ERROR_RATE_TARGET,
            "p95_seconds": P95_TARGET_SECONDS,
        },
    }
