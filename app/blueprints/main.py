"""Home page and health check."""

from flask import Blueprint, jsonify
from sqlalchemy import text

from app.extensions import db
from app.pagecache import cached_for_anonymous
from app.queue import get_redis
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


@bp.route("/healthz")
def healthz():
    """200 when the database and Redis answer; 503 naming whichever does not."""
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means unhealthy; the name is what operators need
        db.session.rollback()
        checks["database"] = f"error: {type(exc).__name__}"
    try:
        get_redis().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {type(exc).__name__}"
    failing = [name for name, state in checks.items() if state != "ok"]
    status = 503 if failing else 200
    return jsonify(status="ok" if not failing else "unavailable", failing=failing, checks=checks), status
