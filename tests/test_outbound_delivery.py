"""Outbound webhooks over real HTTP: a loopback sink receives signed deliveries; retries follow
the schedule under a controllable clock; Retry-After, 410, rotation and SSRF refusals."""

import socket
from datetime import UTC, datetime, timedelta

import pytest
from rq.job import Job
from sqlalchemy import func, select
from standardwebhooks import Webhook

from app import clock
from app.models import Notification, OutboxEvent, WebhookAttempt, WebhookEndpoint, WebhookMessage
from app.queue import get_queue
from app.services.companies import create_seller_company
from app.services.outbound import delivery, dispatch, endpoints, outbox, retries, signing, ssrf
from app.services.outbound.catalogue import example_data
from app.tasks.outbound import sweep_outbound

T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@pytest.fixture
def frozen():
    """Freeze app.clock at T0; call the returned function to move it."""
    clock.freeze(T0)
    yield lambda moment: clock.freeze(moment)
    clock.freeze(None)


@pytest.fixture
def seller(db, make_user):
    owner = make_user(intent="sell")
    company = create_seller_company(owner, "Hooked Studio")
    db.session.commit()
    return company


@pytest.fixture
def make_endpoint(db, sink):
    def make(company, path="/hook", **columns):
        endpoint = endpoints.create_endpoint(company, sink.url + path, **columns)
        db.session.commit()
        return endpoint

    return make


def commit_event(db, company, event_type="order.created", data=None):
    event = outbox.record_event(company.id, event_type, data or example_data(event_type, order_id=1))
    db.session.commit()
    return event


def signatures(received):
    return received.headers["Webhook-Signature"].split(" ")


def signed_by(received, secret):
    """Whether `secret` produced one of the request's signatures (the clock may be moved, so
    this recomputes with the package rather than checking the timestamp's freshness)."""
    moment = datetime.fromtimestamp(int(received.headers["Webhook-Timestamp"]), UTC)
    expected = Webhook(secret).sign(received.headers["Webhook-Id"], moment, received.body.decode())
    return expected in signatures(received)


def only_message(db):
    db.session.expire_all()
    return db.session.scalars(select(WebhookMessage)).one()


def test_committed_event_is_delivered_signed_and_logged(db, sink, seller, make_endpoint, run_jobs):
    endpoint = make_endpoint(seller)
    data = example_data("order.created", order_id=42, amount_cents=12000)
    event = commit_event(db, seller, data=data)
    run_jobs()
    [received] = sink.wait_for("/hook")
    payload = Webhook(signing.endpoint_secret(endpoint)).verify(received.body, received.headers)
    assert payload == {
        "id": event.public_id,
        "type": "order.created",
        "company_id": seller.id,
        "created": payload["created"],
        "data": data,
    }
    assert payload["id"].startswith("evt_") and payload["created"].endswith("Z")
    message = only_message(db)
    assert received.headers["Webhook-Id"] == message.public_id
    assert received.headers["Content-Type"] == "application/json"
    assert received.headers["User-Agent"] == delivery.USER_AGENT
    assert (message.status, message.attempt_count, message.last_status_code) == ("delivered", 1, 200)
    attempt = db.session.scalars(select(WebhookAttempt)).one()
    assert attempt.succeeded and attempt.status_code == 200 and attempt.response_excerpt == "ok"
    assert attempt.duration_ms >= 0 and attempt.error is None


def test_rolled_back_transaction_sends_nothing(db, sink, seller, make_endpoint, run_jobs, frozen):
    make_endpoint(seller)
    outbox.record_event(seller.id, "order.created", example_data("order.created", order_id=1))
    db.session.rollback()
    assert run_jobs() == 0
    frozen(T0 + timedelta(hours=1))
    sweep_outbound()
    assert run_jobs() == 0
    assert db.session.scalar(select(func.count()).select_from(OutboxEvent)) == 0
    assert sink.requests == []


def test_sweep_dispatches_a_committed_event_whose_enqueue_was_lost(
    db, sink, seller, make_endpoint, run_jobs, frozen, monkeypatch
):
    make_endpoint(seller)

    def redis_down(event_id):
        raise ConnectionError("Redis is down")

    with monkeypatch.context() as patch:
        patch.setattr("app.services.outbound.outbox.enqueue_dispatch", redis_down)
        commit_event(db, seller)
    assert run_jobs() == 0
    assert sweep_outbound() == {"events": 0, "messages": 0}  # too fresh: its own job may be running
    frozen(T0 + timedelta(minutes=1))
    assert sweep_outbound() == {"events": 1, "messages": 0}
    run_jobs()
    assert len(sink.wait_for("/hook")) == 1
    assert only_message(db).status == "delivered"
    assert sweep_outbound() == {"events": 0, "messages": 0}


def test_dispatch_is_idempotent_and_respects_filters(db, sink, seller, make_endpoint, run_jobs):
    make_endpoint(seller, "/all")
    make_endpoint(seller, "/orders-only", event_types=["order.created"])
    make_endpoint(seller, "/off", enabled=False)
    event = commit_event(db, seller, "payment.succeeded", example_data("payment.succeeded", payment_id=9))
    run_jobs()
    assert dispatch.dispatch_outbox_event(event.id) == []
    assert [len(sink.on(p)) for p in ("/all", "/orders-only", "/off")] == [1, 0, 0]


def test_message_for_an_endpoint_disabled_meanwhile_is_not_sent(db, sink, seller, make_endpoint, run_jobs):
    endpoint = make_endpoint(seller)
    event = outbox.record_event(seller.id, "order.created", example_data("order.created", order_id=1))
    db.session.flush()
    [message_id] = dispatch.dispatch_outbox_event(event.id)
    endpoint.enabled = False
    db.session.commit()
    from app.tasks.outbound import deliver_message

    assert deliver_message(message_id) == "not sent"
    message = only_message(db)
    assert (message.status, message.last_error) == ("failed", "Not sent: the endpoint is disabled.")
    assert sink.requests == []


def test_other_companies_endpoints_never_receive(db, sink, seller, make_endpoint, make_user, run_jobs):
    other = create_seller_company(make_user(intent="sell"), "Other Studio")
    db.session.commit()
    make_endpoint(other, "/other")
    commit_event(db, seller)
    run_jobs()
    assert sink.on("/other") == []


def test_failures_are_retried_on_the_schedule(db, sink, seller, make_endpoint, run_jobs, frozen):
    endpoint = make_endpoint(seller)
    secret = signing.endpoint_secret(endpoint)
    sink.respond_with(500, "boom", path="/hook", times=8)
    commit_event(db, seller)
    run_jobs()
    queue = get_queue("webhooks")
    for n, delay in enumerate(retries.RETRY_DELAYS, start=1):
        message = only_message(db)
        attempts = message.attempts
        assert (message.status, message.attempt_count, len(attempts)) == ("pending", n, n)
        waited = message.next_attempt_at - attempts[-1].attempted_at
        assert delay * 0.9 <= waited <= delay * 1.1, (n, waited)
        # The retry is scheduled in RQ for exactly next_attempt_at; play the scheduler's part.
        [job_id] = queue.scheduled_job_registry.get_job_ids()
        scheduled = queue.scheduled_job_registry.get_scheduled_time(job_id)
        assert abs(scheduled - message.next_attempt_at) < timedelta(seconds=1)
        frozen(message.next_attempt_at)
        run_scheduled_retries()
        run_jobs()
    message = only_message(db)
    assert (message.status, message.attempt_count, message.next_attempt_at) == ("failed", 8, None)
    assert queue.scheduled_job_registry.get_job_ids() == []
    deliveries = sink.on("/hook")
    assert len(deliveries) == 8
    assert {d.headers["Webhook-Id"] for d in deliveries} == {message.public_id}
    assert {d.body for d in deliveries} == {deliveries[0].body}
    assert all(signed_by(d, secret) for d in deliveries)
    assert db.session.get(WebhookEndpoint, endpoint.id).enabled  # 28 hours is not 5 days


def test_retry_after_is_honoured_on_429_and_503(db, sink, seller, make_endpoint, run_jobs, frozen):
    make_endpoint(seller)
    sink.respond_with(429, "slow down", {"Retry-After": "120"}, path="/hook")
    sink.respond_with(503, "maintenance", {"Retry-After": "Sun, 22 Nov 2026 15:00:00 GMT"}, path="/hook")
    commit_event(db, seller)
    run_jobs()
    message = only_message(db)
    assert message.next_attempt_at == T0 + timedelta(seconds=120)
    assert message.attempts[0].status_code == 429 and message.attempts[0].response_excerpt == "slow down"
    frozen(message.next_attempt_at)
    run_scheduled_retries()
    run_jobs()
    message = only_message(db)
    assert message.next_attempt_at == datetime(2026, 11, 22, 15, 0, tzinfo=UTC)
    assert message.attempt_count == 2 and message.status == "pending"


def play_scheduler(frozen, run_jobs, rounds=5):
    """Do what RQ's scheduler does, when it does it: RQ stores a job's time in whole seconds and
    releases it once the clock reaches that second. Moves the clock to each scheduled job's RQ
    time, enqueues the job and runs it, until nothing is scheduled; returns the times used."""
    queue = get_queue("webhooks")
    registry = queue.scheduled_job_registry
    released = []
    for _ in range(rounds):
        job_ids = registry.get_job_ids()
        if not job_ids:
            break
        moment = min(registry.get_scheduled_time(job_id) for job_id in job_ids)
        frozen(moment)
        released.append(moment)
        for job_id in job_ids:
            if registry.get_scheduled_time(job_id) <= moment:
                registry.remove(job_id)
                queue.enqueue_job(Job.fetch(job_id, connection=queue.connection))
        run_jobs()
    return released


def test_a_retry_due_at_t_is_attempted_at_t_and_once(db, sink, seller, make_endpoint, run_jobs, frozen):
    """RQ keeps whole seconds: a retry due at 12:00:05.7 used to be released at 12:00:05, refused
    as not yet due, and left for the sweep (2-3 minutes late)."""
    make_endpoint(seller)
    sink.respond_with(500, "boom", path="/hook")
    frozen(T0 + timedelta(milliseconds=250))
    commit_event(db, seller)
    run_jobs()
    due = only_message(db).next_attempt_at
    assert due.microsecond != 0  # a due time between two seconds, as real retries have

    released = play_scheduler(frozen, run_jobs)
    assert released and all(moment >= due for moment in released)
    message = only_message(db)
    assert message.status == "delivered" and message.attempt_count == 2
    retried = message.attempts[1].attempted_at
    assert due <= retried <= due + timedelta(seconds=1)
    frozen(due + timedelta(minutes=10))
    assert sweep_outbound() == {"events": 0, "messages": 0}
    run_jobs()
    assert len(sink.on("/hook")) == 2


def test_a_retry_woken_early_is_rescheduled_for_its_due_time(db, sink, seller, make_endpoint, run_jobs, frozen):
    """A scheduler whose clock runs ahead releases the job early: it is put back for the time
    that remains, not dropped for the sweep to find minutes later."""
    make_endpoint(seller)
    sink.respond_with(500, "boom", path="/hook")
    commit_event(db, seller)
    run_jobs()
    due = only_message(db).next_attempt_at
    frozen(due - timedelta(seconds=1.5))
    run_scheduled_retries()  # released 1.5 s early
    run_jobs()
    assert len(sink.on("/hook")) == 1 and only_message(db).attempt_count == 1

    released = play_scheduler(frozen, run_jobs)
    assert released and released[0] >= due
    message = only_message(db)
    assert message.status == "delivered" and due <= message.attempts[1].attempted_at <= due + timedelta(seconds=1)
    assert len(sink.on("/hook")) == 2


def run_scheduled_retries():
    """Do what RQ's scheduler does when the clock reaches the retries: enqueue them now."""
    queue = get_queue("webhooks")
    for job_id in queue.scheduled_job_registry.get_job_ids():
        queue.scheduled_job_registry.remove(job_id)
        queue.enqueue_job(Job.fetch(job_id, connection=queue.connection))


def test_410_disables_the_endpoint_and_tells_the_owner(db, sink, seller, make_endpoint, run_jobs):
    endpoint = make_endpoint(seller)
    sink.respond_with(410, "gone", path="/hook")
    commit_event(db, seller)
    run_jobs()
    message = only_message(db)
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert message.status == "failed" and not endpoint.enabled
    assert "410" in endpoint.disabled_reason
    owner_id = seller.members[0].user_id
    note = db.session.scalars(select(Notification).where(Notification.user_id == owner_id)).one()
    assert note.kind == "webhook_endpoint_disabled" and endpoint.url in note.body
    commit_event(db, seller)
    run_jobs()
    assert len(sink.on("/hook")) == 1


def test_five_days_of_failures_disable_the_endpoint(db, sink, seller, make_endpoint, run_jobs, frozen):
    endpoint = make_endpoint(seller)
    # Every delivery fails: a run also sends the earlier messages' retries that are due by then.
    sink.respond_with(500, "down", path="/hook", times=None)
    commit_event(db, seller)
    run_jobs()
    assert db.session.get(WebhookEndpoint, endpoint.id).failing_since == T0
    frozen(T0 + timedelta(days=4))
    commit_event(db, seller)
    run_jobs()
    assert db.session.get(WebhookEndpoint, endpoint.id).enabled
    frozen(T0 + timedelta(days=5, minutes=1))
    commit_event(db, seller)
    run_jobs()
    db.session.expire_all()
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert not endpoint.enabled and "5 days" in endpoint.disabled_reason
    assert (
        db.session.scalar(
            select(func.count()).select_from(Notification).where(Notification.kind == "webhook_endpoint_disabled")
        )
        == 1
    )


def test_a_success_clears_the_failure_record(db, sink, seller, make_endpoint, run_jobs, frozen):
    endpoint = make_endpoint(seller)
    sink.respond_with(500, "down", path="/hook")
    commit_event(db, seller)
    run_jobs()
    frozen(T0 + timedelta(days=5, minutes=1))
    commit_event(db, seller)
    run_jobs()
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert endpoint.enabled and endpoint.failing_since is None


def test_rotation_signs_with_both_secrets_for_24_hours(db, sink, seller, make_endpoint, run_jobs, frozen):
    endpoint = make_endpoint(seller)
    old_secret = signing.endpoint_secret(endpoint)
    clock.freeze(None)
    endpoints.rotate_endpoint_secret(endpoint)
    db.session.commit()
    new_secret = signing.endpoint_secret(endpoint)
    assert new_secret != old_secret and new_secret.startswith("whsec_")
    commit_event(db, seller)
    run_jobs()
    [received] = sink.wait_for("/hook")
    assert len(signatures(received)) == 2
    for secret in (old_secret, new_secret):
        Webhook(secret).verify(received.body, received.headers)
    frozen(endpoint.previous_secret_expires_at + timedelta(seconds=1))
    commit_event(db, seller)
    run_jobs()
    later = sink.wait_for("/hook", 2)[1]
    assert len(signatures(later)) == 1
    assert signed_by(later, new_secret) and not signed_by(later, old_secret)


def test_secrets_are_standard_and_encrypted_at_rest(db, seller, make_endpoint):
    endpoint = make_endpoint(seller)
    secret = signing.endpoint_secret(endpoint)
    assert secret.startswith("whsec_") and len(Webhook(secret)._whsecret) == 24
    assert secret not in endpoint.secret_encrypted and "whsec_" not in endpoint.secret_encrypted


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://localhost/hook",
        "https://[::1]/hook",
        "https://[fd00:ec2::254]/",
        "https://192.168.0.10/",
        "https://224.0.0.1/",
        "https://0.0.0.0/",
        "https://[::ffff:127.0.0.1]/",
    ],
)
def test_private_and_metadata_urls_are_refused_at_save(db, seller, url):
    with pytest.raises(endpoints.EndpointInvalid) as refused:
        endpoints.create_endpoint(seller, url)
    assert "public internet" in refused.value.errors["url"]


def test_public_https_url_is_accepted_and_https_is_required_when_configured(db, app, seller, monkeypatch):
    assert endpoints.create_endpoint(seller, "https://93.184.215.14/hook").id
    monkeypatch.setitem(app.config, "WEBHOOKS_REQUIRE_HTTPS", True)
    with pytest.raises(endpoints.EndpointInvalid) as refused:
        endpoints.create_endpoint(seller, "http://93.184.215.14/hook")
    assert refused.value.errors["url"] == "Use an https:// URL."
    for bad in ("ftp://93.184.215.14/", "https://user:pw@93.184.215.14/", "not a url"):
        with pytest.raises(endpoints.EndpointInvalid):
            endpoints.create_endpoint(seller, bad)


def test_production_requires_https_by_default(app, monkeypatch):
    monkeypatch.delitem(app.config, "WEBHOOKS_REQUIRE_HTTPS")
    monkeypatch.setitem(app.config, "ENV_NAME", "production")
    with app.app_context():
        assert ssrf.require_https()


def test_private_address_is_refused_again_at_delivery(db, app, sink, seller, make_endpoint, run_jobs):
    make_endpoint(seller)
    app.config["WEBHOOKS_ALLOW_PRIVATE_NETWORKS"] = False
    commit_event(db, seller)
    run_jobs()
    message = only_message(db)
    assert sink.requests == []
    assert message.status == "pending" and message.attempt_count == 1
    assert message.attempts[0].error.startswith("Refused: 127.0.0.1 resolves to 127.0.0.1, a loopback")


def test_dns_that_changes_to_loopback_after_save_is_refused(db, app, sink, seller, run_jobs, monkeypatch):
    """DNS rebinding: the hostname was public when saved, resolves to loopback when sending."""
    answers = {"hooks.example.test": "93.184.215.14"}
    real_getaddrinfo = socket.getaddrinfo

    def fake_getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", fake_getaddrinfo)
    app.config["WEBHOOKS_ALLOW_PRIVATE_NETWORKS"] = False
    port = int(sink.url.rsplit(":", 1)[1])
    endpoints.create_endpoint(seller, f"http://hooks.example.test:{port}/rebind")
    db.session.commit()
    answers["hooks.example.test"] = "127.0.0.1"
    commit_event(db, seller)
    run_jobs()
    assert sink.requests == []
    assert "a loopback address" in only_message(db).attempts[0].error


@pytest.mark.parametrize(
    "address, reason",
    [
        ("169.254.169.254", "a cloud metadata address"),
        ("169.254.10.1", "a link-local address"),
        ("fd00:ec2::254", "a cloud metadata address"),
    ],
)
def test_dns_that_changes_to_metadata_is_refused_even_with_private_networks_allowed(
    db, app, sink, seller, run_jobs, monkeypatch, address, reason
):
    """The development setting that allows loopback and private endpoints never allows
    link-local or cloud metadata addresses, at delivery time too."""
    answers = {"hooks.example.test": "127.0.0.1"}
    real_getaddrinfo = socket.getaddrinfo

    def fake_getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            family = socket.AF_INET6 if ":" in answers[host] else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real_getaddrinfo(host, port, *args, **kwargs)

    monkeypatch.setattr(ssrf.socket, "getaddrinfo", fake_getaddrinfo)
    assert app.config["WEBHOOKS_ALLOW_PRIVATE_NETWORKS"]
    port = int(sink.url.rsplit(":", 1)[1])
    endpoints.create_endpoint(seller, f"http://hooks.example.test:{port}/meta")
    db.session.commit()
    commit_event(db, seller)
    run_jobs()
    assert len(sink.wait_for("/meta")) == 1  # loopback is fine in development
    answers["hooks.example.test"] = address
    commit_event(db, seller)
    run_jobs()
    assert len(sink.on("/meta")) == 1
    refused = db.session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id.desc())).first()
    assert refused.status_code is None and f"resolves to {address}, {reason}" in refused.error


def test_delivery_connects_to_the_vetted_address_with_the_original_host(db, sink, seller, run_jobs, monkeypatch):
    port = int(sink.url.rsplit(":", 1)[1])
    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(
        ssrf.socket,
        "getaddrinfo",
        lambda host, p, *a, **k: real_getaddrinfo("127.0.0.1" if host == "hooks.example.test" else host, p, *a, **k),
    )
    endpoints.create_endpoint(seller, f"http://hooks.example.test:{port}/pinned")
    db.session.commit()
    commit_event(db, seller)
    run_jobs()
    [received] = sink.wait_for("/pinned")
    assert received.headers["Host"] == f"hooks.example.test:{port}"


def test_redirects_are_not_followed_and_bodies_are_capped(db, sink, seller, make_endpoint, run_jobs):
    make_endpoint(seller)
    sink.respond_with(302, "moved", {"Location": sink.url + "/elsewhere"}, path="/hook")
    sink.respond_with(500, "x" * 100_000, path="/hook")
    commit_event(db, seller)
    commit_event(db, seller)
    run_jobs()
    assert sink.on("/elsewhere") == []
    attempts = db.session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id)).all()
    assert [a.status_code for a in attempts] == [302, 500]
    assert not attempts[0].succeeded
    assert len(attempts[1].response_excerpt) == delivery.RESPONSE_EXCERPT_BYTES


def test_unreachable_endpoint_records_the_error(db, sink, seller, run_jobs):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    endpoints.create_endpoint(seller, f"http://127.0.0.1:{closed_port}/nobody")
    db.session.commit()
    commit_event(db, seller)
    run_jobs()
    message = only_message(db)
    assert message.status == "pending" and message.attempts[0].status_code is None
    assert "ConnectError" in message.attempts[0].error


def test_resend_and_recover_reuse_the_message_id(db, sink, seller, make_endpoint, run_jobs, frozen):
    make_endpoint(seller)
    sink.respond_with(500, "down", path="/hook")
    commit_event(db, seller)
    run_jobs()
    message = only_message(db)
    message.status, message.next_attempt_at = "failed", None
    db.session.commit()
    failed = dispatch.recover_failed_messages(message.endpoint, T0 - timedelta(minutes=1))
    assert [m.id for m in failed] == [message.id]
    db.session.commit()
    from app.services.outbound.queueing import enqueue_delivery

    enqueue_delivery(message.id)
    run_jobs()
    message = only_message(db)
    assert message.status == "delivered" and message.attempt_count == 2
    assert {r.headers["Webhook-Id"] for r in sink.on("/hook")} == {message.public_id}
    assert dispatch.recover_failed_messages(message.endpoint, T0) == []


def test_unknown_event_types_are_refused(db, seller):
    with pytest.raises(ValueError):
        outbox.record_event(seller.id, "order.exploded", {})
