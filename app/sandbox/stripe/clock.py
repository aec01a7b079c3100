"""Test-clock style controls: move one subscription to the end of its current period, or retry
its unpaid invoice, sending the events Stripe sends (with real period fields).

Stripe's test clocks advance frozen time and let Billing do what it would do at that moment;
here the moment is always "the end of this subscription's current period":

* ``POST /_sandbox/clock/subscriptions/<id>/advance`` ``{"outcome": "paid"|"failed"}`` —
  the period ends. A subscription set to cancel at period end is deleted
  (``customer.subscription.deleted``, ``ended_at`` = the period end). Otherwise it renews: a
  ``subscription_cycle`` invoice whose line covers the new period is paid (``invoice.paid``,
  status ``active``; a trial converts) or fails (``invoice.payment_failed``, the invoice stays
  open, status ``past_due``); then ``customer.subscription.updated`` with the new period.
* ``POST /_sandbox/clock/subscriptions/<id>/retry`` ``{"outcome": "paid"|"failed"|"exhausted"}``
  — Smart Retries on the open invoice: ``paid`` pays it (``invoice.paid``, then
  ``customer.subscription.updated`` back to ``active``); ``failed`` fails again
  (``invoice.payment_failed``); ``exhausted`` is the last retry failing with the "cancel the
  subscription" setting (``invoice.payment_failed``, then ``customer.subscription.deleted``).

JSON callers get the subscription back; form posts (the subscription's control page) a 303.
The older ``/_sandbox/subscriptions/<id>/advance`` (control.py) renews only: it ignores
``cancel_at_period_end``.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, url_for
from werkzeug.wrappers import Response

from app.sandbox.stripe import objects as so
from app.sandbox.stripe import ops
from app.sandbox.stripe.control import field, run_action
from app.sandbox.stripe.ops import CARD_SUCCESS, StripeError, emit, invalid, load, store

bp = Blueprint("stripe_clock", __name__, url_prefix="/_sandbox/clock")

ADVANCE_OUTCOMES = ("paid", "failed")
RETRY_OUTCOMES = ("paid", "failed", "exhausted")
RETRY_INTERVAL = 3 * 86400


def _live_subscription(subscription_id: str) -> dict:
    sub = load("subscription", subscription_id, "subscription")
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise StripeError(
            400, f"Subscription {subscription_id} is {sub['status']}.", code="subscription_unexpected_state"
        )
    return sub


def _end(sub: dict, ended_at: int, reason: str) -> dict:
    previous = {"status": sub["status"], "ended_at": None, "canceled_at": sub.get("canceled_at")}
    sub.update(status="canceled", ended_at=ended_at, canceled_at=sub.get("canceled_at") or so.now())
    sub["cancellation_details"]["reason"] = reason
    store().save(sub)
    emit("customer.subscription.deleted", sub, previous)
    return sub


def advance_subscription(subscription_id: str, outcome: str) -> dict:
    """The subscription reaches the end of its current period (see the module docstring)."""
    if outcome not in ADVANCE_OUTCOMES:
        raise invalid("outcome must be one of: paid, failed", "outcome")
    sub = _live_subscription(subscription_id)
    if sub.get("cancel_at_period_end"):
        return _end(sub, sub["items"]["data"][0]["current_period_end"], "cancellation_requested")
    return ops.advance_subscription(subscription_id, outcome)


def retry_invoice(subscription_id: str, outcome: str) -> dict:
    """Retry the subscription's open (failed) invoice (see the module docstring)."""
    if outcome not in RETRY_OUTCOMES:
        raise invalid("outcome must be one of: paid, failed, exhausted", "outcome")
    st = store()
    sub = _live_subscription(subscription_id)
    invoice = load("invoice", sub["latest_invoice"], "invoice")
    if invoice["status"] != "open":
        raise StripeError(
            400, f"Invoice {invoice['id']} is {invoice['status']}: nothing to retry.", code="invoice_not_open"
        )
    moment = so.now()
    invoice["attempt_count"] += 1
    if outcome == "paid":
        invoice.update(
            status="paid",
            amount_paid=invoice["amount_due"],
            amount_remaining=0,
            auto_advance=False,
            next_payment_attempt=None,
        )
        invoice["status_transitions"]["paid_at"] = moment
        st.save(invoice)
        if invoice["amount_due"]:
            customer = load("customer", sub["customer"], "customer")
            ops._charge_invoice(sub, invoice, customer, CARD_SUCCESS, customer.get("name"))
        emit("invoice.paid", invoice)
        previous = {"status": sub["status"]}
        sub["status"] = "active"
        st.save(sub)
        emit("customer.subscription.updated", sub, previous)
        return sub
    last = outcome == "exhausted"
    invoice["next_payment_attempt"] = None if last else moment + RETRY_INTERVAL
    st.save(invoice)
    emit("invoice.payment_failed", invoice)
    if last:
        return _end(sub, moment, "payment_failed")
    return sub


def _run_with_outcome(action: Callable[[str, str], dict], subscription_id: str) -> Response | tuple[Response, int]:
    """Run `action(subscription_id, outcome)` with the posted outcome (default paid), back to the subscription."""
    outcome = field("outcome", "paid") or "paid"
    return run_action(
        lambda: action(subscription_id, outcome),
        url_for("stripe_control.subscription", subscription_id=subscription_id),
    )


@bp.post("/subscriptions/<subscription_id>/advance")
def advance(subscription_id: str) -> Response | tuple[Response, int]:
    return _run_with_outcome(advance_subscription, subscription_id)


@bp.post("/subscriptions/<subscription_id>/retry")
def retry(subscription_id: str) -> Response | tuple[Response, int]:
    return _run_with_outcome(retry_invoice, subscription_id)
