"""Self-service billing through Stripe's customer portal (Billing Portal sessions).

A buyer with a running Stripe subscription opens the portal from their account
(`open_billing_portal`): Stripe's hosted page lets them cancel at the end of the period and
renew before it ends, switch plan among the product's prices, and replace their card. Nothing
changes here when they click: Stripe's webhooks tell us, and the handlers below (listed in
services/inbound_handlers.py) bring the membership in line and tell the seller
(`membership.updated`).

The handlers re-read the subscription from Stripe rather than trusting the event's copy, so
events arriving late, twice or out of order all leave the membership as Stripe has it now.
"""

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from app.clock import iso_z
from app.errors import NotFound, ServiceError
from app.extensions import db
from app.models import Checkout, Membership, Plan, User
from app.payments import get_gateway
from app.services.checkout import _membership_data, sync_subscription
from app.services.outbound.outbox import record_event

CHANGES = ("cancel_scheduled", "cancel_withdrawn", "plan_changed", "card_updated")


class PortalRefused(ServiceError):
    """This membership has no subscription the buyer can manage: 409."""

    def __init__(self, message: str):
        super().__init__(409, "portal_refused", message)


def _own_membership(buyer: User, membership_id: int) -> Membership:
    membership = db.session.scalar(select(Membership).where(Membership.id == membership_id))
    if membership is None or membership.buyer_id != buyer.id:
        raise NotFound("No such membership.")
    return membership


def open_billing_portal(buyer: User, membership_id: int, return_url: str) -> str:
    """The URL of a fresh Billing Portal session for the buyer's own subscription membership.

    Refuses another buyer's membership (404, its existence not leaked), a one-time purchase,
    a Whop membership and an ended subscription (409). Raises PaymentsUnavailable (503) when
    Stripe can't be reached; nothing is written then. Records the subscription's Stripe
    customer on the membership the first time (the caller commits)."""
    membership = _own_membership(buyer, membership_id)
    if membership.source != "stripe" or not membership.stripe_subscription_id:
        raise PortalRefused("A one-time purchase has no subscription to manage.")
    if not membership.grants_access:
        raise PortalRefused("This subscription has ended; there is nothing left to manage.")
    gateway = get_gateway()
    configuration = None
    if not membership.stripe_customer_id or len(_switchable_plans(membership)) > 1:
        subscription = gateway.retrieve_subscription(membership.stripe_subscription_id).to_dict()
        membership.stripe_customer_id = subscription["customer"]
        db.session.flush()
        configuration = _portal_configuration(membership, subscription)
    session = gateway.create_billing_portal_session(
        customer=membership.stripe_customer_id, return_url=return_url, configuration=configuration
    )
    return session.url


def _switchable_plans(membership: Membership) -> list[Plan]:
    """The product's enabled subscription plans (monthly and yearly) a member may switch among."""
    return [plan for plan in membership.product.enabled_plans if plan.is_subscription]


def _portal_configuration(membership: Membership, subscription: Mapping[str, Any]) -> str | None:
    """A portal configuration offering the product's other subscription plans as prices of the
    subscription's own Stripe product (made here, once per membership, plan and price: the keys
    come from the membership's checkout key), or None when there is nothing to switch to."""
    checkout = db.session.get(Checkout, membership.checkout_id) if membership.checkout_id else None
    item = (subscription.get("items") or {}).get("data", [{}])[0]
    price = item.get("price") or {}
    plans = [p for p in _switchable_plans(membership) if p.currency == subscription.get("currency", p.currency)]
    if checkout is None or not price.get("product") or len(plans) < 2:
        return None
    gateway = get_gateway()
    price_ids = [price["id"]]
    for plan in plans:
        if _price_plan_id(price, membership) == plan.id and _same_terms(price, plan):
            continue
        created = gateway.create_price(
            unit_amount=plan.price_cents,
            currency=plan.currency,
            interval="year" if plan.billing == "year" else "month",
            product=price["product"],
            nickname=plan.name,
            metadata={"plan_id": plan.id, "product_id": membership.product_id},
            idempotency_key=f"{checkout.idempotency_key}:plan-price:{plan.id}:{plan.billing}:{plan.price_cents}",
        )
        price_ids.append(created.id)
    digest = hashlib.sha256(",".join(price_ids).encode()).hexdigest()[:24]
    config = gateway.create_portal_configuration(
        products=[{"product": price["product"], "prices": price_ids}],
        idempotency_key=f"{checkout.idempotency_key}:portal:{digest}",
    )
    return config.id


def _same_terms(price: Mapping[str, Any], plan: Plan) -> bool:
    interval = ((price.get("recurring") or {}).get("interval")) or ""
    return price.get("unit_amount") == plan.price_cents and interval == plan.billing


def _price_plan_id(price: Mapping[str, Any], membership: Membership) -> int | None:
    """The plan a Stripe price stands for: its `metadata.plan_id` (a plan of the membership's
    product), else — the price the member subscribed with — the plan of their checkout."""
    raw = str((price.get("metadata") or {}).get("plan_id") or "")
    if raw.isdigit():
        plan = db.session.get(Plan, int(raw))
        return plan.id if plan is not None and plan.product_id == membership.product_id else None
    checkout = db.session.get(Checkout, membership.checkout_id) if membership.checkout_id else None
    return checkout.plan_id if checkout is not None else membership.plan_id


def _stamp(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


def membership_update_data(membership: Membership, change: str) -> dict[str, Any]:
    """The `data` of a `membership.updated` event: the membership as `membership.activated`
    shows it, what changed, and the portal's fields."""
    return {
        **_membership_data(membership),
        "change": change,
        "cancel_at_period_end": membership.cancel_at_period_end,
        "cancel_at": iso_z(membership.cancel_at),
        "price_id": membership.stripe_price_id,
        "card_last4": membership.card_last4,
    }


def _announce(membership: Membership, change: str) -> None:
    record_event(membership.company_id, "membership.updated", membership_update_data(membership, change))


def apply_subscription_changes(
    membership: Membership, subscription: Mapping[str, Any], was_cancelling: bool
) -> list[str]:
    """Copy what the portal changes (cancel at period end, price, customer) from Stripe's
    subscription onto the membership; announce each change once (`was_cancelling`: the flag
    before this event). Returns the changes."""
    changes = []
    membership.stripe_customer_id = subscription.get("customer") or membership.stripe_customer_id
    cancelling = bool(subscription.get("cancel_at_period_end"))
    cancel_at = _stamp(subscription.get("cancel_at")) if cancelling else None
    if cancelling != was_cancelling:
        changes.append("cancel_scheduled" if cancelling else "cancel_withdrawn")
    membership.cancel_at_period_end, membership.cancel_at = cancelling, cancel_at
    items = (subscription.get("items") or {}).get("data") or []
    price_id = (items[0].get("price") or {}).get("id") if items else None
    if price_id and price_id != membership.stripe_price_id:
        if membership.stripe_price_id is not None:
            changes.append("plan_changed")
            membership.plan_id = _price_plan_id(items[0]["price"], membership) or membership.plan_id
        membership.stripe_price_id = price_id
    db.session.flush()
    for change in changes:
        _announce(membership, change)
    return changes


def sync_subscription_from_portal(subscription: Mapping[str, Any], deleted: bool = False) -> Membership | None:
    """customer.subscription.created/updated/deleted: status and period (services/checkout.py),
    then what the portal changes, as Stripe has the subscription now."""
    before = db.session.scalar(select(Membership).where(Membership.stripe_subscription_id == subscription["id"]))
    was_cancelling = bool(before and before.cancel_at_period_end)
    membership = sync_subscription(subscription, deleted=deleted)
    if membership is None:
        return None
    current = subscription if deleted else get_gateway().retrieve_subscription(subscription["id"]).to_dict()
    membership.cancel_at_period_end = bool(current.get("cancel_at_period_end"))
    apply_subscription_changes(membership, current, was_cancelling)
    return membership


def record_default_card(customer: Mapping[str, Any]) -> list[Membership]:
    """customer.updated: the card the customer's invoices are charged to now (a portal card
    update) is recorded on their memberships (brand and last four digits), announced once."""
    memberships = db.session.scalars(select(Membership).where(Membership.stripe_customer_id == customer["id"])).all()
    method_id = (customer.get("invoice_settings") or {}).get("default_payment_method")
    if not memberships or not method_id:
        return []
    fresh = get_gateway().retrieve_customer(customer["id"]).to_dict()
    method_id = (fresh.get("invoice_settings") or {}).get("default_payment_method") or method_id
    card = get_gateway().retrieve_payment_method(method_id).to_dict().get("card") or {}
    brand, last4 = card.get("brand"), card.get("last4")
    for membership in memberships:
        if (membership.card_brand, membership.card_last4) != (brand, last4):
            membership.card_brand, membership.card_last4 = brand, last4
            db.session.flush()
            _announce(membership, "card_updated")
    return list(memberships)
