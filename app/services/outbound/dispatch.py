"""Messages: fanning a committed event out into one message per endpoint, claiming a message
for one delivery under a lease, finding what the sweep must queue again, and replay.

Every step is a conditional UPDATE, so duplicate jobs (the after-commit job racing the sweep,
a job RQ runs twice) create or send nothing twice. Flushes, never commits.
"""

import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import insert, or_, select, update

from app.clock import now
from app.extensions import db, rows_matched
from app.models import OutboxEvent, WebhookAttempt, WebhookEndpoint, WebhookMessage
from app.services.outbound.delivery import DeliveryRequest
from app.services.outbound.signing import active_secrets, payload_json, signed_headers

# A claimed message is retried by the sweep only after its lease ends: longer than any request.
LEASE = timedelta(seconds=60)


def dispatch_outbox_event(event_id: int) -> list[int]:
    """Fan a committed event out into one pending message per matching enabled endpoint.

    Idempotent: the event is claimed by a conditional UPDATE, so a second run (or the sweep
    racing the after-commit job) creates nothing. Returns the new messages' ids.
    """
    moment = now()
    claimed = rows_matched(
        update(OutboxEvent)
        .where(OutboxEvent.id == event_id, OutboxEvent.dispatched_at.is_(None))
        .values(dispatched_at=moment)
        .execution_options(synchronize_session=False)
    )
    if not claimed:
        return []
    event = db.session.get_one(OutboxEvent, event_id, populate_existing=True)
    endpoints = db.session.scalars(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.company_id == event.company_id, WebhookEndpoint.enabled.is_(True))
        .order_by(WebhookEndpoint.id)
    ).all()
    messages = [new_message(event, endpoint, moment) for endpoint in endpoints if endpoint.receives(event.type)]
    db.session.flush()
    return [message.id for message in messages]


def new_message(event: OutboxEvent, endpoint: WebhookEndpoint, moment: datetime) -> WebhookMessage:
    """A pending message of `event` for `endpoint`, due at `moment` (added, not flushed)."""
    message = WebhookMessage(
        company_id=event.company_id,
        public_id="msg_" + secrets.token_hex(12),
        event_id=event.id,
        endpoint_id=endpoint.id,
        event_type=event.type,
        status="pending",
        next_attempt_at=moment,
        created_at=moment,
    )
    db.session.add(message)
    return message


_CLAIM_COLUMNS = (
    WebhookMessage.id,
    WebhookMessage.public_id,
    WebhookMessage.company_id,
    WebhookMessage.endpoint_id,
    WebhookMessage.attempt_count,
    WebhookMessage.retry_index,
    WebhookMessage.locked_until,
    WebhookMessage.next_attempt_at,
    OutboxEvent.public_id.label("event_public_id"),
    OutboxEvent.type,
    OutboxEvent.created_at,
    OutboxEvent.data,
    WebhookEndpoint.url,
    WebhookEndpoint.enabled,
    WebhookEndpoint.secret_encrypted,
    WebhookEndpoint.previous_secret_encrypted,
    WebhookEndpoint.previous_secret_expires_at,
    WebhookEndpoint.failing_since,
)


def claim_message(message_id: int) -> DeliveryRequest | None:
    """Lease a due pending message for one delivery and sign it; None if it is not due, leased
    elsewhere, or its endpoint is disabled (then it is marked failed, recoverable later).

    The lease is a conditional UPDATE that also checks the attempt counters read a moment
    before, so what was read is what was claimed. A lease left by a worker that died
    mid-request expires after LEASE; the next claim logs that interrupted attempt.
    """
    moment = now()
    row = db.session.execute(
        select(*_CLAIM_COLUMNS)
        .join(OutboxEvent, OutboxEvent.id == WebhookMessage.event_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
        .where(WebhookMessage.id == message_id)
    ).one_or_none()
    if row is None:
        return None
    interrupted = row.locked_until is not None
    claimed = rows_matched(
        update(WebhookMessage)
        .where(
            WebhookMessage.id == message_id,
            WebhookMessage.status == "pending",
            WebhookMessage.next_attempt_at <= moment,
            WebhookMessage.attempt_count == row.attempt_count,
            WebhookMessage.retry_index == row.retry_index,
            or_(WebhookMessage.locked_until.is_(None), WebhookMessage.locked_until < moment),
        )
        .values(locked_until=moment + LEASE, attempt_count=row.attempt_count + int(interrupted))
        .execution_options(synchronize_session=False)
    )
    if not claimed:
        return None
    if interrupted:
        db.session.execute(
            insert(WebhookAttempt).values(
                company_id=row.company_id,
                message_id=message_id,
                attempted_at=row.locked_until - LEASE,
                succeeded=False,
                duration_ms=0,
                response_excerpt="",
                error="Interrupted: the worker stopped before recording an outcome; sending again.",
            )
        )
    if not row.enabled:
        db.session.execute(
            update(WebhookMessage)
            .where(WebhookMessage.id == message_id)
            .values(
                status="failed",
                locked_until=None,
                next_attempt_at=None,
                last_error="Not sent: the endpoint is disabled.",
            )
            .execution_options(synchronize_session=False)
        )
        return None
    body = payload_json(row.event_public_id, row.type, row.created_at, row.company_id, row.data)
    secrets_now = active_secrets(
        row.secret_encrypted, row.previous_secret_encrypted, row.previous_secret_expires_at, moment
    )
    return DeliveryRequest(
        message_id=message_id,
        company_id=row.company_id,
        endpoint_id=row.endpoint_id,
        url=row.url,
        body=body,
        headers=signed_headers(row.public_id, moment, body, secrets_now),
        started_at=moment,
        retry_index=row.retry_index,
        failing_since=row.failing_since,
        lag_seconds=max(0.0, (moment - (row.next_attempt_at or moment)).total_seconds()),
    )


def due_later(message_id: int) -> datetime | None:
    """When a pending, unleased message becomes due, if that is still in the future; else None
    (delivered, failed, leased by a worker, or due already)."""
    moment = now()
    return db.session.scalar(
        select(WebhookMessage.next_attempt_at).where(
            WebhookMessage.id == message_id,
            WebhookMessage.status == "pending",
            WebhookMessage.next_attempt_at > moment,
            or_(WebhookMessage.locked_until.is_(None), WebhookMessage.locked_until < moment),
        )
    )


def undispatched_event_ids(older_than: timedelta = timedelta(seconds=30), limit: int = 500) -> Sequence[int]:
    """Committed events still waiting for dispatch (their after-commit enqueue was lost)."""
    return db.session.scalars(
        select(OutboxEvent.id)
        .where(OutboxEvent.dispatched_at.is_(None), OutboxEvent.created_at <= now() - older_than)
        .order_by(OutboxEvent.id)
        .limit(limit)
    ).all()


def overdue_message_ids(grace: timedelta = timedelta(minutes=2), limit: int = 1000) -> Sequence[int]:
    """Pending messages whose delivery job should have run by now but did not (lost or killed)."""
    moment = now()
    return db.session.scalars(
        select(WebhookMessage.id)
        .where(
            WebhookMessage.status == "pending",
            WebhookMessage.next_attempt_at <= moment - grace,
            or_(WebhookMessage.locked_until.is_(None), WebhookMessage.locked_until < moment),
        )
        .order_by(WebhookMessage.next_attempt_at)
        .limit(limit)
    ).all()


def _requeue(message: WebhookMessage) -> None:
    message.status = "pending"
    message.retry_index = 0
    message.next_attempt_at = now()
    message.locked_until = None


def resend_message(message: WebhookMessage) -> bool:
    """Send a message again now, with the same webhook-id, restarting its retry schedule.

    A message being delivered right now (leased) is left alone; returns whether it was requeued.
    """
    if message.status == "pending" and message.locked_until and message.locked_until > now():
        return False
    _requeue(message)
    db.session.flush()
    return True


def recover_failed_messages(endpoint: WebhookEndpoint, since: datetime) -> list[WebhookMessage]:
    """Resend every failed message of the endpoint created at or after `since`; returns them."""
    messages = list(
        db.session.scalars(
            select(WebhookMessage)
            .where(
                WebhookMessage.endpoint_id == endpoint.id,
                WebhookMessage.status == "failed",
                WebhookMessage.created_at >= since,
            )
            .order_by(WebhookMessage.id)
        ).all()
    )
    for message in messages:
        _requeue(message)
    db.session.flush()
    return messages
