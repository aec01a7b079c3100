"""Delivery runs: due messages are claimed in batches and sent concurrently by one job, with a
bound per endpoint, outcomes committed in groups — and nothing of the single-message
guarantees lost (a killed worker's batch is sent again with the same webhook-ids, retries come
in order and on time, the SSRF guard runs for every batch).

Real HTTP (the `sink`), real Redis, the real database; the worker-process tests run `rq worker`.
"""

import socket
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, func, select

from app import clock
from app.extensions import db as _db
from app.models import WebhookAttempt, WebhookMessage
from app.queue import get_queue
from app.services.companies import create_seller_company
from app.services.outbound import dispatch, endpoints, outbox, ssrf
from app.services.outbound.catalogue import example_data
from app.services.outbound.queueing import request_delivery_run
from app.tasks.outbound import deliver_due, sweep_outbound
from tests.processes import start_worker, worker_process
from tests.waiting import wait_until

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
def seller(db, make_user):
    company = create_seller_company(make_user(intent="sell"), "Batch Studio")
    db.session.commit()
    return company


def due_messages(db, company, count_by_path, sink):
    """Endpoints on the sink (path → how many messages for it) and that many due messages of
    each one's own events, made without queueing anything; {path: [message ids, due order]}."""
    made = {}
    for path, count in count_by_path.items():
        endpoint = endpoints.create_endpoint(company, sink.url + path)
        made[path] = []
        for n in range(count):
            event = outbox.record_event(company.id, "order.created", example_data("order.created", order_id=n + 1))
            event.dispatched_at = clock.now()  # fanned out here, to this endpoint only
            made[path].append(dispatch.new_message(event, endpoint, clock.now()))
    db.session.commit()
    get_queue("webhooks").empty()  # their dispatch jobs: dispatched already, nothing to do
    return {path: [message.id for message in messages] for path, messages in made.items()}


class StatementCounter:
    """Counts SQL statements whose text starts with a prefix (an executemany counts once)."""

    def __init__(self, engine, prefix):
        self.prefix, self.count = prefix, 0
        self.engine = engine

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith(self.prefix):
            self.count += 1

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self)


def test_one_run_delivers_every_due_message_with_grouped_writes(db, app, sink, seller, run_jobs):
    made = due_messages(db, seller, {"/a": 15, "/b": 15}, sink)
    with StatementCounter(db.engine, "INSERT INTO WEBHOOK_ATTEMPTS") as inserts:
        totals = deliver_due()
    assert totals["attempts"] == totals["delivered"] == 30
    # Grouped: a claim leases many messages, a commit records many outcomes (one INSERT of
    # attempts per group), where one job per message used two commits for each.
    assert totals["claims"] <= 10 and totals["commits"] <= 10 and inserts.count <= 10, (totals, inserts.count)
    db.session.expire_all()
    messages = db.session.scalars(select(WebhookMessage)).all()
    assert {m.status for m in messages} == {"delivered"} and {m.attempt_count for m in messages} == {1}
    assert db.session.scalar(select(func.count()).select_from(WebhookAttempt)) == 30
    received = sink.on("/a") + sink.on("/b")
    assert sorted(r.headers["Webhook-Id"] for r in received) == sorted(m.public_id for m in messages)
    assert len(sink.on("/a")) == len(made["/a"]) == 15
    assert deliver_due()["attempts"] == 0  # nothing sent twice
    assert run_jobs() == 0


def test_committed_events_become_one_run_of_the_webhooks_queue(db, sink, seller, run_jobs):
    endpoints.create_endpoint(seller, sink.url + "/hook")
    db.session.commit()
    for n in range(5):
        outbox.record_event(seller.id, "order.created", example_data("order.created", order_id=n + 1))
        db.session.commit()
    queue = get_queue("webhooks")
    assert [job.func_name for job in queue.get_jobs()] == ["app.tasks.outbound.dispatch_event"] * 5
    run_jobs()
    finished = [queue.fetch_job(i) for i in queue.finished_job_registry.get_job_ids()]
    runs = [job for job in finished if job.func_name == "app.tasks.outbound.deliver_due"]
    assert len(runs) == 1  # the five dispatches asked for a run; one was queued
    assert runs[0].return_value()["delivered"] == 5
    assert len(sink.on("/hook")) == 5


def test_claims_honour_the_per_endpoint_bound_and_skip_busy_endpoints(db, sink, seller):
    made = due_messages(db, seller, {"/busy": 5, "/other": 5}, sink)
    busy = db.session.get(WebhookMessage, made["/busy"][0]).endpoint_id
    other = db.session.get(WebhookMessage, made["/other"][0]).endpoint_id
    # This worker holds 2 of the busy endpoint's messages already: only the other one's come,
    # at most 2 of them, oldest first.
    batch = dispatch.claim_due_messages(10, per_endpoint=2, held={busy: 2})
    db.session.commit()
    assert [r.message_id for r in batch.requests] == made["/other"][:2]
    assert {r.endpoint_id for r in batch.requests} == {other}
    # Leased: a second claim skips them, and the bound counts what is held.
    again = dispatch.claim_due_messages(10, per_endpoint=3, held={busy: 2, other: 2})
    db.session.commit()
    assert [r.message_id for r in again.requests] == [made["/busy"][0], made["/other"][2]]
    assert dispatch.claim_due_messages(10, message_ids=made["/other"][:3]).requests == []


@pytest.mark.committed
def test_a_slow_endpoint_holds_only_its_own_bound_and_delays_no_other(app, database_url, redis_url, sink, make_user):
    sink.respond_with(200, "slowly", path="/slow", hang=True, times=None)
    with app.app_context():
        company = create_seller_company(make_user(intent="sell"), "Mixed Studio")
        _db.session.commit()
        made = due_messages(_db, company, {"/slow": 6, "/fast": 12}, sink)
        company_id = company.id
        _db.session.remove()
        worker = start_worker(database_url, redis_url, env={"WEBHOOKS_ENDPOINT_CONCURRENCY": "2"})
        try:
            assert request_delivery_run()
            sink.wait_for("/fast", count=12, timeout=30)
            # Every fast delivery is recorded while the slow endpoint still holds its requests.
            wait_until(lambda: delivered(made["/fast"]) == 12, timeout=15, message="fast outcomes not committed")
            assert len(sink.on("/slow")) == 2  # the per-endpoint bound: 2 in flight, 4 waiting
            assert delivered(made["/slow"]) == 0
            sink.release()
            sink.wait_for("/slow", count=6, timeout=30)
            wait_until(lambda: delivered(made["/slow"]) == 6, timeout=15, message="slow outcomes not committed")
        finally:
            sink.release()
            worker.terminate()
            worker.wait(10)
        slow_ids = [r.headers["Webhook-Id"] for r in sink.on("/slow")]
        expected = _db.session.scalars(
            select(WebhookMessage.public_id)
            .where(WebhookMessage.id.in_(made["/slow"]), WebhookMessage.company_id == company_id)
            .order_by(WebhookMessage.id)
        ).all()
        assert set(slow_ids[:2]) == set(expected[:2]) and sorted(slow_ids) == sorted(expected)  # oldest first, once


def delivered(message_ids):
    try:
        return _db.session.scalar(
            select(func.count())
            .select_from(WebhookMessage)
            .where(WebhookMessage.id.in_(message_ids), WebhookMessage.status == "delivered")
        )
    finally:
        _db.session.remove()


@pytest.mark.committed
def test_a_worker_killed_mid_batch_loses_nothing(app, database_url, redis_url, sink, make_user, run_jobs):
    sink.respond_with(200, "after hanging", path="/slow", hang=True, times=2)
    with app.app_context():
        company = create_seller_company(make_user(intent="sell"), "Crashy Batch Studio")
        _db.session.commit()
        made = due_messages(_db, company, {"/slow": 5, "/fast": 4}, sink)
        _db.session.remove()  # no read transaction of ours may hold SQLite's lock
        with worker_process(database_url, redis_url, env={"WEBHOOKS_ENDPOINT_CONCURRENCY": "2"}) as worker:
            assert request_delivery_run()
            in_flight = sink.wait_for("/slow", count=2, timeout=30)
            sink.wait_for("/fast", count=4, timeout=30)
            wait_until(lambda: delivered(made["/fast"]) == 4, timeout=15, message="fast outcomes not committed")
            worker.kill()  # SIGKILL: two requests in flight, three leased and waiting
            worker.wait(10)
        sink.release()

        slow = [_db.session.get(WebhookMessage, i) for i in made["/slow"]]
        assert {(m.status, m.attempt_count) for m in slow} == {("pending", 0)}
        assert all(m.locked_until is not None for m in slow)  # leased by the dead worker
        assert sweep_outbound()["messages"] == 0  # the leases still hold
        clock.freeze(max(m.locked_until for m in slow) + timedelta(minutes=2))
        try:
            assert sweep_outbound() == {"events": 0, "messages": 5}
            run_jobs()
        finally:
            clock.freeze(None)
        _db.session.expire_all()
        slow = [_db.session.get(WebhookMessage, i) for i in made["/slow"]]
        assert {m.status for m in slow} == {"delivered"}
        received = sink.on("/slow")
        assert len(received) == 7  # the two interrupted ones again, the three never sent once
        by_id = {}
        for r in received:
            by_id.setdefault(r.headers["Webhook-Id"], []).append(r.body)
        assert set(by_id) == {m.public_id for m in slow}
        assert all(len(set(bodies)) == 1 for bodies in by_id.values())  # same message, same bytes
        assert {r.headers["Webhook-Id"] for r in in_flight} <= {
            webhook_id for webhook_id, bodies in by_id.items() if len(bodies) == 2
        }
        assert len(sink.on("/fast")) == 4  # recorded before the kill: not sent again
        for message in slow:
            assert message.attempts[0].error.startswith("Interrupted") and message.attempts[-1].succeeded


def test_retries_of_a_message_come_in_order_and_only_when_due(db, app, sink, seller, run_jobs):
    clock.freeze(T0)
    try:
        app.config["WEBHOOKS_ENDPOINT_CONCURRENCY"] = 1  # one at a time: the arrival order is ours
        made = due_messages(db, seller, {"/hook": 4}, sink)
        first = made["/hook"][0]
        first_public_id = public_id(first)
        sink.respond_with(500, "not yet", path="/hook", when=lambda r: r.headers["Webhook-Id"] == first_public_id)
        sink.respond_with(
            429, "later", {"Retry-After": "60"}, path="/hook", when=lambda r: r.headers["Webhook-Id"] == first_public_id
        )
        assert deliver_due()["attempts"] == 4
        order = [r.headers["Webhook-Id"] for r in sink.on("/hook")]
        assert order == [public_id(i) for i in made["/hook"]]  # the endpoint's messages in due order
        message = db.session.get(WebhookMessage, first, populate_existing=True)
        due = message.next_attempt_at
        assert message.status == "pending" and due > T0
        assert deliver_due()["attempts"] == 0  # not before it is due
        clock.freeze(due)
        assert deliver_due()["attempts"] == 1  # the 429: Retry-After 60 s
        message = db.session.get(WebhookMessage, first, populate_existing=True)
        assert message.next_attempt_at == due + timedelta(seconds=60)
        clock.freeze(message.next_attempt_at)
        assert deliver_due()["delivered"] == 1
        message = db.session.get(WebhookMessage, first, populate_existing=True)
        attempts = message.attempts
        assert [a.status_code for a in attempts] == [500, 429, 200] and message.attempt_count == 3
        assert [a.attempted_at for a in attempts] == sorted(a.attempted_at for a in attempts)
        assert {r.headers["Webhook-Id"] for r in sink.on("/hook")[4:]} == {message.public_id}
    finally:
        clock.freeze(None)
        run_jobs()  # the scheduled single-message retries find nothing due


def public_id(message_id):
    return _db.session.get(WebhookMessage, message_id).public_id


def test_the_ssrf_guard_looks_each_endpoint_up_once_per_batch_and_never_skips(db, app, sink, seller, monkeypatch):
    answers = {"hooks.example.test": "127.0.0.1"}
    lookups = []
    real_getaddrinfo = socket.getaddrinfo

    def counting_getaddrinfo(host, port, *args, **kwargs):
        lookups.append(host)
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", counting_getaddrinfo)
    port = int(sink.url.rsplit(":", 1)[1])
    endpoint = endpoints.create_endpoint(seller, f"http://hooks.example.test:{port}/vetted")
    db.session.flush()
    lookups.clear()  # the check when it was saved

    def make(count):
        for n in range(count):
            event = outbox.record_event(seller.id, "order.created", example_data("order.created", order_id=n + 1))
            db.session.flush()
            dispatch.dispatch_outbox_event(event.id)
        db.session.commit()

    def vetted():
        return lookups.count("hooks.example.test")  # (connecting to the vetted IP looks that up too)

    make(10)
    assert deliver_due()["delivered"] == 10
    assert vetted() == 1  # one lookup for ten messages of one batch
    answers["hooks.example.test"] = "169.254.169.254"  # DNS rebinding to the metadata service
    make(3)
    assert deliver_due()["delivered"] == 0
    assert vetted() == 2  # the next batch looked again
    refused = db.session.scalars(
        select(WebhookAttempt)
        .join(WebhookMessage)
        .where(WebhookMessage.endpoint_id == endpoint.id, ~WebhookAttempt.succeeded)
    ).all()
    assert len(refused) == 3 and all("a cloud metadata address" in a.error for a in refused)
    assert len(sink.on("/vetted")) == 10
