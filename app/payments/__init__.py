"""Payments: the Stripe gateway, the only code path that talks to Stripe (or its sandbox)."""

from app.payments.gateway import (
    LineItem,
    PaymentsUnavailable,
    StripeGateway,
    bps_to_percent,
    get_gateway,
    new_idempotency_key,
)

__all__ = ["LineItem", "PaymentsUnavailable", "StripeGateway", "bps_to_percent", "get_gateway", "new_idempotency_key"]
