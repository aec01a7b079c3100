"""Admin review of gigs before they go live."""
from flask import Blueprint

bp = Blueprint("review", __name__, url_prefix="/admin/gigs")
