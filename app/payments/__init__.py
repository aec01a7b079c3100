"""Payments: the Stripe gateway, the only code path that talks to Stripe (or its sandbox)."""

from app.payments.gateway import LineItem, StripeGateway, bps_to_percent, get_gateway

__all__ = ["LineItem", "StripeGateway", "bps_to_percent", "get_gateway"]
