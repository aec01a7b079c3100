"""Retries on time, for real: an `rq worker --with-scheduler` process delivers a message whose
first attempt fails; the retry must reach the receiver at its due time, not minutes later when
the sweep would find it, and only once."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import WebhookMessage
from app.services.companies import create_seller_company
from app.services.outbound import endpoints, outbox
from app.services.outbound.catalogue import example_data
from tests.processes import start_worker
from tests.waiting import wait_until


def pending_retry(message_id):
    """The message's due time once its first attempt has been recorded (then ends the session,
    so the worker process is never kept waiting by this test's transaction on SQLite)."""
    try:
        message = db.session.get(WebhookMessage, message_id, populate_existing=True)
        return message.next_attempt_at if message.attempt_count == 1 else None
    finally:
        db.session.remove()


@pytest.mark.committed
def test_the_scheduler_attempts_a_retry_at_its_due_time_and_once(app, database_url, redis_url, sink, make_user):
    sink.respond_with(500, "not yet", path="/retry")
    with app.app_context():
        company = create_seller_company(make_user(intent="sell"), "Punctual Studio")
        endpoints.create_endpoint(company, sink.url + "/retry")
        db.session.commit()
        worker = start_worker(database_url, redis_url, "--with-scheduler")
        try:
            outbox.record_event(company.id, "order.created", example_data("order.created", order_id=7))
            db.session.commit()  # the after-commit hook queues dispatch for the worker process
            company_id = company.id
            db.session.remove()
            sink.wait_for("/retry", timeout=30)
            message_id = wait_until(
                lambda: db.session.scalar(select(WebhookMessage.id).where(WebhookMessage.company_id == company_id)),
                timeout=10,
                message="no message",
            )
            db.session.remove()
            due = wait_until(lambda: pending_retry(message_id), timeout=10, message="no retry planned")
            first, retried = sink.wait_for("/retry", count=2, timeout=30)
            wait_until(lambda: sink_settled(message_id), timeout=10, message="retry not recorded")
        finally:
            worker.terminate()
            worker.wait(10)
        assert timedelta(seconds=4) <= due - first.at <= timedelta(seconds=10)  # the first retry: 5 s ±10%
        # Released by RQ's scheduler (it polls every second) at its due second, not by the
        # sweep 2-3 minutes later; the slack is for a loaded machine.
        assert due <= retried.at <= due + timedelta(seconds=5), (due, retried.at)
        assert retried.headers["Webhook-Id"] == first.headers["Webhook-Id"]
        assert len(sink.on("/retry")) == 2


def sink_settled(message_id):
    try:
        return db.session.get(WebhookMessage, message_id, populate_existing=True).status == "delivered"
    finally:
        db.session.remove()
