"""Inbound webhooks from Stripe and Whop: verify the raw body, store once, enqueue, answer fast."""
import json

import stripe
from flask import Blueprint, current_app, jsonify, request

from app.extensions import csrf, db
from app.integrations.whop import WhopWebhookError, unwrap_webhook
from app.payments import get_gateway
from app.services.inbound import record_inbound_event
from app.tasks.inbound import enqueue_inbound_event
from app.web import json_error

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")
csrf.exempt(bp)


def _well_formed(event_id, event_type):
    """A signed body still needs an id and a type that fit their columns to be stored."""
    return all(isinstance(value, str) and 0 < len(value) <= limit
               for value, limit in ((event_id, 255), (event_type, 100)))


def _store_and_enqueue(provider, event_id, event_type, payload):
    if not _well_formed(event_id, event_type):
        return json_error(400, "bad_payload", "The event has no usable id or type.")
    stored_id = record_inbound_event(provider, event_id, event_type, payload)
    db.session.commit()
    if stored_id is not None:
        try:
            enqueue_inbound_event(stored_id)
        except Exception:  # Redis down: the stored event is re-queued by the stale-event sweep
            current_app.logger.exception("could not enqueue inbound event %s", stored_id)
    return jsonify(received=True, duplicate=stored_id is None), 200


@bp.route("/stripe", methods=["POST"])
def stripe_event():
    payload = request.get_data()
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
def whop_event():
    try:
        payload = unwrap_webhook(request.get_data(), request.headers,
                                 current_app.config["WHOP_WEBHOOK_SECRET"])
    except WhopWebhookError:
        return json_error(401, "bad_signature", "The webhook signature did not verify.")
    event_id = request.headers.get("webhook-id") or payload.get("id")
    if not event_id or not payload.get("type"):
        return json_error(400, "bad_payload", "The body has no event id or type.")
    return _store_and_enqueue("whop", event_id, payload["type"], payload)
