"""Jobs of the inbound webhook pipeline (services/inbound.py does the work)."""

from app.extensions import db
from app.services.inbound import enqueue_inbound_event, handle_inbound_event, release_stale_inbound_events
from app.tasks import job_context


def process_inbound_event(event_id: int) -> str | None:
    """Handle one stored webhook event; idempotent, safe to run twice."""
    with job_context():
        return handle_inbound_event(event_id)


def requeue_stale_inbound_events() -> int:
    """Re-queue events never queued (Redis was down) or stuck in processing after a crash."""
    with job_context():
        event_ids = release_stale_inbound_events()
        db.session.commit()
        for event_id in event_ids:
            enqueue_inbound_event(event_id)
        return len(event_ids)
