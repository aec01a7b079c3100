"""Which function handles each inbound webhook event: a table per provider, merged into
HANDLERS, which services/inbound.py reads.

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


def _reverse_commission(stripe_object: dict[str, Any], charge_field: str, amount_field: str, reason: str) -> object:
    """Claw back the affiliate commission of the product or subscription payment whose charge
    `stripe_object` names in `charge_field`, in proportion to its `amount_field` (a refund's
    or a dispute's)."""
    return reverse_for_charge(
        stripe_object.get(charge_field),
        stripe_object.get("payment_intent"),
        stripe_object.get(amount_field) or 0,
        reason,
    )


def record_charge_refunded(charge: dict[str, Any]) -> object:
    """charge.refunded: a gig order's refund (services/orders.py), else a product or
    subscription payment's, whose affiliate commission is clawed back in proportion."""
    return record_stripe_refund(charge) or _reverse_commission(charge, "id", "amount_refunded", "refunded")


def record_charge_dispute_closed(dispute: dict[str, Any]) -> object:
    """charge.dispute.closed: a gig order's chargeback (services/orders.py), else a lost one of a
    product or subscription payment claws its commission back."""
    order = record_stripe_dispute_closed(dispute)
    if order is not None or dispute.get("status") != "lost":
        return order
    return _reverse_commission(dispute, "charge", "amount", "dispute_lost")


# Stripe's event types.
_STRIPE: dict[str, Handler] = {
    # Payments (services/checkout.py): the webhook, not the browser, creates orders and memberships.
    "checkout.session.completed": complete_checkout,
    "invoice.paid": record_invoice_paid,
    "invoice.payment_failed": record_invoice_failed,
    "invoice.upcoming": record_invoice_upcoming,
    # Subscriptions: status and period (services/checkout.py), then what the member changed in
    # the customer portal (services/billing_portal.py): cancel at period end, renew, plan, card.
    "customer.subscription.created": sync_subscription_from_portal,
    "customer.subscription.updated": sync_subscription_from_portal,
    "customer.subscription.deleted": partial(sync_subscription_from_portal, deleted=True),
    "customer.updated": record_default_card,
    # Orders (services/orders.py): chargebacks and refunds made in Stripe's dashboard.
    "charge.dispute.created": record_stripe_dispute,
    "charge.dispute.closed": record_charge_dispute_closed,
    "charge.refunded": record_charge_refunded,
    # Sellers (services/sellers.py): KYC and payouts of a connected account.
    "account.updated": sync_connected_account,
}

# Whop (services/whop_access.py): memberships and payments of linked products.
_WHOP: dict[str, Handler] = {
    "membership.activated": partial(sync_whop_membership, activated=True),
    "membership.deactivated": partial(sync_whop_membership, activated=False),
    "payment.succeeded": record_whop_payment,
    "payment.failed": record_whop_payment_failed,
    "refund.created": record_whop_refund,
}

HANDLERS: dict[tuple[str, str], Handler] = {
    (provider, event_type): handler
    for provider, handlers in (("stripe", _STRIPE), ("whop", _WHOP))
    for event_type, handler in handlers.items()
}
