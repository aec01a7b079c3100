"""Browsing and searching gigs, gig pages, sellers' shop pages."""

from flask import Blueprint, abort, redirect, request, url_for
from flask_login import current_user
from jinja2_fragments.flask import render_block
from sqlalchemy import select

from app.extensions import db
from app.models import Company, Product
from app.pagecache import cached_for_anonymous, shared_fragment
from app.services import search
from app.web import render

bp = Blueprint("browse", __name__)


@bp.route("/gigs")
@cached_for_anonymous
def index():
    """The listing: search, filters, sort and pages; htmx gets only the results block.

    Refused filter values answer 422 with a message per field, and the listing runs without
    them (the form keeps what the visitor typed).
    """
    categories = search.list_categories()
    filters, errors = search.parse_filters(request.args, {c.slug: c.id for c in categories})
    shared = {
        "filters": filters,
        "errors": errors,
        "category": next((c for c in categories if c.slug == filters.category), None),
        "sorts": search.SORTS,
    }
    # The results are the same for everyone who asks for these filters: shared, not per user.
    results_html = shared_fragment(
        "gigs-results",
        repr((filters, sorted(errors.items()))),
        lambda: render_block("browse/index.html", "results", results=search.search_gigs(filters), **shared),
    )
    body, status, headers = render(
        "browse/index.html",
        "results",
        results_html=results_html,
        categories=categories,
        args=request.args,
        delivery_choices=search.DELIVERY_CHOICES,
        rating_choices=search.RATING_CHOICES,
        http_status=422 if errors else 200,
        **shared,
    )
    if request.headers.get("HX-Request") and not request.headers.get("HX-Boosted"):
        # Show the canonical address (no empty fields from the form) in the address bar.
        headers["HX-Push-Url"] = url_for("browse.index", **filters.query_args())
    return body, status, headers


@bp.route("/categories/<slug>")
def category(slug):
    """A category's listing is the gig listing filtered to it."""
    search.get_category_or_404(slug)
    return redirect(url_for("browse.index", category=slug))


@bp.route("/gigs/<slug>")
@cached_for_anonymous
def detail(slug):
    """A gig's page; drafts, paused and other unpublished gigs only for their seller and admins."""
    gig = search.get_gig_for_viewer_or_404(slug, current_user)
    return render("browse/detail.html", gig=gig, seller=search.seller_stats(gig.company_id))


@bp.route("/shops/<slug>")
@cached_for_anonymous
def shop(slug):
    """A seller's shop: who they are, their record, their live gigs and products on sale."""
    company = db.session.scalar(select(Company).where(Company.slug == slug, Company.kind == "seller"))
    if company is None or company.status != "active":
        abort(404)
    products = db.session.scalars(
        select(Product)
        .where(Product.company_id == company.id, Product.active.is_(True))
        .order_by(Product.created_at.desc(), Product.id.desc())
        .execution_options(skip_tenant_scope=True)
    ).all()
    return render(
        "browse/shop.html",
        company=company,
        seller=search.seller_stats(company.id),
        gigs=search.shop_gigs(company.id),
        products=products,
    )
