"""Signing helpers for tests that post webhooks as Stripe and Whop would."""

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import UTC, datetime

from standardwebhooks import Webhook


def stripe_event(event_type, obj, event_id=None):
    return {
        "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "type": event_type,
        "created": int(time.time()),
        "api_version": "2025-01-01",
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "data": {"object": obj},
    }


def stripe_signed(event, secret, timestamp=None, body=None):
    """(body bytes, headers) signed the way Stripe signs webhooks, at `timestamp` (Unix seconds,
    default now); `body` replaces the JSON of `event` (e.g. padded to a size)."""
    body = body if body is not None else json.dumps(event).encode()
    timestamp = int(time.time()) if timestamp is None else int(timestamp)
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={timestamp},v1={signature}", "Content-Type": "application/json"}


def whop_signed(payload, secret, moment=None, body=None):
    """(body bytes, headers) signed per Standard Webhooks with Whop's base64-encoded ws_ secret,
    at `moment` (default now); `body` replaces the JSON of `payload`."""
    body = body if body is not None else json.dumps(payload)
    message_id = payload["id"]
    moment = moment or datetime.now(UTC)
    signer = Webhook(base64.b64encode(secret.encode()).decode())
    return body.encode(), {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signer.sign(message_id, moment, body),
        "Content-Type": "application/json",
    }
