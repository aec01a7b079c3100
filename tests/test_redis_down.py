"""Redis stopped, for real: a private redis-server is started, an app is built on it, the process
is stopped, and the pages and APIs people use are requested over the test client.

What each piece does without Redis (README, "When Redis is down"):
- sign-in (and every other rate-limited form) counts its limits in process memory
  (Flask-Limiter's in-memory fallback) and keeps working;
- the license API answers a signed 503 SERVICE_UNAVAILABLE, changing nothing;
- "Send test event" answers 503 and writes nothing; resend, recover and admin reprocess
  record the request and the sweep sends it once the queue is back;
- inbound webhooks are stored (200) and the stale-event sweep processes them later;
- anonymous pages render without the page cache; member areas read access from the database;
- "Continue with Whop" answers 503 naming the alternative; /healthz answers 503 naming Redis;
- any other Redis failure answers 503, never 500.
"""

import base64
import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import clock, create_app
from app.devredis import start_redis_server
from app.extensions import db as _db
from app.extensions import limiter
from app.models import InboundEvent, LicenseActivation, Membership, Order, OutboxEvent, WebhookMessage
from app.services.companies import create_seller_company
from app.services.licensing import signing
from app.services.outbound import dispatch, endpoints, outbox
from app.services.outbound.catalogue import example_data
from app.tasks.inbound import requeue_stale_inbound_events
from app.tasks.outbound import sweep_outbound
from tests.database import make_test_config
from tests.factories import (
    LOGO_GIG,
    PASSWORD,
    answers_for,
    make_cast,
    make_gig,
    make_licensed_shop,
    make_order,
    make_product,
    make_seller,
)
from tests.forms import post_form
from tests.processes import free_port
from tests.webhook_signing import stripe_event, stripe_signed

pytestmark = pytest.mark.committed


@pytest.fixture
def down_app(app, database_url, tmp_path):
    """An app on the suite's database whose own Redis process has been stopped.

    The page cache is on (as in production) and private networks are allowed for the loopback
    webhook sink. Flask-Limiter's `limiter` is one module-level object shared by every app in
    this process: afterwards it is pointed back at the suite's app and its Redis.
    """
    port = free_port()
    redis_process = start_redis_server(port, tmp_path)
    down = create_app(
        make_test_config(
            database_url,
            f"redis://127.0.0.1:{port}/0",
            PAGE_CACHE_SECONDS=30,
            WEBHOOKS_ALLOW_PRIVATE_NETWORKS=True,
            UPLOAD_DIR=app.config["UPLOAD_DIR"],
            APP_BASE_URL=app.config["APP_BASE_URL"],
            SANDBOX_URL=app.config["SANDBOX_URL"],
        )
    )
    with down.app_context():
        assert down.extensions["redis"].ping()
    redis_process.terminate()
    redis_process.wait(timeout=10)
    try:
        yield down
    finally:
        with down.app_context():
            _db.session.remove()
            _db.engine.dispose()
        limiter.init_app(app)
        limiter._storage_dead = False  # the fallback flag lives on the shared object, not per app


@pytest.fixture
def down_client(down_app):
    return down_app.test_client()


def sign_in_on(client, email, password=PASSWORD):
    return post_form(client, "/signin", {"email": email, "password": password})


def settled(db, build):
    """Run `build` (which writes rows and returns plain values), commit, and end the session.

    On SQLite every transaction takes the write lock (BEGIN IMMEDIATE): a transaction left open
    here, even by reading an expired attribute, would make the other app's requests wait.
    """
    try:
        values = build()
        db.session.commit()
        return values
    finally:
        db.session.remove()


def read(db, query):
    """Run `query` in a fresh transaction and end it (see `settled`)."""
    try:
        return query()
    finally:
        db.session.remove()


def count(db, model):
    return read(db, lambda: db.session.scalar(select(func.count()).select_from(model)))


# ---- sign-in: Flask-Limiter's in-memory fallback ------------------------------------------


def test_sign_in_keeps_working_and_keeps_its_limits_in_memory(db, make_user, down_client, down_app):
    settled(db, lambda: make_user(email="ada@example.com", display_name="Ada Lovelace").id)
    response = sign_in_on(down_client, "ada@example.com")
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    assert "Ada Lovelace" in down_client.get(response.headers["Location"]).get_data(as_text=True)

    # The limits still hold, counted in this process: 10 sign-ins a minute per IP.
    other = down_app.test_client()
    answers = [sign_in_on(other, "ada@example.com", "wrong-password").status_code for _ in range(10)]
    assert answers == [401] * 9 + [429]
    assert "Slow down a little" in sign_in_on(other, "ada@example.com").get_data(as_text=True)


# ---- the license API: a signed 503 ----------------------------------------------------------


def verify_signed(app, response):
    with app.app_context():
        public_key = signing.signing_key().private.public_key()
    scheme, _, signature = response.headers["Tradepost-Signature"].partition(" ")
    assert scheme == "ed25519"
    public_key.verify(base64.b64decode(signature), response.data)  # raises if it does not verify
    return json.loads(response.data)


def licensed_key(db):
    return settled(db, lambda: make_licensed_shop()["key"])


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/licenses/validate",
        "/api/v1/licenses/activate",
        "/api/v1/licenses/checkout",
        "/api/v1/licenses/deactivate",
    ],
)
def test_license_api_answers_a_signed_503_and_changes_nothing(app, db, down_client, path):
    key = licensed_key(db)
    response = down_client.post(path, json={"key": key, "fingerprint": "host-1", "nonce": "n-1"})
    assert response.status_code == 503
    answer = verify_signed(app, response)
    assert answer["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert "temporarily unavailable" in answer["error"]["message"]
    assert answer["meta"]["nonce"] == "n-1"
    assert int(response.headers["Retry-After"]) > 0
    assert count(db, LicenseActivation) == 0


def test_whop_compatible_license_endpoint_answers_a_signed_503(app, db, down_client):
    key = licensed_key(db)
    response = down_client.post(
        f"/api/v2/memberships/{key}/validate_license", json={"metadata": {"hardware_id": "host-1"}}
    )
    assert response.status_code == 503
    assert verify_signed(app, response)["error"]["code"] == "SERVICE_UNAVAILABLE"
    assert count(db, LicenseActivation) == 0


def test_license_public_key_is_still_served(app, down_client):
    response = down_client.get("/api/v1/licenses/public-key")
    assert response.status_code == 200
    assert verify_signed(app, response)["algorithm"] == "ed25519"


# ---- seller webhooks: test event, resend, recover -------------------------------------------


@pytest.fixture
def hooked_seller(db, make_seller, sink):
    """A seller's owner and one endpoint on the loopback sink, with one failed message:
    plain values (email, endpoint id, message id and public id, message creation time)."""

    def build():
        owner, company = make_seller("hooks@example.com", "Hooked Studio", kyc="unstarted")
        endpoint = endpoints.create_endpoint(company, sink.url + "/down")  # the sink allows loopback
        event = outbox.record_event(company.id, "order.created", example_data("order.created", order_id=1))
        db.session.flush()
        [message_id] = dispatch.dispatch_outbox_event(event.id)
        message = db.session.get(WebhookMessage, message_id)
        message.status, message.next_attempt_at, message.attempt_count = "failed", None, 8
        return {
            "email": owner.email,
            "endpoint_id": endpoint.id,
            "message_id": message.id,
            "webhook_id": message.public_id,
            "created_at": message.created_at,
        }

    return settled(db, build)


def message_status(db, message_id):
    return read(db, lambda: db.session.get(WebhookMessage, message_id).status)


def test_send_test_event_answers_503_and_writes_nothing(db, down_client, hooked_seller, sink):
    assert sign_in_on(down_client, hooked_seller["email"]).status_code == 303
    before = (count(db, WebhookMessage), count(db, OutboxEvent))
    response = post_form(down_client, f"/sell/webhooks/{hooked_seller['endpoint_id']}/test")
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "The test event was not sent" in page and "try again in a few minutes" in page
    assert (count(db, WebhookMessage), count(db, OutboxEvent)) == before
    assert sink.requests == []


def test_resend_is_recorded_and_the_sweep_sends_it_exactly_once(db, down_client, hooked_seller, sink, run_jobs):
    endpoint_id, message_id = hooked_seller["endpoint_id"], hooked_seller["message_id"]
    assert sign_in_on(down_client, hooked_seller["email"]).status_code == 303
    response = post_form(down_client, f"/sell/webhooks/{endpoint_id}/messages/{message_id}/resend")
    assert response.status_code == 303
    page = down_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "will be sent as soon as our delivery queue is back" in page
    assert message_status(db, message_id) == "pending"

    # Redis is back (the suite's app): the sweep finds the overdue message and sends it once.
    clock.freeze(clock.now() + timedelta(minutes=3))
    try:
        assert sweep_outbound() == {"events": 0, "messages": 1}
        run_jobs()
        assert sweep_outbound() == {"events": 0, "messages": 0}
        assert run_jobs() == 0
    finally:
        clock.freeze(None)
    assert [r.headers["Webhook-Id"] for r in sink.on("/down")] == [hooked_seller["webhook_id"]]
    assert message_status(db, message_id) == "delivered"


def test_recover_is_recorded_for_the_sweep(db, down_client, hooked_seller):
    endpoint_id = hooked_seller["endpoint_id"]
    assert sign_in_on(down_client, hooked_seller["email"]).status_code == 303
    since = (hooked_seller["created_at"] - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    response = post_form(down_client, f"/sell/webhooks/{endpoint_id}/recover", {"since": since})
    assert response.status_code == 303
    page = down_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "1 failed message will be sent as soon as our delivery queue is back" in page
    assert message_status(db, hooked_seller["message_id"]) == "pending"


# ---- order actions: the outbox event waits for the sweep ------------------------------------


def test_an_order_action_commits_and_its_event_waits_for_the_sweep(app, db, down_client, run_jobs):
    def build():
        cast = make_cast()
        order = make_order(cast)
        return order.id, cast.buyer.email, answers_for(cast.gig)

    order_id, buyer_email, answers = settled(db, build)
    assert sign_in_on(down_client, buyer_email).status_code == 303
    response = post_form(down_client, f"/orders/{order_id}/actions/submit_requirements", answers)
    assert response.status_code == 303
    assert read(db, lambda: db.session.get(Order, order_id).status) == "in_progress"
    undispatched = select(func.count()).select_from(OutboxEvent).where(OutboxEvent.dispatched_at.is_(None))
    assert read(db, lambda: db.session.scalar(undispatched)) == 1

    clock.freeze(clock.now() + timedelta(minutes=1))
    try:
        assert sweep_outbound()["events"] == 1
        run_jobs()
    finally:
        clock.freeze(None)
    assert read(db, lambda: db.session.scalar(undispatched)) == 0


# ---- inbound webhooks and admin reprocess ---------------------------------------------------


def test_inbound_webhook_is_stored_and_the_sweep_processes_it(app, db, down_client, run_jobs):
    event = stripe_event(
        "account.updated",
        {
            "id": "acct_none",
            "object": "account",
            "charges_enabled": False,
            "payouts_enabled": False,
            "details_submitted": False,
            "requirements": {},
        },
    )
    body, headers = stripe_signed(event, app.config["STRIPE_WEBHOOK_SECRET"])
    response = down_client.post("/webhooks/stripe", data=body, headers=headers)
    assert response.status_code == 200 and response.json == {"received": True, "duplicate": False}
    stored_id, status = read(db, lambda: db.session.execute(select(InboundEvent.id, InboundEvent.status)).one())
    assert status == "received"

    clock.freeze(clock.now() + timedelta(minutes=11))
    try:
        assert requeue_stale_inbound_events() == 1
        run_jobs()
    finally:
        clock.freeze(None)
    assert read(db, lambda: db.session.get(InboundEvent, stored_id).status) == "processed"


def test_admin_reprocess_is_recorded_for_the_sweep(db, make_user, down_client):
    def build():
        admin = make_user(email="root@example.com", is_admin=True)
        event = InboundEvent(
            provider="stripe",
            event_id="evt_failed_1",
            type="account.updated",
            payload={"id": "evt_failed_1"},
            status="failed",
            last_error="boom",
        )
        db.session.add(event)
        db.session.flush()
        return admin.email, event.id

    email, event_id = settled(db, build)
    assert sign_in_on(down_client, email).status_code == 303
    response = post_form(down_client, f"/admin/events/{event_id}/reprocess")
    assert response.status_code == 303
    page = down_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "will be processed as soon as our job queue is back" in page
    assert read(db, lambda: db.session.get(InboundEvent, event_id).status) == "received"


# ---- pages that read Redis ------------------------------------------------------------------


def test_anonymous_pages_render_without_the_page_cache(db, down_client):
    def build():
        _, company = make_seller("seller@example.com", connected=True)
        make_gig(company, slug="logo-design", **LOGO_GIG)

    settled(db, build)
    for path in ("/", "/gigs", "/gigs?q=logo", "/gigs/logo-design"):
        response = down_client.get(path)
        assert response.status_code == 200, path
        assert "I will design a modern logo" in response.get_data(as_text=True), path


def test_signed_in_pages_are_built_without_kept_parts(db, down_client, down_app):
    """No version can be read: every signed-in page builds its parts from the database."""

    def build():
        cast = make_cast()
        order = make_order(cast, "in_progress")
        return cast.gig.slug, order.id

    slug, order_id = settled(db, build)
    buyer = down_client
    assert sign_in_on(buyer, "buyer@example.com").status_code == 303
    seller = down_app.test_client()
    assert sign_in_on(seller, "owner@example.com").status_code == 303
    for client, path in ((buyer, "/gigs"), (buyer, f"/gigs/{slug}"), (buyer, f"/orders/{order_id}")):
        response = client.get(path)
        assert response.status_code == 200 and "I will design a modern logo" in response.get_data(as_text=True), path
    for client, path in ((buyer, "/account"), (seller, "/sell/")):
        response = client.get(path)
        assert response.status_code == 200 and f"#{order_id}" in response.get_data(as_text=True), path


def test_member_area_reads_access_from_the_database(db, make_user, down_client, down_app):
    def build():
        company = create_seller_company(make_user(intent="sell"), "Maker Co")
        product = make_product(company, slug="maker-kit")
        member = make_user(email="member@example.com")
        make_user(email="stranger@example.com")
        db.session.add(Membership(company_id=company.id, product_id=product.id, buyer_id=member.id, status="active"))
        db.session.flush()
        return product.id

    product_id = settled(db, build)
    assert sign_in_on(down_client, "member@example.com").status_code == 303
    assert down_client.get(f"/account/products/{product_id}").status_code == 200
    stranger = down_app.test_client()
    assert sign_in_on(stranger, "stranger@example.com").status_code == 303
    assert stranger.get(f"/account/products/{product_id}").status_code == 403


def test_continue_with_whop_answers_503_naming_the_alternative(down_client):
    response = down_client.get("/whop/login")
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "Continue with Whop is unavailable" in page and "email and password" in page


def test_whop_callback_sends_back_to_sign_in_with_the_reason(down_client):
    response = down_client.get("/whop/callback?code=abc&state=xyz")
    assert response.status_code == 303 and response.headers["Location"].endswith("/signin")
    page = down_client.get("/signin").get_data(as_text=True)
    assert "part of Tradepost is briefly unavailable" in page


def test_readyz_names_redis(down_client):
    response = down_client.get("/readyz")
    assert response.status_code == 503
    assert "redis" in response.json["failing"] and response.json["checks"]["database"] == "ok"
    assert response.json["checks"]["redis"] == "error: ConnectionError"
    assert down_client.get("/healthz").status_code == 200


def test_metrics_still_answer_and_say_redis_is_down(down_client):
    response = down_client.get("/metrics")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "tradepost_redis_up 0.0" in text
    assert "tradepost_queue_depth{" not in text  # read from Redis: left out, not guessed


def test_any_other_redis_failure_answers_503_not_500(down_app):
    from app.queue import get_redis

    down_app.add_url_rule("/_probe", "probe", lambda: str(get_redis().ping()))
    probe = down_app.test_client()
    page = probe.get("/_probe")
    assert page.status_code == 503 and "try again in a few minutes" in page.get_data(as_text=True)
    answer = probe.get("/_probe", headers={"Accept": "application/json"})
    assert answer.status_code == 503 and answer.json["error"]["code"] == "service_unavailable"
