"""Inbound webhooks refuse stale and future signatures (±5 minutes, Stripe and Whop alike) and
bodies over WEBHOOK_MAX_BODY_BYTES (413, answered before the body is read; nothing stored).
Every request here is properly signed: only the timestamp or the size is wrong."""

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.models import InboundEvent
from tests import loopback
from tests.webhook_signing import stripe_event, stripe_signed, whop_signed

MINUTE = 60


def stored(db):
    return db.session.scalar(select(func.count()).select_from(InboundEvent))


def post_stripe_at(client, app, offset_seconds, event_id):
    event = stripe_event("customer.created", {"id": "cus_1", "object": "customer"}, event_id=event_id)
    body, headers = stripe_signed(event, app.config["STRIPE_WEBHOOK_SECRET"], timestamp=time.time() + offset_seconds)
    return client.post("/webhooks/stripe", data=body, headers=headers)


def post_whop_at(client, app, offset_seconds, event_id):
    payload = {"id": event_id, "type": "membership.activated", "data": {"id": "mem_1"}}
    moment = datetime.now(UTC) + timedelta(seconds=offset_seconds)
    body, headers = whop_signed(payload, app.config["WHOP_WEBHOOK_SECRET"], moment=moment)
    return client.post("/webhooks/whop", data=body, headers=headers)


@pytest.mark.parametrize("post", [post_stripe_at, post_whop_at], ids=["stripe", "whop"])
@pytest.mark.parametrize(
    "offset, status",
    [
        (+10 * MINUTE, 401),
        (-10 * MINUTE, 401),
        (+6 * MINUTE, 401),
        (-6 * MINUTE, 401),
        (+4 * MINUTE, 200),
        (-4 * MINUTE, 200),
        (0, 200),
    ],
)
def test_signature_timestamp_tolerance_is_five_minutes_either_way(client, app, db, post, offset, status):
    response = post(client, app, offset, f"evt_at_{offset}")
    assert response.status_code == status, response.get_data(as_text=True)
    assert stored(db) == (1 if status == 200 else 0)
    if status == 401:
        assert response.json["error"]["code"] == "bad_signature"


def stripe_body_of(size, app, event_id="evt_big"):
    event = stripe_event("customer.created", {"id": "cus_1", "object": "customer"}, event_id=event_id)
    text = json.dumps(event)
    padded = text[:-1] + ', "padding": "' + "x" * max(size - len(text) - 15, 0) + '"}'
    return stripe_signed(event, app.config["STRIPE_WEBHOOK_SECRET"], body=padded.encode())


def whop_body_of(size, app, event_id="msg_big"):
    payload = {"id": event_id, "type": "membership.activated", "data": {"id": "mem_1"}}
    text = json.dumps(payload)
    padded = text[:-1] + ', "padding": "' + "x" * max(size - len(text) - 15, 0) + '"}'
    return whop_signed(payload, app.config["WHOP_WEBHOOK_SECRET"], body=padded)


@pytest.mark.parametrize("provider, signed", [("stripe", stripe_body_of), ("whop", whop_body_of)])
def test_a_5_mb_body_is_refused_with_413_and_nothing_stored(client, app, db, provider, signed):
    body, headers = signed(5 * 1024 * 1024, app)
    response = client.post(f"/webhooks/{provider}", data=body, headers=headers)
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"
    assert "256 KB" in response.json["error"]["message"]
    assert stored(db) == 0

    body, headers = signed(200 * 1024, app, event_id=f"{provider}_under_limit")
    accepted = client.post(f"/webhooks/{provider}", data=body, headers=headers)
    assert accepted.status_code == 200 and stored(db) == 1


def test_the_limit_is_a_setting(client, app, db, monkeypatch):
    monkeypatch.setitem(app.config, "WEBHOOK_MAX_BODY_BYTES", 4096)
    body, headers = stripe_body_of(8 * 1024, app)
    response = client.post("/webhooks/stripe", data=body, headers=headers)
    assert response.status_code == 413 and "4 KB" in response.json["error"]["message"]
    assert stored(db) == 0


class Unreadable:
    """A request body of `size` bytes that fails the test if anyone reads it (the test client
    measures it with seek/tell to declare its Content-Length)."""

    def __init__(self, size):
        self.size, self.position = size, 0

    def read(self, *args):
        raise AssertionError("the oversized body was read")

    readline = readinto = read

    def seek(self, offset, whence=0):
        self.position = self.size if whence == 2 else offset

    def tell(self):
        return self.position


def test_an_oversized_declared_length_is_refused_before_reading(client, db):
    response = client.post(
        "/webhooks/stripe",
        input_stream=Unreadable(5 * 1024 * 1024),
        headers={"Content-Type": "application/json", "Stripe-Signature": "t=1,v1=00"},
    )
    assert response.status_code == 413
    assert stored(db) == 0


@pytest.mark.committed
def test_a_streamed_body_without_length_stops_at_the_limit(app, live_server, db):
    """Chunked transfer, no Content-Length: the server stops reading at the limit."""
    body, headers = stripe_body_of(5 * 1024 * 1024, app)
    headers = {name: value for name, value in headers.items() if name.lower() != "content-length"}

    def chunks():
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = loopback.post(f"{live_server}/webhooks/stripe", content=chunks(), headers=headers, timeout=30)
    assert response.status_code == 413
    assert "chunked" in response.request.headers.get("transfer-encoding", "")
    assert stored(db) == 0
