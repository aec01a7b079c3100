"""Stripe payment webhooks → checkouts, orders and memberships (see services/checkout.py)."""
from app.services import checkout
from app.services.inbound import handles


@handles("stripe", "checkout.session.completed")
def handle_checkout_completed(event):
    checkout.complete_checkout(event.data_object)


@handles("stripe", "invoice.paid")
def handle_invoice_paid(event):
    checkout.record_invoice_paid(event.data_object)


@handles("stripe", "invoice.payment_failed")
def handle_invoice_failed(event):
    checkout.record_invoice_failed(event.data_object)


@handles("stripe", "customer.subscription.created", "customer.subscription.updated")
def handle_subscription_updated(event):
    checkout.sync_subscription(event.data_object)


@handles("stripe", "customer.subscription.deleted")
def handle_subscription_deleted(event):
    checkout.sync_subscription(event.data_object, deleted=True)
