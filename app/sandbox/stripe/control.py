"""Sandbox controls: things that happen at Stripe without an API call from the app.

HTML pages under /_sandbox/ for people (events and their deliveries, renewals, disputes),
and the same actions as JSON POST endpoints for tests and demos. A POST with a JSON body
(or ``Accept: application/json``) gets JSON back; a form POST gets a 303 to the page.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, abort, current_app, jsonify, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from app.sandbox.stripe import ops
from app.sandbox.stripe.faults import WHEN
from app.sandbox.stripe.ops import StripeError, atomic

bp = Blueprint("stripe_control", __name__, url_prefix="/_sandbox", template_folder="templates")


def wants_json() -> bool:
    return request.is_json or request.accept_mimetypes.best == "application/json"


def field(name: str, default: str | None = None) -> str | None:
    if request.is_json:
        value = (request.get_json(silent=True) or {}).get(name, default)
        return value if value is None else str(value)
    return request.form.get(name, default)


def run_action(action: Callable[[], dict], page: str) -> Response | tuple[Response, int]:
    """Run a control action; JSON callers get the object, form callers a 303 to ``page``."""
    try:
        with atomic():
            result = action()
    except StripeError as err:
        if wants_json():
            return jsonify(err.body()), err.status
        abort(err.status, err.message)
    if wants_json():
        return jsonify(result)
    return redirect(page, 303)


def object_page(type_: str, object_id: str, related_type: str) -> str:
    """The page ``stripe/control_<type_>.html`` of one object (404 when unknown) with the
    ``related_type`` objects pointing at it, newest first; the template gets them under the
    type's name (``charge``) and the related type's plural (``disputes``)."""
    st = ops.store()
    obj = st.get(type_, object_id)
    if obj is None:
        abort(404)
    related = list(reversed(st.find(related_type, {f"$.{type_}": object_id})))
    return render_template(f"stripe/control_{type_}.html", **{type_: obj, related_type + "s": related})


# -- JSON for tests and scripts -----------------------------------------------------------


@bp.get("/health")
def health() -> Response:
    return jsonify({"status": "ok", "service": "tradepost-sandbox"})


@bp.post("/reset")
def reset() -> Response:
    """Forget every Stripe object, event and delivery (as `flask sandbox reset` does)."""
    ops.store().reset()
    current_app.extensions["sandbox_faults"].clear()
    return jsonify({"reset": True})


@bp.get("/faults")
def list_faults() -> Response:
    return jsonify({"faults": current_app.extensions["sandbox_faults"].listed()})


@bp.post("/faults")
def add_fault() -> Response | tuple[Response, int]:
    """Fail the next ``count`` API requests to ``method`` ``path`` (JSON or form fields),
    ``before`` doing anything or ``after`` doing the work (see app/sandbox/stripe/faults.py)."""
    path, when = field("path") or "", field("when", "before") or "before"
    count = field("count", "1") or "1"
    if not path.startswith("/v1/") or when not in WHEN or not count.isdigit() or not 1 <= int(count) <= 100:
        return jsonify(
            {
                "error": {
                    "type": "invalid_request_error",
                    "message": "path must start with /v1/, when be before|after, count 1-100",
                }
            }
        ), 400
    fault = current_app.extensions["sandbox_faults"].add(field("method", "POST") or "POST", path, when, int(count))
    return jsonify(
        {"fault": {"method": fault.method, "path": fault.path, "when": fault.when, "remaining": fault.remaining}}
    )


@bp.delete("/faults")
def clear_faults() -> Response:
    current_app.extensions["sandbox_faults"].clear()
    return jsonify({"faults": []})


@bp.get("/deliveries")
def deliveries() -> Response:
    """How many webhook deliveries are still to be attempted, and how many are due now."""
    return jsonify(ops.store().delivery_backlog(time.time()))


@bp.get("/events/<event_id>/deliveries")
def event_deliveries(event_id: str) -> Response:
    st = ops.store()
    if st.get("event", event_id) is None:
        abort(404)
    state = st.delivery_state(event_id)
    return jsonify(
        {"event": event_id, "state": state["state"] if state else None, "attempts": st.attempts_for(event_id)}
    )


# -- pages --------------------------------------------------------------------------------


@bp.get("/")
def index() -> str:
    st = ops.store()
    events, _ = st.list("event", limit=100)
    return render_template(
        "stripe/control_index.html",
        events=events,
        deliveries={e["id"]: st.attempts_for(e["id"]) for e in events},
        states={e["id"]: st.delivery_state(e["id"]) for e in events},
        # the latest of each as `subscriptions`, `charges`, `accounts`
        **{f"{kind}s": st.list(kind, limit=20)[0] for kind in ("subscription", "charge", "account")},
    )


@bp.get("/subscriptions/<subscription_id>")
def subscription(subscription_id: str) -> str:
    return object_page("subscription", subscription_id, "invoice")


@bp.get("/charges/<charge_id>")
def charge(charge_id: str) -> str:
    return object_page("charge", charge_id, "dispute")


# -- actions: JSON in, the object out; or a form post, 303 to its page ----------------------


@bp.post("/events/<event_id>/resend")
def resend_event(event_id: str) -> Response | tuple[Response, int]:
    def action() -> dict[str, Any]:
        event = ops.load("event", event_id, "event")
        ops.store().enqueue_delivery(event_id)
        return event

    return run_action(action, url_for(".index"))


@bp.post("/subscriptions/<subscription_id>/advance")
def advance_subscription(subscription_id: str) -> Response | tuple[Response, int]:
    outcome = field("outcome", "paid") or "paid"
    return run_action(
        lambda: ops.advance_subscription(subscription_id, outcome),
        url_for(".subscription", subscription_id=subscription_id),
    )


@bp.post("/subscriptions/<subscription_id>/cancel")
def cancel_subscription(subscription_id: str) -> Response | tuple[Response, int]:
    return run_action(
        lambda: ops.cancel_subscription(ops.load("subscription", subscription_id)),
        url_for(".subscription", subscription_id=subscription_id),
    )


@bp.post("/charges/<charge_id>/dispute")
def open_dispute(charge_id: str) -> Response | tuple[Response, int]:
    reason = field("reason", "fraudulent") or "fraudulent"
    return run_action(lambda: ops.open_dispute(charge_id, reason), url_for(".charge", charge_id=charge_id))


@bp.post("/charges/<charge_id>/dispute/close")
def close_dispute(charge_id: str) -> Response | tuple[Response, int]:
    outcome = field("outcome", "won") or "won"
    return run_action(lambda: ops.close_dispute(charge_id, outcome), url_for(".charge", charge_id=charge_id))


@bp.post("/accounts/<account_id>/verify")
def verify_account(account_id: str) -> Response | tuple[Response, int]:
    outcome = field("outcome", "verified") or "verified"
    return run_action(lambda: ops.complete_onboarding(account_id, outcome), url_for(".index"))


@bp.post("/checkout/sessions/<session_id>/pay")
def pay_checkout_session(session_id: str) -> Response | tuple[Response, int]:
    """Pay a session as the hosted page would; ``outcome=processing`` pays with a delayed
    method instead: the session completes unpaid while the payment is still processing."""
    card_number = field("card_number", ops.CARD_SUCCESS) or ops.CARD_SUCCESS
    processing = field("outcome") == "processing"
    return run_action(
        lambda: ops.pay_checkout_session(session_id, card_number, field("email"), field("name"), processing=processing),
        url_for(".index"),
    )
