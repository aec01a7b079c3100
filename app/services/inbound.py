"""The inbound webhook pipeline: store once, then handle idempotently by the handler table.

Views call `record_inbound_event` (one INSERT, ignored on replay) and, after committing,
`enqueue_inbound_event`; the job `app.tasks.inbound.process_inbound_event` calls
`handle_inbound_event`, which runs the function `services/inbound_handlers.py` lists for the
event's (provider, type). Handlers must be idempotent: the pipeline may run one twice after a
crash. Types without a handler are logged and marked ignored.
"""

import logging
from datetime import timedelta

from rq import Retry
from rq.job import Job
from sqlalchemy import or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from app import metrics
from app.clock import now
from app.extensions import db, rows_matched
from app.models import InboundEvent
from app.queue import enqueue
from app.services.inbound_handlers import HANDLERS

log = logging.getLogger(__name__)

CLAIMABLE = ("received", "failed")
RETRY = Retry(max=5, interval=[10, 60, 300, 1800, 7200])
STALE_AFTER = timedelta(minutes=10)


def record_inbound_event(provider: str, event_id: str, event_type: str, payload: dict) -> int | None:
    """Insert the event unless (provider, event_id) is already stored; returns its id or None on replay."""
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(InboundEvent)
        .values(
            provider=provider,
            event_id=event_id,
            type=event_type,
            payload=payload,
            status="received",
            attempts=0,
            received_at=now(),
        )
        .on_conflict_do_nothing(index_elements=["provider", "event_id"])
        .returning(InboundEvent.id)
    )
    return db.session.execute(statement).scalar()


def enqueue_inbound_event(event_id: int) -> Job:
    """Queue handling of a committed, stored event, retried by RQ on failure. Raises RedisError
    when the queue is down: the event stays "received" and `release_stale_inbound_events` finds it."""
    return enqueue("app.tasks.inbound.process_inbound_event", event_id, retry=RETRY)


def claim_inbound_event(event_id: int) -> bool:
    """Atomically move a received/failed event to processing; False if someone else has it or it is done."""
    matched = rows_matched(
        update(InboundEvent)
        .where(InboundEvent.id == event_id, InboundEvent.status.in_(CLAIMABLE))
        .values(status="processing", attempts=InboundEvent.attempts + 1, claimed_at=now())
    )
    return matched == 1


def handle_inbound_event(event_id: int) -> str | None:
    """Run the handler for one stored event exactly once; commits. Re-raises handler errors.

    The claim is committed first, so a concurrent run sees `processing` and stops (None); the
    handler's writes and the `processed` mark then commit together. An event whose type has no
    handler is marked `ignored`. A failing handler leaves the event `failed` with its error.
    Returns the event's new status.
    """
    if not claim_inbound_event(event_id):
        db.session.rollback()
        return None
    db.session.commit()
    event = db.session.get_one(InboundEvent, event_id)
    handler = HANDLERS.get((event.provider, event.type))
    if handler is None:
        log.info("no handler for %s event %s (%s); ignored", event.provider, event.type, event.event_id)
    try:
        if handler is not None:
            handler(event.data_object)
        event.status = "processed" if handler is not None else "ignored"
        event.processed_at = now()
        event.last_error = None
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        event = db.session.get_one(InboundEvent, event_id)
        event.status = "failed"
        event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        db.session.commit()
        _outcome(event, "failed")
        raise
    status = event.status
    _outcome(event, status)
    return status


def _outcome(event: InboundEvent | None, outcome: str) -> None:
    """Count the handled event and log one line about it."""
    if event is None:
        return
    metrics.INBOUND_EVENTS.labels(provider=event.provider, outcome=outcome).inc()
    log.log(
        logging.WARNING if outcome == "failed" else logging.INFO,
        "%s event %s %s: %s",
        event.provider,
        event.type,
        event.event_id,
        outcome,
        extra={
            "event": f"inbound.{outcome}",
            "provider": event.provider,
            "event_type": event.type,
            "event_id": event.event_id,
            "error": event.last_error,
        },
    )


def reset_inbound_event(event: InboundEvent) -> None:
    """Make a stored event processable again (admin "reprocess"); flushed, not committed."""
    event.status = "received"
    event.last_error = None
    db.session.flush()


def release_stale_inbound_events() -> list[int]:
    """Events never queued (Redis was down) or stuck in processing after a crash, made
    processable again; returns their ids for the caller to queue after committing. Flushed."""
    cutoff = now() - STALE_AFTER
    stale = db.session.scalars(
        select(InboundEvent).where(
            or_(
                (InboundEvent.status == "received") & (InboundEvent.received_at < cutoff),
                (InboundEvent.status == "processing") & (InboundEvent.claimed_at < cutoff),
            )
        )
    ).all()
    for event in stale:
        event.status = "received"
    db.session.flush()
    return [event.id for event in stale]
