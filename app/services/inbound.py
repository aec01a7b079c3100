"""The inbound webhook pipeline: store once, then process idempotently by registered handler.

Views call `record_inbound_event` (one INSERT, ignored on replay); the job calls
`process_inbound_event`. Handlers register per (provider, event type) with `@handles` and
must be idempotent: the pipeline may run one twice after a crash.
"""
from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite

from app.clock import now
from app.extensions import db
from app.models import InboundEvent

HANDLERS = {}
CLAIMABLE = ("received", "failed")


def handles(provider, *event_types):
    """Register the decorated function as the handler of these event types."""

    def register(func):
        for event_type in event_types:
            HANDLERS[(provider, event_type)] = func
        return func

    return register


def record_inbound_event(provider, event_id, event_type, payload):
    """Insert the event unless (provider, event_id) is already stored; returns its id or None on replay."""
    insert = (postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert)
    statement = (
        insert(InboundEvent)
        .values(provider=provider, event_id=event_id, type=event_type, payload=payload,
                status="received", attempts=0, received_at=now())
        .on_conflict_do_nothing(index_elements=["provider", "event_id"])
        .returning(InboundEvent.id)
    )
    return db.session.execute(statement).scalar()


def claim_inbound_event(event_id):
    """Atomically move a received/failed event to processing; False if someone else has it or it is done."""
    result = db.session.execute(
        update(InboundEvent)
        .where(InboundEvent.id == event_id, InboundEvent.status.in_(CLAIMABLE))
        .values(status="processing", attempts=InboundEvent.attempts + 1, claimed_at=now())
    )
    return result.rowcount == 1


def process_inbound_event(event_id):
    """Run the handler for one stored event exactly once; commits. Re-raises handler errors.

    The claim is committed first, so a concurrent run sees `processing` and stops; the
    handler's writes and the `processed` mark then commit together.
    """
    if not claim_inbound_event(event_id):
        db.session.rollback()
        return None
    db.session.commit()
    event = db.session.get(InboundEvent, event_id)
    handler = HANDLERS.get((event.provider, event.type))
    try:
        if handler is not None:
            handler(event)
        event.status = "processed" if handler is not None else "ignored"
        event.processed_at = now()
        event.last_error = None
        db.session.commit()
    except Exception as exc:
        db.session.rollback()
        event = db.session.get(InboundEvent, event_id)
        event.status = "failed"
        event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        db.session.commit()
        raise
    return event.status


def reset_inbound_event(event):
    """Make a stored event processable again (admin "reprocess"); flushed, not committed."""
    event.status = "received"
    event.last_error = None
    db.session.flush()
