"""Whop webhooks from the emulator: Standard Webhooks signatures with the base64-encoded ws_ secret."""

from __future__ import annotations

import base64
import json
import secrets

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from app.integrations.whop import WhopWebhookError, unwrap_webhook


def _send(whop_http, whop_api_base, event_type, data=None):
    response = whop_http.post(whop_api_base + "/webhooks/send", json={"type": event_type, "data": data or {}})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize(
    "event_type", ["payment.succeeded", "membership.activated", "membership.deactivated", "refund.created"]
)
def test_delivery_arrives_signed_per_standard_webhooks(
    whop_http, whop_api_base, whop_sink_clean, whop_config, whop_user, event_type
):
    delivery = _send(whop_http, whop_api_base, event_type, {"user": {"id": whop_user["id"]}})
    assert delivery["status"] == "delivered" and delivery["status_code"] == 200

    [received] = whop_sink_clean.on("/webhooks/whop")
    headers = {k.lower(): v for k, v in received.headers.items()}
    assert headers["webhook-id"] == delivery["id"]
    assert headers["webhook-signature"].startswith("v1,")

    secret = base64.b64encode(whop_config["WHOP_WEBHOOK_SECRET"].encode()).decode()
    event = Webhook(secret).verify(received.body, headers)
    assert event["id"] == delivery["id"]
    assert event["type"] == event_type
    assert event["api_version"] == "v1"
    assert event["timestamp"].endswith("Z")
    assert event["data"]["user"]["id"] == whop_user["id"]

    assert unwrap_webhook(received.body, received.headers, whop_config["WHOP_WEBHOOK_SECRET"]) == event


def test_sample_data_is_overridable(whop_http, whop_api_base, whop_sink_clean, whop_config):
    _send(whop_http, whop_api_base, "payment.succeeded", {"id": "pay_fixed", "total": 42.5, "metadata": {"order": "7"}})
    [received] = whop_sink_clean.on("/webhooks/whop")
    event = unwrap_webhook(received.body, received.headers, whop_config["WHOP_WEBHOOK_SECRET"])
    assert event["data"]["id"] == "pay_fixed"
    assert event["data"]["total"] == 42.5
    assert event["data"]["metadata"] == {"order": "7"}
    assert event["data"]["currency"] == "usd"


def test_tampered_body_or_wrong_secret_fails(whop_http, whop_api_base, whop_sink_clean, whop_config):
    _send(whop_http, whop_api_base, "membership.activated")
    [received] = whop_sink_clean.on("/webhooks/whop")
    tampered = received.body.replace(b"membership.activated", b"membership.deactivated")
    secret = base64.b64encode(whop_config["WHOP_WEBHOOK_SECRET"].encode()).decode()

    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(tampered, received.headers)
    with pytest.raises(WhopWebhookError):
        unwrap_webhook(tampered, received.headers, whop_config["WHOP_WEBHOOK_SECRET"])
    with pytest.raises(WhopWebhookError):
        unwrap_webhook(received.body, received.headers, "ws_some_other_secret")
    with pytest.raises(WhopWebhookError):
        unwrap_webhook(received.body, {}, whop_config["WHOP_WEBHOOK_SECRET"])


def test_failed_delivery_is_recorded_and_resend_keeps_the_message_id(
    whop_http, whop_api_base, whop_sink_clean, whop_config
):
    whop_sink_clean.respond_with(500, "boom", path="/webhooks/whop")  # the first delivery only
    delivery = _send(whop_http, whop_api_base, "refund.created")
    assert delivery["status"] == "failed"
    assert delivery["status_code"] == 500
    assert "HTTP 500" in delivery["error"]

    index = whop_http.get(whop_api_base + "/")
    assert delivery["id"] in index.text and "Resend" in index.text

    resent = whop_http.post(
        whop_api_base + f"/webhooks/deliveries/{delivery['id']}/resend", headers={"Accept": "application/json"}
    )
    assert resent.status_code == 200
    assert resent.json()["status"] == "delivered"
    assert resent.json()["attempts"] == 2

    first, second = whop_sink_clean.on("/webhooks/whop")
    assert first.body == second.body
    assert first.headers["Webhook-Id"] == second.headers["Webhook-Id"] == delivery["id"]
    assert unwrap_webhook(second.body, second.headers, whop_config["WHOP_WEBHOOK_SECRET"])["id"] == delivery["id"]


def test_html_form_sends_and_redirects_to_the_index(whop_http, whop_api_base, whop_sink_clean):
    response = whop_http.post(
        whop_api_base + "/webhooks/send",
        data={"type": "membership.deactivated", "data": json.dumps({"status": "canceled"})},
    )
    assert response.status_code == 303
    assert response.headers["location"].endswith("/whop/")
    assert json.loads(whop_sink_clean.on("/webhooks/whop")[0].body)["data"]["status"] == "canceled"


def test_unsupported_type_and_bad_data_are_refused(whop_http, whop_api_base, whop_sink_clean):
    response = whop_http.post(whop_api_base + "/webhooks/send", json={"type": "payment.exploded"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_type"
    response = whop_http.post(whop_api_base + "/webhooks/send", json={"type": "payment.succeeded", "data": [1]})
    assert response.status_code == 422
    assert whop_sink_clean.on("/webhooks/whop") == []


def test_cli_creates_users_and_sends_webhooks(whop_sandbox_app, whop_sandbox_server, whop_sink_clean, whop_config):
    runner = whop_sandbox_app.test_cli_runner()
    created = runner.invoke(args=["whop", "create-user", "cli_" + secrets.token_hex(4)])
    assert created.exit_code == 0, created.output
    user_id = created.output.strip()
    assert user_id.startswith("user_")

    sent = runner.invoke(
        args=["whop", "send-webhook", "membership.activated", "--data", json.dumps({"user": {"id": user_id}})]
    )
    assert sent.exit_code == 0, sent.output
    assert " delivered 200" in sent.output
    event = unwrap_webhook(
        whop_sink_clean.on("/webhooks/whop")[0].body,
        whop_sink_clean.on("/webhooks/whop")[0].headers,
        whop_config["WHOP_WEBHOOK_SECRET"],
    )
    assert event["data"]["user"]["id"] == user_id
