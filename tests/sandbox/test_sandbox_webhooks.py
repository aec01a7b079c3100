"""Webhook delivery: signatures the stripe library accepts, retries, attempts, resends."""

import time

import pytest
import stripe


def wait_for_attempts(http, url, event_id, count, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = http.get(f"{url}/_sandbox/events/{event_id}/deliveries").json()
        if len(body["attempts"]) >= count and body["state"] != "pending":
            return body
        time.sleep(0.05)
    pytest.fail(f"event {event_id} did not reach {count} delivery attempts")


def test_failed_delivery_is_retried_and_every_attempt_recorded(
    sandbox_gateway, sandbox_sink, sandbox_http, sandbox_url, sandbox_id
):
    account = sandbox_gateway.create_connected_account(
        sandbox_sink.fail_marker, "retry@example.com", idempotency_key=sandbox_id("key")
    )
    sandbox_http.post(f"{sandbox_url}/_sandbox/accounts/{account.id}/verify", json={"outcome": "verified"})

    failed, delivered = sandbox_sink.wait_for(
        lambda d: d.json["type"] == "account.updated" and d.json["data"]["object"]["id"] == account.id,
        count=2,
        timeout=8,
    )

    assert (failed.status, delivered.status) == (500, 200)
    assert failed.json["id"] == delivered.json["id"]
    record = wait_for_attempts(sandbox_http, sandbox_url, delivered.json["id"], 2)
    assert record["state"] == "delivered"
    assert [a["status_code"] for a in record["attempts"]] == [500, 200]
    assert record["attempts"][0]["error"] == "failed on purpose"
    assert record["attempts"][1]["attempted_at"] - record["attempts"][0]["attempted_at"] >= 0.9


def test_resend_delivers_the_same_event_again(
    sandbox_gateway, sandbox_sink, sandbox_http, sandbox_url, sandbox_verified_account
):
    account = sandbox_verified_account()
    first = sandbox_sink.wait_for_event("account.updated", account.id)

    response = sandbox_http.post(f"{sandbox_url}/_sandbox/events/{first.json['id']}/resend", json={})

    assert response.status_code == 200
    deliveries = sandbox_sink.wait_for(lambda d: d.json["id"] == first.json["id"], count=2)
    assert deliveries[0].body == deliveries[1].body
    index = sandbox_http.get(f"{sandbox_url}/_sandbox/")
    assert first.json["id"] in index.text and "Resend" in index.text


def test_signature_is_bound_to_the_payload_and_the_secret(sandbox_sink, sandbox_verified_account, sandbox_gateway):
    account = sandbox_verified_account()
    delivery = sandbox_sink.wait_for_event("account.updated", account.id)
    header = delivery.headers["Stripe-Signature"]

    assert header.startswith("t=") and ",v1=" in header
    event = stripe.Webhook.construct_event(delivery.body, header, sandbox_gateway.webhook_secret)
    assert event.id == delivery.json["id"]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery.body.replace(b"true", b"false"), header, sandbox_gateway.webhook_secret)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(delivery.body, header, "whsec_someone_else")


def test_events_are_listed_and_retrievable(sandbox_gateway, sandbox_verified_account):
    account = sandbox_verified_account()

    events = sandbox_gateway.client.v1.events.list(params={"type": "account.updated", "limit": 5})
    event = sandbox_gateway.client.v1.events.retrieve(events.data[0].id)

    assert all(e.type == "account.updated" for e in events.data)
    assert event.data.object.id == account.id
    assert event.request.id is None  # caused by the sandbox control, not by an API request
