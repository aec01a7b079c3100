"""After an attempt: the message is delivered, retried on the schedule, or failed for good,
and an endpoint that only fails is disabled.

The schedule: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (±10% jitter), or
sooner or later when a 429/503 says `Retry-After`. 410 Gone disables the endpoint at once;
an endpoint whose every delivery has failed for 5 days is disabled and its owners told.
"""

import logging
import random
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert, update

from app import metrics
from app.clock import now
from app.extensions import db
from app.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from app.services.outbound.delivery import DeliveryRequest, Outcome
from app.services.outbound.dispatch import update_messages
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
    Returns when the next attempt is due, or None. Flushed, not committed."""
    return dict(record_outcomes([(request, outcome)])).get(request.message_id)


def record_outcomes(results: Sequence[tuple[DeliveryRequest, Outcome]]) -> list[tuple[int, datetime]]:
    """Record a group of attempts (in the order they finished) in a few statements: every
    attempt in one INSERT, the delivered messages in one UPDATE per status code, each retry or
    failure in its own UPDATE. Moves each message on — delivered, retried later, or failed for
    good — and keeps each endpoint's failure record: a success clears it, a failure starts it.

    410 Gone disables the endpoint; an endpoint that has only failed for 5 days is disabled and
    its owners notified. Returns (message id, when its next attempt is due) for the retries.
    Flushed, not committed.
    """
    if not results:
        return []
    moment = now()
    db.session.execute(
        insert(WebhookAttempt),
        [
            {
                "company_id": request.company_id,
                "message_id": request.message_id,
                "attempted_at": outcome.started_at,
                "succeeded": outcome.succeeded,
                "status_code": outcome.status_code,
                "duration_ms": outcome.duration_ms,
                "response_excerpt": outcome.excerpt,
                "error": outcome.error,
            }
            for request, outcome in results
        ],
    )
    delivered: dict[int, list[int]] = defaultdict(list)  # status code → message ids
    failing: dict[int, datetime | None] = {}  # endpoint id → its failure record after the group
    cleared: set[int] = set()  # endpoints whose record a success in this group ended
    disable: dict[int, str] = {}
    retrying: list[tuple[int, datetime]] = []
    for request, outcome in results:
        if outcome.succeeded:
            assert outcome.status_code is not None
            delivered[outcome.status_code].append(request.message_id)
            if request.failing_since is not None or failing.get(request.endpoint_id) is not None:
                failing[request.endpoint_id] = None
                cleared.add(request.endpoint_id)
            outcome_name = "delivered"
        else:
            outcome_name, next_attempt_at = _record_failure(request, outcome, moment, failing, disable)
            if next_attempt_at is not None:
                retrying.append((request.message_id, next_attempt_at))
        _count_and_log(request, outcome, outcome_name)
    for status_code, message_ids in delivered.items():
        update_messages(
            message_ids,
            status="delivered",
            delivered_at=moment,
            attempt_count=WebhookMessage.attempt_count + 1,
            locked_until=None,
            next_attempt_at=None,
            last_status_code=status_code,
            last_error=None,
        )
    for endpoint_id, failing_since in failing.items():
        statement = update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
        if failing_since is not None and endpoint_id not in cleared:  # one already started stays
            statement = statement.where(WebhookEndpoint.failing_since.is_(None))
        db.session.execute(statement.values(failing_since=failing_since).execution_options(synchronize_session=False))
    for endpoint_id, reason in disable.items():
        endpoint = db.session.get_one(WebhookEndpoint, endpoint_id, populate_existing=True)
        if endpoint.enabled:
            disable_endpoint(endpoint, reason)
    return retrying


def _record_failure(
    request: DeliveryRequest,
    outcome: Outcome,
    moment: datetime,
    failing: dict[int, datetime | None],
    disable: dict[int, str],
) -> tuple[str, datetime | None]:
    """Move a message whose attempt failed on (its own UPDATE); note what happens to its
    endpoint in `failing` and `disable`. Returns the outcome's name and the next attempt's time."""
    values: dict[str, Any] = {
        "attempt_count": WebhookMessage.attempt_count + 1,
        "locked_until": None,
        "next_attempt_at": None,
        "last_status_code": outcome.status_code,
        "last_error": outcome.error or f"HTTP {outcome.status_code}",
    }
    if outcome.status_code == 410:
        values["status"] = "failed"
        disable.setdefault(request.endpoint_id, "it answered 410 Gone.")
    else:
        known = failing.get(request.endpoint_id, request.failing_since)
        failing_since = known or outcome.started_at
        if known is None:
            failing[request.endpoint_id] = failing_since
        if request.retry_index < len(RETRY_DELAYS):
            values.update(
                retry_index=request.retry_index + 1, next_attempt_at=moment + retry_delay(request.retry_index, outcome)
            )
        else:
            values["status"] = "failed"
        if moment - failing_since >= DISABLE_AFTER:
            disable.setdefault(request.endpoint_id, "every delivery has failed for 5 days.")
    update_messages([request.message_id], **values)
    return ("failed" if values.get("status") == "failed" else "retrying"), values["next_attempt_at"]


def _count_and_log(request: DeliveryRequest, outcome: Outcome, outcome_name: str) -> None:
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


def retry_delay(retry_index: int, outcome: Outcome) -> timedelta:
    """How long after a failed attempt the next one runs: what the endpoint's `Retry-After`
    asked for, else the schedule's next step with jitter."""
    if outcome.retry_after is not None:
        return outcome.retry_after
    return RETRY_DELAYS[retry_index] * random.uniform(1 - JITTER, 1 + JITTER)
