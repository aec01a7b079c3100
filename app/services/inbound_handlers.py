"""Which function handles each inbound webhook event: one table, read by services/inbound.py.

A handler takes the event's object (Stripe's `data.object`, Whop's `data`) and must be
idempotent: the pipeline may run it twice after a crash, and providers deliver events more
than once and out of order. A type not listed here is stored, logged and marked ignored.
"""

from collections.abc import Callable
from functools import partial
from typing import Any

from app.services.affiliates.commissions import reverse_for_charge
from app.services.billing_portal import record_default_card, sync_subscription_from_portal
from app.services.checkout import complete_checkout, record_invoice_failed, record_invoice_paid, record_invoice_upcoming
from app.services.orders import record_stripe_dispute, record_stripe_dispute_closed, record_stripe_refund
from app.services.sellers import sync_connected_account
from app.services.whop_access import (
    record_whop_payment,
    record_whop_payment_failed,
    record_whop_refund,
    sync_whop_membership,
)

Handler = Callable[[dict[str, Any]], object]


def record_charge_refunded(charge: dict[str, Any]) -> object:
    """charge.refunded: a gig order's refund (services/orders.py), else a product or
    subscription payment's, whose affiliate commission is clawed back in proportion."""
    return record_stripe_refund(charge) or reverse_for_charge(
        charge.get("id"), charge.get("payment_intent"), charge.get("amount_refunded") or 0, "refunded"
    )


def record_charge_dispute_closed(dispute: dict[str, Any]) -> object:
    """charge.dispute.closed: a gig order's chargeback (services/orders.py), else a lost one of a
    product or subscription payment claws its commission back."""
    order = record_stripe_dispute_closed(dispute)
    if order is not None or dispute.get("status") != "lost":
        return order
    return reverse_for_charge(
        dispute.get("charge"), dispute.get("payment_intent"), dispute.get("amount") or 0, "dispute_lost"
    )


HANDLERS: dict[tuple[str, str], Handler] = {
    # Payments (services/checkout.py): the webhook, not the browser, creates orders and memberships.
    ("stripe", "checkout.session.completed"): complete_checkout,
    ("stripe", "invoice.paid"): record_invoice_paid,
    ("stripe", "invoice.payment_failed"): record_invoice_failed,
    ("stripe", "invoice.upcoming"): record_invoice_upcoming,
    # Subscriptions: status and period (services/checkout.py), then what the member changed in
    # the customer portal (services/billing_portal.py): cancel at period end, renew, plan, card.
    ("stripe", "customer.subscription.created"): sync_subscription_from_portal,
    ("stripe", "customer.subscription.updated"): sync_subscription_from_portal,
    ("stripe", "customer.subscription.deleted"): partial(sync_subscription_from_portal, deleted=True),
    ("stripe", "customer.updated"): record_default_card,
    # Orders (services/orders.py): chargebacks and refunds made in Stripe's dashboard.
    ("stripe", "charge.dispute.created"): record_stripe_dispute,
    ("stripe", "charge.dispute.closed"): record_charge_dispute_closed,
    ("stripe", "charge.refunded"): record_charge_refunded,
    # Sellers (services/sellers.py): KYC and payouts of a connected account.
    ("stripe", "account.updated"): sync_connected_account,
    # Whop (services/whop_access.py): memberships and payments of linked products.
    ("whop", "membership.activated"): partial(sync_whop_membership, activated=True),
    ("whop", "membership.deactivated"): partial(sync_whop_membership, activated=False),
    ("whop", "payment.succeeded"): record_whop_payment,
    ("whop", "payment.failed"): record_whop_payment_failed,
    ("whop", "refund.created"): record_whop_refund,
}
