"""Enqueueing the outbound jobs, by dotted path (services never import `app.tasks`).

Dispatch and first deliveries go on the "webhooks" queue now; a retry is enqueued for its due
time with RQ's scheduler. Redis is not the source of truth: what could not be queued stays
pending in the database and the sweep (`app.tasks.outbound.sweep_outbound`) queues it later.
"""

import logging
import math
from collections.abc import Iterable
from datetime import UTC, datetime

from redis.exceptions import RedisError
from rq.job import Job

from app.clock import now
from app.queue import enqueue, get_queue

QUEUE = "webhooks"
DISPATCH_JOB = "app.tasks.outbound.dispatch_event"
DELIVERY_JOB = "app.tasks.outbound.deliver_message"
log = logging.getLogger(__name__)


def enqueue_dispatch(event_id: int) -> Job:
    """Queue the fan-out of a committed outbox event."""
    return enqueue(DISPATCH_JOB, event_id, queue=QUEUE)


def enqueue_delivery(message_id: int, at: datetime | None = None) -> Job:
    """Queue one delivery now, or at `at` with RQ's scheduler (the sweep is the safety net)."""
    if at is not None and at > now():
        return get_queue(QUEUE).enqueue_at(scheduler_time(at), DELIVERY_JOB, message_id)
    return enqueue(DELIVERY_JOB, message_id, queue=QUEUE)


def scheduler_time(at: datetime) -> datetime:
    """`at` rounded up to a whole second. RQ's scheduler keeps whole seconds (it truncates) and
    releases a job as soon as its clock reaches that second: 12:00:05.7 would run at 12:00:05,
    before the message is due."""
    return datetime.fromtimestamp(math.ceil(at.timestamp()), UTC)


def try_enqueue_deliveries(message_ids: Iterable[int]) -> bool:
    """Queue committed, due messages for delivery now. False when the queue (Redis) is down:
    they stay pending and due, so the sweep sends them once it is back, each once (the lease)."""
    message_ids = list(message_ids)
    try:
        for message_id in message_ids:
            enqueue_delivery(message_id)
    except RedisError:
        log.warning("delivery queue unavailable; the sweep will send messages %s", message_ids)
        return False
    return True
