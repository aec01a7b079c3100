"""Jobs of the outbound webhook pipeline (app/services/outbound/), all on the "webhooks" queue
except the sweep.

Each job takes ids, re-loads its rows and is safe to run twice: the outbox event and each
message are claimed by conditional UPDATEs before anything is sent.
"""

from app.extensions import db
from app.services.outbound.delivery import send_request
from app.services.outbound.dispatch import (
    claim_message,
    dispatch_outbox_event,
    due_later,
    overdue_message_ids,
    undispatched_event_ids,
)
from app.services.outbound.queueing import enqueue_delivery, enqueue_dispatch
from app.services.outbound.retries import record_outcome
from app.tasks import job_context


def dispatch_event(event_id: int) -> int:
    """Create the event's messages (once) and queue their first delivery."""
    with job_context():
        message_ids = dispatch_outbox_event(event_id)
        db.session.commit()
        for message_id in message_ids:
            enqueue_delivery(message_id)
        return len(message_ids)


def deliver_message(message_id: int) -> int | str | None:
    """Deliver one message once if it is due and not leased elsewhere; schedule the retry."""
    with job_context():
        request = claim_message(message_id)
        db.session.commit()
        if request is None:
            due_at = due_later(message_id)
            if due_at is not None:
                # Woken early (a scheduler whose clock runs ahead): wait out the rest, don't
                # leave the retry to the sweep minutes later.
                enqueue_delivery(message_id, at=due_at)
                return "rescheduled"
            return "not sent"
        outcome = send_request(request)
        next_attempt_at = record_outcome(request, outcome)
        db.session.commit()
        if next_attempt_at is not None:
            enqueue_delivery(message_id, at=next_attempt_at)
        return outcome.status_code or outcome.error


def sweep_outbound() -> dict[str, int]:
    """Dispatch committed-but-undispatched events and re-queue overdue messages.

    Covers a crash between commit and enqueue, a Redis outage, a lost scheduled job and a
    worker killed mid-delivery (its lease expires, then the message is overdue).
    """
    with job_context():
        event_ids = undispatched_event_ids()
        message_ids = overdue_message_ids()
        db.session.commit()
        for event_id in event_ids:
            enqueue_dispatch(event_id)
        for message_id in message_ids:
            enqueue_delivery(message_id)
        return {"events": len(event_ids), "messages": len(message_ids)}
