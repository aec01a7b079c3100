"""Enqueueing the outbound jobs, by dotted path (services never import `app.tasks`).

Dispatch goes on the "webhooks" queue now and asks for a delivery run
(`app.tasks.outbound.deliver_due`: a worker leases due messages in batches and sends them
concurrently). At most one run waits in the queue at a time (a Redis flag, cleared when the
run starts); a run that finds a full batch asks for another, so idle workers join in. A retry
is enqueued for its due time with RQ's scheduler, one message per job. Redis is not the source
of truth: what could not be queued stays pending in the database and the sweep
(`app.tasks.outbound.sweep_outbound`) queues it later.
"""

import logging
import math
from collections.abc import Iterable
from datetime import UTC, datetime

from redis.exceptions import RedisError
from rq.job import Job

from app.clock import now
from app.queue import enqueue, get_queue, get_redis

QUEUE = "webhooks"
DISPATCH_JOB = "app.tasks.outbound.dispatch_event"
DELIVERY_JOB = "app.tasks.outbound.deliver_message"
RUN_JOB = "app.tasks.outbound.deliver_due"
# Set while a delivery run waits in the queue; expires in case that job is lost with Redis.
RUN_QUEUED_KEY = "outbound:delivery-run-queued"
RUN_QUEUED_TTL = 30
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


def request_delivery_run() -> bool:
    """Ask for a delivery run of every due message, unless one is waiting to start already;
    True if this call queued it. Raises RedisError when Redis is down."""
    redis = get_redis()
    if not redis.set(RUN_QUEUED_KEY, 1, nx=True, ex=RUN_QUEUED_TTL):
        return False
    try:
        enqueue(RUN_JOB, queue=QUEUE)
    except Exception:
        redis.delete(RUN_QUEUED_KEY)
        raise
    return True


def delivery_run_started() -> None:
    """A run has left the queue: the next request queues another (it may find new messages)."""
    get_redis().delete(RUN_QUEUED_KEY)


def try_enqueue_deliveries(message_ids: Iterable[int]) -> bool:
    """Queue committed, due messages for delivery now, in one batched run. False when the queue
    (Redis) is down: they stay pending and due, so the sweep sends them once it is back, each
    once (the lease)."""
    message_ids = list(message_ids)
    try:
        if len(message_ids) == 1:
            enqueue_delivery(message_ids[0])
        elif message_ids:
            enqueue(RUN_JOB, message_ids, queue=QUEUE)
    except RedisError:
        log.warning("delivery queue unavailable; the sweep will send messages %s", message_ids)
        return False
    return True
