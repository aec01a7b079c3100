"""Home page."""

from flask import Blueprint

from app.pagecache import cached_for_anonymous
from app.services import search
from app.web import render

bp = Blueprint("main", __name__)


@bp.route("/")
@cached_for_anonymous
def index():
    """The storefront: search, categories, popular and top-rated gigs."""
    return render(
        "main/index.html",
        categories=search.list_categories(),
        counts=search.category_counts(),
        popular=search.popular_gigs(),
        top_rated=search.top_rated_gigs(),
    )
