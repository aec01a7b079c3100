"""Seller side: onboarding, seller home, gig editor."""
from flask import Blueprint

bp = Blueprint("sell", __name__, url_prefix="/sell")
