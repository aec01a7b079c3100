"""What is sent and how it is signed: endpoint secrets at rest, the event body, the headers.

Secrets are Standard Webhooks `whsec_` secrets, stored encrypted (app/crypto.py). The body of an
event is the same bytes on every attempt; the `webhook-signature` header carries one v1 signature
per active secret (two during rotation).
"""

import base64
import json
import secrets
from datetime import UTC, datetime
from typing import Any

from standardwebhooks import Webhook

from app.clock import now
from app.crypto import decrypt
from app.models import OutboxEvent, WebhookEndpoint

SECRET_BYTES = 24


def generate_secret() -> str:
    """A fresh Standard Webhooks secret: "whsec_" + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def endpoint_secret(endpoint: WebhookEndpoint) -> str:
    """The endpoint's current signing secret in clear, for the owner's "reveal"."""
    return decrypt(endpoint.secret_encrypted)


def signing_secrets(endpoint: WebhookEndpoint, at: datetime | None = None) -> list[str]:
    """Secrets that sign a delivery at `at`: the current one, plus the previous during rotation."""
    return active_secrets(
        endpoint.secret_encrypted, endpoint.previous_secret_encrypted, endpoint.previous_secret_expires_at, at or now()
    )


def active_secrets(current: str, previous: str | None, previous_expires_at: datetime | None, at: datetime) -> list[str]:
    """The secrets in clear that sign at `at`, from an endpoint's encrypted columns."""
    result = [decrypt(current)]
    if previous and previous_expires_at and previous_expires_at > at:
        result.append(decrypt(previous))
    return result


def payload_json(public_id: str, event_type: str, created_at: datetime, company_id: int, data: dict[str, Any]) -> str:
    """The JSON body of an event: identical bytes on every attempt (sorted keys, no spaces)."""
    created = created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(
        {"id": public_id, "type": event_type, "created": created, "company_id": company_id, "data": data},
        separators=(",", ":"),
        sort_keys=True,
    )


def event_payload(event: OutboxEvent) -> str:
    """The JSON body sent for `event`."""
    return payload_json(event.public_id, event.type, event.created_at, event.company_id, event.data)


def pretty_payload(event: OutboxEvent) -> str:
    """The event's body, indented for people (the bytes sent are `event_payload`)."""
    return json.dumps(json.loads(event_payload(event)), indent=2, sort_keys=True)


def signed_headers(message_public_id: str, at: datetime, body: str, secrets_: list[str]) -> dict[str, str]:
    """Standard Webhooks headers for `body`, one v1 signature per secret."""
    signatures = [Webhook(secret).sign(message_public_id, at, body) for secret in secrets_]
    return {
        "content-type": "application/json",
        "accept-encoding": "identity",
        "webhook-id": message_public_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
