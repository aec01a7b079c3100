"""After an attempt: the message is delivered, retried on the schedule, or failed for good,
and an endpoint that only fails is disabled.

The schedule: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (±10% jitter), or
sooner or later when a 429/503 says `Retry-After`. 410 Gone disables the endpoint at once;
an endpoint whose every delivery has failed for 5 days is disabled and its owners told.
"""

import logging
import random
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, update

from app import metrics
from app.clock import now
from app.extensions import db
from app.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from app.services.outbound.delivery import DeliveryRequest, Outcome
from app.services.outbound.endpoints import disable_endpoint

# After attempt n fails, attempt n+1 runs RETRY_DELAYS[n-1] later (±10% jitter): 8 attempts.
RETRY_DELAYS = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)
JITTER = 0.1
DISABLE_AFTER = timedelta(days=5)
log = logging.getLogger("app.webhooks")


def record_outcome(request: DeliveryRequest, outcome: Outcome) -> datetime | None:
    """Log the attempt and move the message on: delivered, retried later, or failed for good.

    410 Gone disables the endpoint; an endpoint that has only failed for 5 days is disabled and
    its owners notified. Returns when the next attempt is due, or None. Flushed, not committed.
    """
    moment = now()
    db.session.execute(
        insert(WebhookAttempt).values(
            company_id=request.company_id,
            message_id=request.message_id,
            attempted_at=outcome.started_at,
            succeeded=outcome.succeeded,
            status_code=outcome.status_code,
            duration_ms=outcome.duration_ms,
            response_excerpt=outcome.excerpt,
            error=outcome.error,
        )
    )
    values: dict[str, Any] = {
        "attempt_count": WebhookMessage.attempt_count + 1,
        "locked_until": None,
        "next_attempt_at": None,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error or (None if outcome.succeeded else f"HTTP {outcome.status_code}"),
    }
    endpoint_values: dict[str, Any] = {}
    disable_reason = None
    if outcome.succeeded:
        values.update(status="delivered", delivered_at=moment)
        if request.failing_since is not None:
            endpoint_values["failing_since"] = None
    elif outcome.status_code == 410:
        values["status"] = "failed"
        disable_reason = "it answered 410 Gone."
    else:
        failing_since = request.failing_since or outcome.started_at
        if request.failing_since is None:
            endpoint_values["failing_since"] = failing_since
        if request.retry_index < len(RETRY_DELAYS):
            values.update(
                retry_index=request.retry_index + 1, next_attempt_at=moment + retry_delay(request.retry_index, outcome)
            )
        else:
            values["status"] = "failed"
        if moment - failing_since >= DISABLE_AFTER:
            disable_reason = "every delivery has failed for 5 days."
    db.session.execute(
        update(WebhookMessage)
        .where(WebhookMessage.id == request.message_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if endpoint_values:
        db.session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == request.endpoint_id)
            .values(**endpoint_values)
            .execution_options(synchronize_session=False)
        )
    outcome_name = "delivered" if outcome.succeeded else ("failed" if values.get("status") == "failed" else "retrying")
    metrics.DELIVERIES.labels(outcome=outcome_name).inc()
    metrics.DELIVERY_LAG.observe(request.lag_seconds)
    log.log(
        logging.INFO if outcome.succeeded else logging.WARNING,
        "webhook message %s %s",
        request.message_id,
        outcome_name,
        extra={
            "event": f"webhook.{outcome_name}",
            "message_id": request.message_id,
            "endpoint_id": request.endpoint_id,
            "status_code": outcome.status_code,
            "error": outcome.error,
            "duration_ms": outcome.duration_ms,
            "lag_seconds": round(request.lag_seconds, 3),
            "attempt": request.retry_index + 1,
        },
    )
    if disable_reason:
        endpoint = db.session.get_one(WebhookEndpoint, request.endpoint_id, populate_existing=True)
        if endpoint.enabled:
            disable_endpoint(endpoint, disable_reason)
    return values["next_attempt_at"]


def retry_delay(retry_index: int, outcome: Outcome) -> timedelta:
    """How long after a failed attempt the next one runs: what the endpoint's `Retry-After`
    asked for, else the schedule's next step with jitter."""
    if outcome.retry_after is not None:
        return outcome.retry_after
    return RETRY_DELAYS[retry_index] * random.uniform(1 - JITTER, 1 + JITTER)
