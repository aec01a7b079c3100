"""Imports every module that registers inbound webhook handlers (see services/inbound.py)."""
from app.services import payment_events, sellers  # noqa: F401
from app.services import whop_access  # noqa: F401
from app.services import orders  # noqa: F401
