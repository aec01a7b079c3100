"""Crash safety, for real: an `rq worker` process is killed with SIGKILL while its delivery is
in flight; the message's lease expires, the sweep re-queues it and a fresh worker delivers it.

Nothing is mocked: the worker is the `rq` CLI running a SimpleWorker against the test Redis
and database, the receiver is a loopback HTTP server that holds the first request open.
"""

from datetime import timedelta

import pytest
from sqlalchemy import select

from app import clock
from app.models import WebhookMessage
from app.services.companies import create_seller_company
from app.services.outbound import endpoints, outbox, signing
from app.services.outbound.catalogue import example_data
from app.tasks.outbound import sweep_outbound
from tests.processes import worker_process
from tests.waiting import wait_until


@pytest.mark.committed
def test_worker_killed_mid_delivery_loses_nothing(app, database_url, redis_url, sink, make_user, run_jobs):
    with app.app_context():
        from app.extensions import db

        company = create_seller_company(make_user(intent="sell"), "Crashy Studio")
        endpoint = endpoints.create_endpoint(company, sink.url + "/slow")
        db.session.commit()
        secret = signing.endpoint_secret(endpoint)
        sink.respond_with(200, "ok after hanging", path="/slow", hang=True)
        with worker_process(database_url, redis_url) as worker:
            outbox.record_event(company.id, "order.completed", example_data("order.completed", order_id=5))
            db.session.commit()  # the after-commit hook queues dispatch for the worker process
            [in_flight] = sink.wait_for("/slow", timeout=30)
            worker.kill()  # SIGKILL mid-request: no outcome can be recorded
            worker.wait(10)
        sink.release()

        db.session.expire_all()
        message = db.session.scalars(select(WebhookMessage)).one()
        assert message.status == "pending" and message.attempt_count == 0
        assert message.locked_until is not None  # leased by the dead worker
        assert sweep_outbound()["messages"] == 0  # the lease still holds

        clock.freeze(message.locked_until + timedelta(minutes=2))
        try:
            assert sweep_outbound() == {"events": 0, "messages": 1}
            run_jobs()  # a fresh worker drains the queue
        finally:
            clock.freeze(None)

        redelivered = wait_until(lambda: sink.on("/slow")[1:], message="no redelivery")[0]
        assert redelivered.headers["Webhook-Id"] == in_flight.headers["Webhook-Id"] == message.public_id
        assert redelivered.body == in_flight.body
        from standardwebhooks import Webhook

        Webhook(secret).verify(redelivered.body, redelivered.headers)
        db.session.expire_all()
        message = db.session.get(WebhookMessage, message.id)
        assert message.status == "delivered"
        assert [(a.status_code, a.error is not None) for a in message.attempts] == [(None, True), (200, False)]
        assert message.attempts[0].error.startswith("Interrupted")
