"""Sellers' outbound webhook endpoints and delivery logs."""
from flask import Blueprint

bp = Blueprint("seller_webhooks", __name__, url_prefix="/sell/webhooks")
