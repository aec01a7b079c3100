"""The outbound event catalogue: every event type a seller's endpoint can receive, when it is
sent, and an example of its `data`. The docs page, the endpoint form and `record_event` read it."""

import copy
from typing import Any

TEST_EVENT_TYPE = "webhook.test"

# What every commission.* example says about the commission (schemas.py COMMISSION).
_COMMISSION: dict[str, Any] = {
    "commission_id": 140,
    "referral_id": 88,
    "program_id": 4,
    "affiliate_user_id": 512,
    "payment_id": 901,
    "base_amount_cents": 12000,
    "amount_cents": 1200,
    "currency": "usd",
}

# The example gig order's price (order.*, referral.converted).
_PRICE: dict[str, Any] = {"amount_cents": 12000, "currency": "usd"}


def _order(status: str, **data: Any) -> dict[str, Any]:
    """An order.* example `data`: the example order (id 1042) in `status`, with `data`."""
    return {"order_id": 1042, "status": status, **data}


# type -> (when it is sent, example `data`).
EVENT_CATALOGUE: dict[str, tuple[str, dict[str, Any]]] = {
    "order.created": (
        "A buyer paid for a gig; the order is waiting for requirements.",
        _order(
            "awaiting_requirements",
            gig_id=77,
            package="standard",
            buyer_id=311,
            **_PRICE,
            due_at="2026-11-29T17:00:00Z",
        ),
    ),
    "order.requirements_submitted": (
        "The buyer answered the gig's questions; work starts now.",
        _order("in_progress", due_at="2026-12-01T17:00:00Z"),
    ),
    "order.delivered": (
        "You delivered the work; the buyer can accept it or ask for a revision.",
        _order("delivered", delivery_id=5, auto_complete_at="2026-12-04T17:00:00Z"),
    ),
    "order.revision_requested": (
        "The buyer asked for changes to a delivery.",
        _order("revision_requested", revision=1),
    ),
    "order.completed": (
        "The buyer accepted the delivery (or it auto-completed); funds start clearing.",
        _order("completed", seller_amount_cents=10800, currency="usd", clears_at="2026-12-18T17:00:00Z"),
    ),
    "order.cancelled": (
        "The order was cancelled by agreement or by an admin.",
        _order("cancelled", reason="Cancelled by agreement", amount_refunded_cents=12000, currency="usd"),
    ),
    "order.disputed": (
        "The buyer opened a dispute; an admin will review it.",
        _order("disputed", reason="not_as_described"),
    ),
    "order.refunded": (
        "The buyer was refunded.",
        _order("refunded", **_PRICE),
    ),
    "payment.succeeded": (
        "A payment for one of your products or gigs succeeded.",
        {
            "payment_id": 901,
            "amount_cents": 4900,
            "currency": "usd",
            "order_id": None,
            "membership_id": 58,
            "kind": "subscription",
        },
    ),
    "payment.refunded": (
        "A payment was refunded in full or in part.",
        {
            "payment_id": 901,
            "refund_id": 33,
            "amount_refunded_cents": 4900,
            "total_refunded_cents": 4900,
            "currency": "usd",
            "order_id": 1042,
        },
    ),
    "membership.activated": (
        "A buyer's subscription to one of your products became active.",
        {
            "membership_id": 58,
            "product_id": 12,
            "plan_id": 21,
            "buyer_id": 311,
            "status": "active",
            "renews_at": "2027-01-01T00:00:00Z",
            "access_ends_at": "2027-01-01T00:00:00Z",
        },
    ),
    "membership.deactivated": (
        "A subscription ended (cancelled, unpaid or refunded).",
        {
            "membership_id": 58,
            "product_id": 12,
            "plan_id": 21,
            "buyer_id": 311,
            "status": "canceled",
            "renews_at": None,
            "access_ends_at": "2026-12-01T17:00:00Z",
            "reason": "canceled",
        },
    ),
    "membership.updated": (
        "A member changed their subscription in the billing portal: scheduled its cancellation "
        "at the end of the period (cancel_scheduled), renewed it before then (cancel_withdrawn), "
        "switched plan (plan_changed) or replaced their card (card_updated).",
        {
            "membership_id": 58,
            "product_id": 12,
            "plan_id": 21,
            "buyer_id": 311,
            "status": "active",
            "renews_at": None,
            "access_ends_at": "2027-01-01T00:00:00Z",
            "change": "cancel_scheduled",
            "cancel_at_period_end": True,
            "cancel_at": "2027-01-01T00:00:00Z",
            "price_id": "price_1QxYz2AbCdEfGhIjKlMnOpQr",
            "card_last4": "4242",
        },
    ),
    "license.activated": (
        "A license key was issued or re-activated.",
        {"license_id": 230, "product_id": 12, "key_last4": "9F2C", "status": "active"},
    ),
    "license.deactivated": (
        "A license key was revoked or its membership ended.",
        {"license_id": 230, "product_id": 12, "key_last4": "9F2C", "status": "revoked"},
    ),
    "gig.published": (
        "An admin approved your gig; it is live in search.",
        {"gig_id": 77, "slug": "minimal-logo-design", "status": "published"},
    ),
    "gig.rejected": (
        "An admin sent your gig back with a reason.",
        {"gig_id": 77, "slug": "minimal-logo-design", "status": "rejected", "reason": "Images are blurry."},
    ),
    "payout.created": (
        "A payout of your available balance was started.",
        {"payout_id": 19, "amount_cents": 25000, "currency": "usd", "status": "pending", "transfer_id": None},
    ),
    "referral.converted": (
        "A buyer an affiliate referred paid for one of your listings for the first time; the buyer "
        "is now bound to that affiliate within your affiliate program.",
        {
            "referral_id": 88,
            "program_id": 4,
            "affiliate_user_id": 512,
            "buyer_id": 311,
            "listing_type": "gig",
            "listing_id": 77,
            "payment_id": 901,
            **_PRICE,
        },
    ),
    "commission.created": (
        "A referred payment earned an affiliate a commission from your share; it is pending until "
        "the payment (or its order) clears.",
        {
            **_COMMISSION,
            "status": "pending",
            "clears_at": "2026-12-18T17:00:00Z",
        },
    ),
    "commission.cleared": (
        "A pending commission cleared with its payment or order: the affiliate may withdraw it.",
        {
            **_COMMISSION,
            "status": "available",
            "clears_at": "2026-12-18T17:00:00Z",
        },
    ),
    "commission.reversed": (
        "A refund, a lost dispute or a cancellation clawed a commission back.",
        {
            **_COMMISSION,
            "status": "reversed",
            "clears_at": None,
            "reason": "refunded",
        },
    ),
    "commission.paid": (
        "A commission was withdrawn by the affiliate in a payout.",
        {
            **_COMMISSION,
            "status": "paid",
            "clears_at": None,
            "payout_id": 19,
        },
    ),
    "legends.quest_bonus_paid": (
        "A member of your Legends game claimed a quest with a cash bonus: it was paid from your "
        "available balance to their affiliate earnings.",
        {
            "quest_id": 310,
            "template_id": 12,
            "member_id": 45,
            "affiliate_user_id": 512,
            "title": "Three referrals this week",
            "amount_cents": 500,
            "currency": "usd",
        },
    ),
}
EVENT_TYPES = tuple(EVENT_CATALOGUE)
TEST_EVENT_DATA_MESSAGE = "This is a test event from Tradepost."


def example_data(event_type: str, **overrides: Any) -> dict[str, Any]:
    """A fresh copy of the documented example `data` of `event_type`, with `overrides`."""
    return {**copy.deepcopy(EVENT_CATALOGUE[event_type][1]), **overrides}


def example_payload(event_type: str) -> dict[str, Any]:
    """A documented example body for `event_type` (the docs page shows one per type)."""
    data = (
        {"endpoint_id": 7, "message": TEST_EVENT_DATA_MESSAGE}
        if event_type == TEST_EVENT_TYPE
        else EVENT_CATALOGUE[event_type][1]
    )
    return {
        "company_id": 12,
        "created": "2026-11-22T17:00:00.000000Z",
        "data": data,
        "id": "evt_5f0c2a9b7e1d4c3b8a6f0e21",
        "type": event_type,
    }
