"""Browsing and searching gigs, gig pages."""
from flask import Blueprint

bp = Blueprint("browse", __name__)
