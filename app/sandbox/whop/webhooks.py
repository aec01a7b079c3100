"""Whop webhooks from the emulator: Standard Webhooks deliveries to ``APP_BASE_URL/webhooks/whop``.

``send_webhook`` (also ``POST /whop/webhooks/send`` and ``flask sandbox whop send-webhook``)
wraps a sample ``data`` object for the type in Whop's v1 envelope, records the message in
``whop_webhook_deliveries`` and POSTs it signed; ``POST /whop/webhooks/deliveries/<id>/resend``
signs and POSTs it again. Failures are recorded on the delivery, never raised.
"""

from __future__ import annotations

import base64
import copy
import json
import sqlite3
import time
from datetime import UTC, datetime
from typing import Any

import httpx
from flask import Blueprint, Response, jsonify, redirect, request, url_for
from standardwebhooks import Webhook
from werkzeug.wrappers import Response as BaseResponse

from app.sandbox.sqlite import transaction
from app.sandbox.whop import store
from app.sandbox.whop.web import app_http, json_error, refusal, setting, wants_json

bp = Blueprint("whop_webhooks", __name__, url_prefix="/whop", template_folder="templates")

WEBHOOK_TYPES = (
    "payment.succeeded",
    "payment.failed",
    "membership.activated",
    "membership.deactivated",
    "refund.created",
)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def sample_data(event_type: str, user: sqlite3.Row | dict | None = None) -> dict[str, Any]:
    """A Whop v1-shaped ``data`` object for ``event_type`` (fields our app reads)."""
    now = _iso(time.time())
    user_obj = (
        {"id": user["id"], "username": user["username"], "name": user["name"], "email": user["email"]}
        if user is not None
        else None
    )
    company = {"id": "biz_tradepostsbx", "title": "Tradepost"}
    product = {"id": "prod_tradepostsbx", "title": "Tradepost Pro"}
    plan = {"id": "plan_tradepostsbx"}
    if event_type in ("payment.succeeded", "payment.failed"):
        paid = event_type == "payment.succeeded"
        payment = {
            "id": store.new_id("pay"),
            "status": "paid" if paid else "open",
            "substatus": "succeeded" if paid else "failed",
            "created_at": now,
            "paid_at": now if paid else None,
            "currency": "usd",
            "total": 10.0,
            "subtotal": 10.0,
            "usd_total": 10.0,
            "refunded_amount": 0.0,
            "user": user_obj,
            "membership": {"id": store.new_id("mem"), "status": "active" if paid else "past_due"},
            "product": product,
            "plan": plan,
            "company": company,
            "metadata": {},
        }
        if not paid:
            payment.update(failure_message="Your card was declined.", billing_reason="subscription_cycle")
        return payment
    if event_type in ("membership.activated", "membership.deactivated"):
        active = event_type == "membership.activated"
        return {
            "id": store.new_id("mem"),
            "status": "active" if active else "expired",
            "created_at": now,
            "updated_at": now,
            "joined_at": now,
            "canceled_at": None if active else now,
            "cancel_at_period_end": False,
            "currency": "usd",
            "user": user_obj,
            "member": {"id": store.new_id("mber")},
            "company": company,
            "product": product,
            "plan": plan,
            "license_key": None,
            "metadata": {},
        }
    if event_type == "refund.created":
        return {
            "id": store.new_id("rfnd"),
            "status": "succeeded",
            "created_at": now,
            "amount": 10.0,
            "currency": "usd",
            "reason": "requested_by_customer",
            "payment": {"id": store.new_id("pay"), "user": user_obj},
            "company": company,
        }
    raise ValueError(f"unsupported webhook type {event_type!r}")


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def recent_deliveries(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """The 50 newest deliveries, newest first."""
    return conn.execute(
        "SELECT * FROM whop_webhook_deliveries ORDER BY created_at DESC, rowid DESC LIMIT 50"
    ).fetchall()


def _delivery_dict(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "type": row["event_type"],
        "url": row["url"],
        "status": row["status"],
        "status_code": row["status_code"],
        "error": row["error"],
        "attempts": row["attempts"],
        "created_at": row["created_at"],
        "last_attempt_at": row["last_attempt_at"],
        "payload": json.loads(row["body"]),
    }


def _deliver(conn: sqlite3.Connection, message_id: str) -> dict[str, Any]:
    """POST the stored message, freshly signed, and record the outcome of the attempt."""
    row = conn.execute("SELECT * FROM whop_webhook_deliveries WHERE id = ?", (message_id,)).fetchone()
    sent_at = datetime.now(tz=UTC)
    key = base64.b64encode(setting("WHOP_WEBHOOK_SECRET").encode()).decode()
    headers = {
        "content-type": "application/json",
        "webhook-id": row["id"],
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": Webhook(key).sign(row["id"], sent_at, row["body"]),
    }
    status_code: int | None = None
    error: str | None = None
    try:
        response = app_http.post(row["url"], content=row["body"].encode(), headers=headers)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}: {response.text[:200]}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    with transaction(conn):
        conn.execute(
            "UPDATE whop_webhook_deliveries SET status = ?, status_code = ?, error = ?,"
            " attempts = attempts + 1, last_attempt_at = ? WHERE id = ?",
            ("failed" if error else "delivered", status_code, error, int(sent_at.timestamp()), message_id),
        )
    return _delivery_dict(conn.execute("SELECT * FROM whop_webhook_deliveries WHERE id = ?", (message_id,)).fetchone())


def send_webhook(
    event_type: str, data: dict[str, Any] | None = None, *, company_id: str | None = None
) -> dict[str, Any]:
    """Send one Whop webhook to ``APP_BASE_URL/webhooks/whop`` and return the delivery record.

    The body follows Whop's v1 envelope — ``{"id": "msg_…", "api_version": "v1",
    "timestamp", "type", "company_id", "data"}`` — with ``data`` = a sample object
    for the type deep-merged with ``data``. Signed per Standard Webhooks with the
    base64-encoded ``WHOP_WEBHOOK_SECRET``. Delivery failures are recorded, not
    raised; an unsupported type raises ``ValueError``. Needs an app context.
    """
    if event_type not in WEBHOOK_TYPES:
        raise ValueError(f"unsupported webhook type {event_type!r}; use one of {', '.join(WEBHOOK_TYPES)}")
    payload_data = _merge(sample_data(event_type), data or {})
    message_id = store.new_id("msg", 24)
    now = time.time()
    envelope = {
        "id": message_id,
        "api_version": "v1",
        "timestamp": _iso(now),
        "type": event_type,
        "company_id": company_id or (payload_data.get("company") or {}).get("id"),
        "data": payload_data,
    }
    conn = store.db()
    with transaction(conn):
        conn.execute(
            "INSERT INTO whop_webhook_deliveries (id, event_type, url, body, created_at) VALUES (?, ?, ?, ?, ?)",
            (
                message_id,
                event_type,
                setting("APP_BASE_URL").rstrip("/") + "/webhooks/whop",
                json.dumps(envelope, separators=(",", ":")),
                int(now),
            ),
        )
    return _deliver(conn, message_id)


@bp.post("/webhooks/send")
def send() -> BaseResponse | tuple[Response | str, int]:
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return json_error(400, "invalid_body", "Send a JSON object {type, data}.")
        event_type, data = body.get("type"), body.get("data") or {}
    else:
        event_type = request.form.get("type")
        try:
            data = json.loads(request.form.get("data") or "{}")
        except ValueError:
            data = None
    if event_type not in WEBHOOK_TYPES:
        return _cannot_send("invalid_type", f"type must be one of: {', '.join(WEBHOOK_TYPES)}.")
    if not isinstance(data, dict):
        return _cannot_send("invalid_data", "data must be a JSON object.")
    delivery = send_webhook(event_type, data)
    if request.is_json:
        return jsonify(delivery), 201
    return redirect(url_for("whop_pages.index"), 303)


def _cannot_send(code: str, message: str) -> Response | tuple[str, int]:
    return refusal(422, code, message, "Cannot send webhook", as_json=request.is_json)


@bp.post("/webhooks/deliveries/<message_id>/resend")
def resend(message_id: str) -> BaseResponse | tuple[str, int]:
    conn = store.db()
    if conn.execute("SELECT 1 FROM whop_webhook_deliveries WHERE id = ?", (message_id,)).fetchone() is None:
        return refusal(404, "not_found", f"No delivery {message_id}.", "Not found", as_json=wants_json())
    delivery = _deliver(conn, message_id)
    if wants_json():
        return jsonify(delivery)
    return redirect(url_for("whop_pages.index"), 303)
