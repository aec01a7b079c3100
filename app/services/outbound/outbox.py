"""Recording outbound events: the outbox row commits or rolls back with the change that caused
it, and its dispatch is queued only after the commit. Also the seller's "send a test event"."""

import logging
import secrets
from typing import Any

from sqlalchemy import delete, select

from app.clock import now
from app.extensions import db, rows_matched
from app.models import OutboxEvent, WebhookEndpoint, WebhookMessage
from app.services.after_commit import AfterCommit
from app.services.legends.awards import on_domain_event
from app.services.outbound.catalogue import EVENT_CATALOGUE, TEST_EVENT_DATA_MESSAGE, TEST_EVENT_TYPE
from app.services.outbound.dispatch import new_message
from app.services.outbound.queueing import enqueue_dispatch

log = logging.getLogger(__name__)
# Dispatch of the events a transaction recorded, queued once it commits (else the sweep
# dispatches it). `enqueue_dispatch` is looked up at each call, as a test replaces it.
_DISPATCH_AFTER_COMMIT = AfterCommit(
    "outbound_pending_event_ids",
    lambda event_id: enqueue_dispatch(event_id),
    log,
    "could not enqueue dispatch of outbox event %s",
)


def new_event_id() -> str:
    """A fresh public event id (`evt_` + 24 hex digits)."""
    return "evt_" + secrets.token_hex(12)


def record_event(company_id: int, event_type: str, data: dict[str, Any]) -> OutboxEvent:
    """Record `event_type` for the company in the caller's transaction; flushed, never committed.

    Guarantees: the event exists only if the caller's transaction commits; once it commits,
    dispatch is enqueued by the session's after-commit hook, and should that enqueue be lost
    (crash, Redis down) the sweep dispatches it. A rolled-back transaction sends nothing.
    Raises ValueError for a type not in the catalogue.
    """
    if event_type not in EVENT_CATALOGUE:
        raise ValueError(f"unknown outbound event type {event_type!r}")
    event = OutboxEvent(company_id=company_id, public_id=new_event_id(), type=event_type, data=data)
    db.session.add(event)
    db.session.flush()
    _DISPATCH_AFTER_COMMIT.remember(event.id)
    on_domain_event(event)  # Legends XP for the events that earn it (app/services/legends/awards.py)
    return event


def send_test_event(endpoint: WebhookEndpoint) -> WebhookMessage:
    """A `webhook.test` event addressed to this endpoint only; returns its pending message
    (flushed: the caller commits, then queues its delivery)."""
    moment = now()
    event = OutboxEvent(
        company_id=endpoint.company_id,
        public_id=new_event_id(),
        type=TEST_EVENT_TYPE,
        created_at=moment,
        dispatched_at=moment,
        data={"endpoint_id": endpoint.id, "message": TEST_EVENT_DATA_MESSAGE},
    )
    db.session.add(event)
    db.session.flush()
    message = new_message(event, endpoint, moment)
    db.session.flush()
    return message


def withdraw_test_event(message_id: int) -> bool:
    """Delete a test event whose delivery could not be queued (Redis down), so what the seller
    is told is true: it was not sent and nothing is left to be sent later.

    A worker that already claimed the message (the queue took the job after all) keeps it:
    returns False then, True when the message and its event are gone. Flushed, not committed.
    """
    event_id = db.session.scalar(
        select(WebhookMessage.event_id).where(
            WebhookMessage.id == message_id, WebhookMessage.event_type == TEST_EVENT_TYPE
        )
    )
    deleted = rows_matched(
        delete(WebhookMessage)
        .where(
            WebhookMessage.id == message_id,
            WebhookMessage.event_type == TEST_EVENT_TYPE,
            WebhookMessage.attempt_count == 0,
            WebhookMessage.locked_until.is_(None),
        )
        .execution_options(synchronize_session=False)
    )
    if not deleted:
        return False
    db.session.execute(
        delete(OutboxEvent).where(OutboxEvent.id == event_id).execution_options(synchronize_session=False)
    )
    db.session.flush()
    return True
