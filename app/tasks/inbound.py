"""Jobs of the inbound webhook pipeline."""
from datetime import timedelta

from rq import Retry
from sqlalchemy import or_, select

from app.clock import now
from app.extensions import db
from app.models import InboundEvent
from app.tasks import enqueue, job_context

RETRY = Retry(max=5, interval=[10, 60, 300, 1800, 7200])
STALE_AFTER = timedelta(minutes=10)


def enqueue_inbound_event(event_id):
    """Queue processing of a stored event, retried by RQ on failure."""
    return enqueue("app.tasks.inbound.process_inbound_event", event_id, retry=RETRY)


def process_inbound_event(event_id):
    """Process one stored webhook event; idempotent, safe to run twice."""
    from app.services.inbound import process_inbound_event as process

    with job_context():
        return process(event_id)


def requeue_stale_inbound_events():
    """Re-queue events never queued (Redis was down) or stuck in processing after a crash."""
    with job_context():
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
        db.session.commit()
        for event in stale:
            enqueue_inbound_event(event.id)
        return len(stale)
