"""Inbound webhooks from Stripe and Whop: verify the raw body, store once, enqueue, answer fast.

Bodies over WEBHOOK_MAX_BODY_BYTES get a 413 before they are read (a declared length is
checked first; a streamed body stops at the limit). Signatures older or newer than five
minutes are refused. With Redis down an event is still stored and answered 200: the
stale-event sweep queues it within minutes of Redis returning. If it cannot be stored (the
database is down) the answer is 5xx, and the provider retries.
"""

import json

import stripe
from flask import Blueprint, current_app, jsonify, request
from werkzeug.exceptions import RequestEntityTooLarge

from app import metrics
from app.extensions import csrf, db
from app.integrations.whop import unwrap_webhook
from app.payments import get_gateway
from app.services.inbound import enqueue_inbound_event, record_inbound_event
from app.web import json_error, refusal_page

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
csrf.exempt(bp)


@bp.before_request
def limit_body_size():
    request.max_content_length = current_app.config["WEBHOOK_MAX_BODY_BYTES"]


@bp.after_request
def count_refusals(response):
    """A refused delivery (bad signature, malformed, too large) counts as `rejected`."""
    if response.status_code >= 400:
        provider = (request.endpoint or "").removeprefix("webhooks.").removesuffix("_event") or "unknown"
        metrics.INBOUND_EVENTS.labels(provider=provider, outcome="rejected").inc()
    return response


@bp.errorhandler(RequestEntityTooLarge)
def body_too_large(_exc):
    limit = current_app.config["WEBHOOK_MAX_BODY_BYTES"]
    size = f"{limit // 1024} KB" if limit % 1024 == 0 else f"{limit} bytes"
    return json_error(413, "payload_too_large", f"Webhook bodies are limited to {size}; nothing was stored.")


def raw_body():
    """The request body as sent, or 413 past WEBHOOK_MAX_BODY_BYTES.

    A declared Content-Length over the limit is refused before anything is read. Werkzeug
    stops a streamed (chunked) body at the limit without saying so: one that reaches the
    limit is refused too, so a truncated body is never taken for the whole.
    """
    body = request.get_data()
    if request.content_length is None and len(body) >= request.max_content_length:
        raise RequestEntityTooLarge()
    return body


def _well_formed(event_id, event_type):
    """A signed body still needs an id and a type that fit their columns to be stored."""
    return all(
        isinstance(value, str) and 0 < len(value) <= limit for value, limit in ((event_id, 255), (event_type, 100))
    )


def _store_and_enqueue(provider, event_id, event_type, payload):
    if not _well_formed(event_id, event_type):
        return json_error(400, "bad_payload", "The event has no usable id or type.")
    stored_id = record_inbound_event(provider, event_id, event_type, payload)
    db.session.commit()
    metrics.INBOUND_EVENTS.labels(provider=provider, outcome="received" if stored_id else "duplicate").inc()
    if stored_id is not None:
        try:
            enqueue_inbound_event(stored_id)
        except Exception:  # stored as "received": the stale-event sweep queues it (Redis down)
            current_app.logger.exception("inbound event %s stored, not queued", stored_id)
    return jsonify(received=True, duplicate=stored_id is None), 200


@bp.route("/stripe", methods=["POST"])
def stripe_event():
    payload = raw_body()
    try:
        get_gateway().construct_event(payload, request.headers.get("Stripe-Signature"))
    except stripe.SignatureVerificationError:
        return json_error(401, "bad_signature", "The Stripe-Signature header did not verify.")
    except ValueError:
        return json_error(400, "bad_payload", "The body is not a Stripe event.")
    body = json.loads(payload)
    if not isinstance(body, dict):
        return json_error(400, "bad_payload", "The body is not a Stripe event.")
    return _store_and_enqueue("stripe", body.get("id"), body.get("type"), body)


@bp.route("/whop", methods=["POST"])
@refusal_page(lambda _refused: json_error(401, "bad_signature", "The webhook signature did not verify."))
def whop_event():
    payload = unwrap_webhook(raw_body(), request.headers, current_app.config["WHOP_WEBHOOK_SECRET"])
    event_id = request.headers.get("webhook-id") or payload.get("id")
    if not event_id or not payload.get("type"):
        return json_error(400, "bad_payload", "The body has no event id or type.")
    return _store_and_enqueue("whop", event_id, payload["type"], payload)
