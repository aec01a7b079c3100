"""Jobs of the outbound webhook pipeline, all on the "webhooks" queue except the sweep.

Each job takes ids, re-loads its rows and is safe to run twice: the outbox event and each
message are claimed by conditional UPDATEs before anything is sent.
"""
import logging
import math
from datetime import datetime, timezone

from redis.exceptions import RedisError

from app.clock import now
from app.extensions import db
from app.tasks import enqueue, get_queue, job_context

QUEUE = "webhooks"
log = logging.getLogger(__name__)


def enqueue_dispatch(event_id):
    """Queue the fan-out of a committed outbox event."""
    return enqueue("app.tasks.outbound.dispatch_event", event_id, queue=QUEUE)


def enqueue_delivery(message_id, at=None):
    """Queue one delivery now, or at `at` with RQ's scheduler (the sweep is the safety net)."""
    if at is not None and at > now():
        return get_queue(QUEUE).enqueue_at(scheduler_time(at), "app.tasks.outbound.deliver_message",
                                           message_id)
    return enqueue("app.tasks.outbound.deliver_message", message_id, queue=QUEUE)


def scheduler_time(at):
    """`at` rounded up to a whole second. RQ's scheduler keeps whole seconds (it truncates) and
    releases a job as soon as its clock reaches that second: 12:00:05.7 would run at 12:00:05,
    before the message is due."""
    return datetime.fromtimestamp(math.ceil(at.timestamp()), timezone.utc)


def try_enqueue_deliveries(message_ids):
    """Queue committed, due messages for delivery now. False when the queue (Redis) is down:
    they stay pending and due, so the sweep sends them once it is back, each once (the lease)."""
    try:
        for message_id in message_ids:
            enqueue_delivery(message_id)
    except RedisError:
        log.warning("delivery queue unavailable; the sweep will send messages %s", list(message_ids))
        return False
    return True


def dispatch_event(event_id):
    """Create the event's messages (once) and queue their first delivery."""
    from app.services.outbound import dispatch_outbox_event

    with job_context():
        message_ids = dispatch_outbox_event(event_id)
        db.session.commit()
        for message_id in message_ids:
            enqueue_delivery(message_id)
        return len(message_ids)


def deliver_message(message_id):
    """Deliver one message once if it is due and not leased elsewhere; schedule the retry."""
    from app.services import outbound

    with job_context():
        request = outbound.claim_message(message_id)
        db.session.commit()
        if request is None:
            due_at = outbound.due_later(message_id)
            if due_at is not None:
                # Woken early (a scheduler whose clock runs ahead): wait out the rest, don't
                # leave the retry to the sweep minutes later.
                enqueue_delivery(message_id, at=due_at)
                return "rescheduled"
            return "not sent"
        outcome = outbound.send_request(request)
        next_attempt_at = outbound.record_outcome(request, outcome)
        db.session.commit()
        if next_attempt_at is not None:
            enqueue_delivery(message_id, at=next_attempt_at)
        return outcome.status_code or outcome.error


def sweep_outbound():
    """Dispatch committed-but-undispatched events and re-queue overdue messages.

    Covers a crash between commit and enqueue, a Redis outage, a lost scheduled job and a
    worker killed mid-delivery (its lease expires, then the message is overdue).
    """
    from app.services.outbound import overdue_message_ids, undispatched_event_ids

    with job_context():
        event_ids = undispatched_event_ids()
        message_ids = overdue_message_ids()
        db.session.commit()
        for event_id in event_ids:
            enqueue_dispatch(event_id)
        for message_id in message_ids:
            enqueue_delivery(message_id)
        return {"events": len(event_ids), "messages": len(message_ids)}
