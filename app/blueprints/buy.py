"""Buying: the slide-out checkout for gigs, product pages and their checkout, and the pages Stripe
returns the buyer to."""

from functools import partial

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import lazyload

from app.blueprints.referrals import referral_claims
from app.clock import now
from app.extensions import db, is_htmx
from app.models import Checkout, Gig, Membership, Order, Product
from app.payments import PaymentsUnavailable
from app.services import product_reviews, search
from app.services.affiliates.attribution import attach_referral
from app.services.checkout import (
    CheckoutError,
    checkout_payment_state,
    create_checkout_session,
    open_gig_checkout,
    open_product_checkout,
    parse_gig_selection,
    quote_gig,
)
from app.services.plans import choose_plan
from app.web import refusal_page, render

bp = Blueprint("buy", __name__)
UNAVAILABLE = "Payments are unavailable right now. Nothing was charged — please try again."
# How often the return page asks again, by what Stripe said (seconds; None = it doesn't).
POLL_SECONDS = {"paid": 1, "processing": 5, "unknown": 5, "unpaid": None, "expired": None}


def get_published_gig_or_404(slug, *options):
    """The published gig at `slug` (loader `options` added to the query), else a 404."""
    gig = db.session.scalar(select(Gig).where(Gig.slug == slug).options(*options))
    if gig is None or gig.status != "published":
        abort(404)
    return gig


def _quote_from(gig, source):
    """The price of the selection in `source` (query args or form); CheckoutError if refused."""
    package, quantity, extras = parse_gig_selection(source)
    return quote_gig(gig, package, quantity, extras, buyer=current_user)


def _render_checkout(gig, quote, error=None, block="drawer"):
    return render(
        "buy/checkout.html",
        block,
        gig=gig,
        quote=quote,
        error=error,
        selection=request.values,
        drawer=is_htmx(),
        http_status=200 if error is None else error.status,
    )


def _checkout_refused(exc, slug, block="drawer"):
    """The drawer again with the selection kept: the refusal, or — Stripe unreachable — the
    quote and what did not happen."""
    gig = get_published_gig_or_404(slug)
    if isinstance(exc, PaymentsUnavailable):
        return _render_checkout(
            gig, _quote_from(gig, request.values), CheckoutError("payment", UNAVAILABLE, 503), block
        )
    return _render_checkout(gig, None, exc, block)


@bp.route("/gigs/<slug>/checkout")
@login_required
@refusal_page(_checkout_refused)
def checkout(slug):
    """The checkout drawer (htmx) or page: package, quantity, extras, live total."""
    gig = get_published_gig_or_404(slug)
    return _render_checkout(gig, _quote_from(gig, request.args))


@bp.route("/gigs/<slug>/checkout/quote", methods=["POST"])
@login_required
@refusal_page(partial(_checkout_refused, block="summary"))
def quote(slug):
    """Re-price the selection on every change; htmx swaps just the summary."""
    gig = get_published_gig_or_404(slug)
    return _render_checkout(gig, _quote_from(gig, request.form), block="summary")


@bp.route("/gigs/<slug>/checkout", methods=["POST"])
@login_required
@refusal_page(_checkout_refused)
def start(slug):
    """Store the price snapshot and commit it, create the Stripe Checkout Session with its key,
    send the buyer to pay. Stripe unreachable: 503, the drawer again with the selection kept."""
    gig = get_published_gig_or_404(slug, lazyload(Gig.images), lazyload(Gig.questions))
    checkout = open_gig_checkout(current_user, _quote_from(gig, request.form))
    _attach_referral(checkout)
    cancel_path = url_for("buy.cancelled", slug=gig.slug)
    commit_keeping_loaded()
    return _to_payment(create_checkout_session(checkout, cancel_path))


def _attach_referral(checkout):
    """The checkout's referral from the visitor's claims (none without a claim cookie: no
    query then, as a reused checkout keeps its first referral anyway)."""
    claims = referral_claims()
    if claims:
        attach_referral(checkout, claims)


def commit_keeping_loaded():
    """Commit the checkout before Stripe is asked, without expiring what this request loaded:
    the snapshot just written is what the session is created from (no reloading round trips)."""
    session = db.session()
    previous, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = previous


def _to_payment(checkout):
    """Commit the checkout's session and send the buyer to Stripe's page."""
    url = checkout.stripe_session_url
    db.session.commit()
    if is_htmx():
        return "", 204, {"HX-Redirect": url}
    return redirect(url, 303)


def get_active_product_or_404(slug):
    product = db.session.scalar(select(Product).where(Product.slug == slug, Product.active.is_(True)))
    return product or abort(404)


def _owned(product):
    """The signed-in buyer's membership of `product` that still grants access, or None."""
    if not current_user.is_authenticated:
        return None
    memberships = db.session.scalars(
        select(Membership)
        .where(Membership.product_id == product.id, Membership.buyer_id == current_user.id)
        .order_by(Membership.id.desc())
    ).all()
    return next((membership for membership in memberships if membership.grants_access), None)


def _product_page(found, *, error=None, error_field=None, errors=None, form=None, status=200):
    """The product page: picture, description, price and "Buy" (or what the buyer owns), the
    seller's card, and reviews with the form for a buyer who paid and hasn't reviewed yet."""
    return render(
        "products/detail.html",
        product=found,
        owned=_owned(found),
        error=error,
        error_field=error_field,
        seller=search.seller_stats(found.company_id),
        rating=product_reviews.product_rating(found.id),
        reviews=product_reviews.product_reviews(found.id),
        can_review=product_reviews.can_review(found, current_user),
        errors=errors or {},
        form=form or {},
        http_status=status,
    )


@bp.route("/products/<slug>")
def product(slug):
    """A product's page: what it is, who sells it, what buyers say, and "Buy"."""
    return _product_page(get_active_product_or_404(slug))


def _product_checkout_refused(exc, slug):
    """The product page again, saying why (Stripe unreachable: that nothing was charged)."""
    message = UNAVAILABLE if isinstance(exc, PaymentsUnavailable) else exc.message
    return _product_page(
        get_active_product_or_404(slug), error=message, error_field=getattr(exc, "field", None), status=exc.status
    )


def _product_review_refused(exc, slug):
    """The product page again: a field's error next to it (the stars, the text) with what was
    typed, anything else (never paid, already reviewed) said in the reviews section."""
    found = get_active_product_or_404(slug)
    if exc.errors:
        return _product_page(found, errors=exc.errors, form=request.form, status=exc.status)
    return _product_page(found, errors={"review": exc.message}, status=exc.status)


@bp.route("/products/<slug>/reviews", methods=["POST"])
@login_required
@refusal_page(_product_review_refused)
def review_product(slug):
    """A buyer who paid for the product reviews it, once."""
    found = get_active_product_or_404(slug)
    product_reviews.leave_product_review(found, current_user, request.form.get("rating"), request.form.get("body"))
    db.session.commit()
    flash("Thanks for your review!", "success")
    return redirect(url_for(".product", slug=found.slug, _anchor="reviews"), 303)


@bp.route("/products/<slug>/checkout", methods=["POST"])
@login_required
@refusal_page(_product_checkout_refused)
def start_product(slug):
    """Buy the product on the plan in the form's `plan` field (default: its first plan on sale)."""
    product = get_active_product_or_404(slug)
    checkout = open_product_checkout(current_user, product, choose_plan(product, request.form.get("plan")))
    _attach_referral(checkout)
    cancel_path = url_for("buy.product", slug=product.slug)
    commit_keeping_loaded()
    return _to_payment(create_checkout_session(checkout, cancel_path))


def get_own_checkout_or_404(checkout_id=None, session_id=None):
    query = select(Checkout).where(Checkout.buyer_id == current_user.id)
    query = (
        query.where(Checkout.id == checkout_id)
        if checkout_id
        else query.where(Checkout.stripe_session_id == session_id)
    )
    checkout = db.session.scalar(query) if (checkout_id or session_id) else None
    if checkout is None:
        abort(404)
    return checkout


@bp.route("/checkout/success")
@login_required
def success():
    """Where Stripe returns the buyer. Until the webhook has created the order it says what
    Stripe says — paid (and polls until the order exists), processing, not paid yet, expired —
    never that money was taken when it wasn't."""
    checkout = get_own_checkout_or_404(session_id=request.args.get("session_id"))
    order = membership = state = None
    if checkout.kind == "gig":
        order = db.session.scalar(select(Order).where(Order.checkout_id == checkout.id))
    else:
        membership = db.session.scalar(select(Membership).where(Membership.checkout_id == checkout.id))
    if order is None and membership is None:
        state = checkout_payment_state(checkout)
    return render(
        "buy/success.html",
        "status",
        checkout=checkout,
        order=order,
        membership=membership,
        state=state,
        poll_seconds=POLL_SECONDS.get(state),
    )


@bp.route("/checkout/<int:checkout_id>/resume")
@login_required
def resume(checkout_id):
    """Back to Stripe for an open checkout; refused once it has expired or completed."""
    checkout = get_own_checkout_or_404(checkout_id=checkout_id)
    # No session: Stripe was unreachable when it was started; starting again makes one.
    if checkout.status != "open" or checkout.is_expired(now()) or not checkout.stripe_session_url:
        return render("buy/expired.html", checkout=checkout, http_status=410)
    return redirect(checkout.stripe_session_url, 303)


@bp.route("/gigs/<slug>/checkout/cancelled")
@login_required
def cancelled(slug):
    flash("Checkout cancelled — you haven't been charged.", "info")
    return redirect(url_for("browse.detail", slug=slug), 303)
