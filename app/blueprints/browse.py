"""Browsing and searching gigs, gig pages, sellers' shop pages."""

from dataclasses import dataclass
from types import SimpleNamespace

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user
from jinja2_fragments.flask import render_block
from markupsafe import Markup
from sqlalchemy import select

from app.blueprints.affiliate import listing_program
from app.errors import NotFound
from app.extensions import db
from app.models import Company, Product
from app.pagecache import cached_for_anonymous, kept, parts_version
from app.services import search
from app.web import render

bp = Blueprint("browse", __name__)


SHARE_SLOT = Markup("<!--share-box-->")


@dataclass(frozen=True)
class KeptListing:
    """A listing page as every visitor sees it (its filters, results and title), kept under
    the parts version by its query string: `results` alone answers htmx."""

    title: Markup
    before: Markup
    results: Markup
    status: int
    push_url: str
    after: Markup = Markup("")


@dataclass(frozen=True)
class ListingRef:
    """What the share box needs of a gig (affiliate_share), with the seller's program as
    everyone sees it (affiliate.listing_program): no ORM object outlives a request."""

    id: int
    slug: str
    company_id: int
    company: SimpleNamespace
    program: dict


@dataclass(frozen=True)
class KeptGigPage:
    """A published gig's page as every visitor sees it, split at the personal share box."""

    title: Markup
    before: Markup
    after: Markup
    listing: ListingRef


@bp.route("/gigs")
@cached_for_anonymous
def index():
    """The listing: search, filters, sort and pages; htmx gets only the results block.

    Refused filter values answer 422 with a message per field, and the listing runs without
    them (the form keeps what the visitor typed). The page is the same for everyone who asks
    with this query string: kept (pagecache.kept), with only base.html rendered per request.
    """
    listing = kept(parts_version(), ("gigs", request.query_string), _listing)
    if request.headers.get("HX-Request") and not request.headers.get("HX-Boosted"):
        # Show the canonical address (no empty fields from the form) in the address bar.
        return listing.results, listing.status, {"Vary": "HX-Request", "HX-Push-Url": listing.push_url}
    return render_template("_partials/kept_page.html", part=listing), listing.status, {"Vary": "HX-Request"}


def _listing():
    categories = search.list_categories()
    filters, errors = search.parse_filters(request.args, {c.slug: c.id for c in categories})
    context = {
        "filters": filters,
        "errors": errors,
        "category": next((c for c in categories if c.slug == filters.category), None),
        "sorts": search.SORTS,
        "categories": categories,
        "args": request.args,
        "delivery_choices": search.DELIVERY_CHOICES,
        "rating_choices": search.RATING_CHOICES,
    }
    results = Markup(render_block("browse/index.html", "results", results=search.search_gigs(filters), **context))
    return KeptListing(
        title=Markup(render_block("browse/index.html", "title", **context)),
        before=Markup(render_block("browse/index.html", "content", results_html=results, **context)),
        results=results,
        status=422 if errors else 200,
        push_url=url_for("browse.index", **filters.query_args()),
    )


@bp.route("/categories/<slug>")
def category(slug):
    """A category's listing is the gig listing filtered to it."""
    search.get_category_or_404(slug)
    return redirect(url_for("browse.index", category=slug))


@bp.route("/gigs/<slug>")
@cached_for_anonymous
def detail(slug):
    """A gig's page; drafts, paused and other unpublished gigs only for their seller and admins.

    A published gig's page is kept for every visitor (by slug, and whether they are signed in:
    the package buttons open the checkout drawer for them); only the share box, with the
    visitor's own referral link, and base.html are rendered per request.
    """
    page = kept(parts_version(), ("gig", slug, current_user.is_authenticated), lambda: _gig_page(slug))
    if page is None:
        gig = search.get_gig_for_viewer_or_404(slug, current_user)
        return render("browse/detail.html", gig=gig, seller=search.seller_stats(gig.company_id))
    share = Markup(render_template("affiliates/_share_box.html", listing_type="gig", listing=page.listing))
    return render_template("_partials/kept_page.html", part=page, slot=share), 200, {"Vary": "HX-Request"}


def _gig_page(slug):
    """The published gig's KeptGigPage, None when there is no published gig at `slug`."""
    try:
        gig = search.get_gig_for_viewer_or_404(slug, None)
    except NotFound:
        return None
    context = {"gig": gig, "seller": search.seller_stats(gig.company_id), "share_slot": SHARE_SLOT}
    before, _, after = render_block("browse/detail.html", "content", **context).partition(SHARE_SLOT)
    company = SimpleNamespace(title=gig.company.title)
    listing = ListingRef(gig.id, gig.slug, gig.company_id, company, listing_program("gig", gig))
    return KeptGigPage(
        Markup(render_block("browse/detail.html", "title", **context)), Markup(before), Markup(after), listing
    )


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
