"""Messages: fanning a committed event out into one message per endpoint, claiming a message
for one delivery under a lease, finding what the sweep must queue again, and replay.

Every step is a conditional UPDATE, so duplicate jobs (the after-commit job racing the sweep,
a job RQ runs twice) create or send nothing twice. Flushes, never commits.
"""

import secrets
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Row, Select, case, func, insert, literal, or_, select, true, update

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


_DUE_COLUMNS = (
    WebhookMessage.id,
    WebhookMessage.public_id,
    WebhookMessage.company_id,
    WebhookMessage.endpoint_id,
    WebhookMessage.event_id,
    WebhookMessage.attempt_count,
    WebhookMessage.retry_index,
    WebhookMessage.locked_until,
    WebhookMessage.next_attempt_at,
)
# What signing and sending a claimed message needs besides the message's own columns.
_SENDING_COLUMNS = (
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
    """Lease one due pending message for delivery and sign it; None if it is not due, leased
    elsewhere, or its endpoint is disabled (then it is marked failed, recoverable later)."""
    claimed = claim_due_messages(1, message_ids=[message_id]).requests
    return claimed[0] if claimed else None


class ClaimedBatch(NamedTuple):
    """What a claim leased and signed, and how many due rows it looked at (a full batch of
    those says more may be due)."""

    requests: list[DeliveryRequest]
    examined: int


def claim_due_messages(
    limit: int,
    per_endpoint: int | None = None,
    held: Mapping[int, int] | None = None,
    message_ids: Collection[int] | None = None,
) -> ClaimedBatch:
    """Lease up to `limit` due pending messages (oldest due first) and sign them. Flushed.

    At most `per_endpoint` messages of one endpoint, counting the `held` ones (endpoint id →
    messages this worker holds already); endpoints at that bound are left out of the query, so
    a busy endpoint's backlog cannot crowd the others out. `message_ids` narrows the claim to
    those messages. Messages of a disabled endpoint are marked failed (recoverable later), not
    returned.

    On PostgreSQL one statement locks the due rows `FOR UPDATE SKIP LOCKED`, leases them and
    returns them with their event and endpoint: workers claiming at once take disjoint messages
    without waiting for each other. SQLite
    (one writer at a time) claims them one by one, each lease a conditional UPDATE that also
    checks the counters read a moment before, so what was read is what was claimed. A lease
    left by a worker that died mid-request expires after LEASE; the next claim logs that
    interrupted attempt.
    """
    moment = now()
    held = held or {}
    full = [endpoint_id for endpoint_id, n in held.items() if per_endpoint is not None and n >= per_endpoint]
    due = (
        select(*_DUE_COLUMNS)
        .where(*_claimable(moment))
        .order_by(WebhookMessage.next_attempt_at, WebhookMessage.id)
        .limit(limit)
    )
    if full:
        due = due.where(WebhookMessage.endpoint_id.not_in(full))
    if message_ids is not None:
        due = due.where(WebhookMessage.id.in_(list(message_ids)))
    if db.session.get_bind().dialect.name == "postgresql":
        rows, examined = _claim_locked(due, moment, per_endpoint, held)
    else:
        rows, examined = _claim_serially(due, moment, per_endpoint, held)
    if not rows:
        return ClaimedBatch([], examined)
    interrupted = [row for row in rows if row.locked_until is not None]
    if interrupted:
        db.session.execute(
            insert(WebhookAttempt),
            [
                {
                    "company_id": row.company_id,
                    "message_id": row.id,
                    "attempted_at": row.locked_until - LEASE,
                    "succeeded": False,
                    "duration_ms": 0,
                    "response_excerpt": "",
                    "error": "Interrupted: the worker stopped before recording an outcome; sending again.",
                }
                for row in interrupted
            ],
        )
    disabled = [row.id for row in rows if not row.enabled]
    if disabled:
        update_messages(
            disabled,
            status="failed",
            locked_until=None,
            next_attempt_at=None,
            last_error="Not sent: the endpoint is disabled.",
        )
    secrets_by_endpoint: dict[int, list[str]] = {}
    requests = []
    for row in rows:
        if not row.enabled:
            continue
        if row.endpoint_id not in secrets_by_endpoint:  # decrypted once per endpoint per batch
            secrets_by_endpoint[row.endpoint_id] = active_secrets(
                row.secret_encrypted, row.previous_secret_encrypted, row.previous_secret_expires_at, moment
            )
        body = payload_json(row.event_public_id, row.type, row.created_at, row.company_id, row.data)
        requests.append(
            DeliveryRequest(
                message_id=row.id,
                company_id=row.company_id,
                endpoint_id=row.endpoint_id,
                url=row.url,
                body=body,
                headers=signed_headers(row.public_id, moment, body, secrets_by_endpoint[row.endpoint_id]),
                started_at=moment,
                retry_index=row.retry_index,
                failing_since=row.failing_since,
                lag_seconds=max(0.0, (moment - (row.next_attempt_at or moment)).total_seconds()),
            )
        )
    return ClaimedBatch(requests, examined)


def update_messages(message_ids: Collection[int], **values: Any) -> None:
    """One UPDATE giving the messages `values` (flushed; the session's objects are not synced)."""
    db.session.execute(
        update(WebhookMessage)
        .where(WebhookMessage.id.in_(list(message_ids)))
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def _claimable(moment: datetime) -> tuple[ColumnElement[bool], ...]:
    """Pending, due, and not leased (or its lease ran out)."""
    return (
        WebhookMessage.status == "pending",
        WebhookMessage.next_attempt_at <= moment,
        or_(WebhookMessage.locked_until.is_(None), WebhookMessage.locked_until < moment),
    )


def _claim_locked(
    due: Select[Any], moment: datetime, per_endpoint: int | None, held: Mapping[int, int]
) -> tuple[list[Row[Any]], int]:
    """PostgreSQL's claim, ONE statement: lock the due rows (SKIP LOCKED), keep each endpoint's
    first ones up to its room, lease them, and return them joined with their event and endpoint
    (the previous lease as it was, to log an interrupted attempt), plus how many due rows were
    examined. Rows locked but not leased are unlocked at commit."""
    picked = due.with_for_update(skip_locked=True).cte("picked")
    place = func.row_number().over(partition_by=picked.c.endpoint_id, order_by=(picked.c.next_attempt_at, picked.c.id))
    ranked = select(picked, place.label("place")).cte("ranked")
    lease = update(WebhookMessage).where(WebhookMessage.id == ranked.c.id)
    if per_endpoint is not None:
        rooms = {endpoint_id: per_endpoint - n for endpoint_id, n in held.items() if n < per_endpoint}
        room = case(rooms, value=ranked.c.endpoint_id, else_=per_endpoint) if rooms else literal(per_endpoint)
        lease = lease.where(ranked.c.place <= room)
    leased = (
        lease.values(
            locked_until=moment + LEASE,
            attempt_count=WebhookMessage.attempt_count + case((ranked.c.locked_until.is_(None), 0), else_=1),
        )
        .returning(*(ranked.c[column.key] for column in _DUE_COLUMNS))
        .cte("leased")
    )
    counted = select(func.count().label("examined")).select_from(picked).subquery("counted")
    sending = leased.join(OutboxEvent, OutboxEvent.id == leased.c.event_id).join(
        WebhookEndpoint, WebhookEndpoint.id == leased.c.endpoint_id
    )
    query = (
        select(counted.c.examined, *leased.c, *_SENDING_COLUMNS)
        .select_from(counted.outerjoin(sending, true()))
        .order_by(leased.c.next_attempt_at, leased.c.id)
    )
    found = db.session.execute(query).all()
    return [row for row in found if row.id is not None], found[0].examined


def _claim_serially(
    due: Select[Any], moment: datetime, per_endpoint: int | None, held: Mapping[int, int]
) -> tuple[list[Row[Any]], int]:
    """SQLite's claim (one writer at a time): read the due rows with their event and endpoint,
    then lease each by a conditional UPDATE that also checks the counters just read."""
    query = (
        due.add_columns(*_SENDING_COLUMNS)
        .join(OutboxEvent, OutboxEvent.id == WebhookMessage.event_id)
        .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
    )
    found = db.session.execute(query).all()
    taken: dict[int, int] = dict(held)
    rows = []
    for row in found:
        if per_endpoint is not None and taken.get(row.endpoint_id, 0) >= per_endpoint:
            continue
        if _lease_one(row, moment):
            taken[row.endpoint_id] = taken.get(row.endpoint_id, 0) + 1
            rows.append(row)
    return rows, len(found)


def _lease_one(row: Row[Any], moment: datetime) -> bool:
    """Lease one message if it is still as read (SQLite's serial claim)."""
    interrupted = row.locked_until is not None
    return bool(
        rows_matched(
            update(WebhookMessage)
            .where(
                WebhookMessage.id == row.id,
                WebhookMessage.attempt_count == row.attempt_count,
                WebhookMessage.retry_index == row.retry_index,
                *_claimable(moment),
            )
            .values(locked_until=moment + LEASE, attempt_count=row.attempt_count + int(interrupted))
            .execution_options(synchronize_session=False)
        )
    )


def release_messages(message_ids: Collection[int], leased_at: datetime) -> None:
    """Give back leases taken at `leased_at` for messages that were not sent (a run that
    stopped early): due again at once, for any worker, with nothing logged. Flushed."""
    if message_ids:
        db.session.execute(
            update(WebhookMessage)
            .where(
                WebhookMessage.id.in_(list(message_ids)),
                WebhookMessage.status == "pending",
                WebhookMessage.locked_until == leased_at + LEASE,
            )
            .values(locked_until=None)
            .execution_options(synchronize_session=False)
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
