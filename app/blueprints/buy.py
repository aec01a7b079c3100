"""Buying: the slide-out checkout for gigs, product checkout, and the return pages."""
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app.clock import now
from app.extensions import db, is_htmx
from app.models import Checkout, Gig, Membership, Order, Product
from app.services.checkout import (CheckoutError, create_gig_checkout, create_product_checkout,
                                   parse_gig_selection, quote_gig)
from app.web import render

bp = Blueprint("buy", __name__)


def get_published_gig_or_404(slug):
    gig = db.session.scalar(select(Gig).where(Gig.slug == slug))
    if gig is None or gig.status != "published":
        abort(404)
    return gig


def _quote_from(gig, source):
    """(quote, error) for the selection in `source` (query args or form)."""
    try:
        package, quantity, extras = parse_gig_selection(source)
        return quote_gig(gig, package, quantity, extras, buyer=current_user), None
    except CheckoutError as exc:
        return None, exc


def _render_checkout(gig, quote, error, status=200, block="drawer"):
    selection = request.values
    body, headers = render("buy/checkout.html", block, gig=gig, quote=quote, error=error,
                           selection=selection, drawer=is_htmx())
    return body, status if error is None else error.status, headers


@bp.route("/gigs/<slug>/checkout")
@login_required
def checkout(slug):
    """The checkout drawer (htmx) or page: package, quantity, extras, live total."""
    gig = get_published_gig_or_404(slug)
    quote, error = _quote_from(gig, request.args)
    return _render_checkout(gig, quote, error)


@bp.route("/gigs/<slug>/checkout/quote", methods=["POST"])
@login_required
def quote(slug):
    """Re-price the selection on every change; htmx swaps just the summary."""
    gig = get_published_gig_or_404(slug)
    quote, error = _quote_from(gig, request.form)
    return _render_checkout(gig, quote, error, block="summary")


@bp.route("/gigs/<slug>/checkout", methods=["POST"])
@login_required
def start(slug):
    """Store the price snapshot, create the Stripe Checkout Session, send the buyer to pay."""
    gig = get_published_gig_or_404(slug)
    quote, error = _quote_from(gig, request.form)
    if error is not None:
        db.session.rollback()
        return _render_checkout(gig, None, error, block="drawer")
    checkout = create_gig_checkout(current_user, quote, url_for("buy.cancelled", slug=gig.slug))
    db.session.commit()
    return _to_payment(checkout)


def _to_payment(checkout):
    if is_htmx():
        return "", 204, {"HX-Redirect": checkout.stripe_session_url}
    return redirect(checkout.stripe_session_url, 303)


@bp.route("/products/<slug>/checkout", methods=["POST"])
@login_required
def start_product(slug):
    product = db.session.scalar(select(Product).where(Product.slug == slug, Product.active.is_(True)))
    if product is None:
        abort(404)
    try:
        checkout = create_product_checkout(current_user, product,
                                           url_for("products.detail", slug=product.slug))
    except CheckoutError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("products.detail", slug=product.slug), 303)
    db.session.commit()
    return _to_payment(checkout)


def get_own_checkout_or_404(checkout_id=None, session_id=None):
    query = select(Checkout).where(Checkout.buyer_id == current_user.id)
    query = query.where(Checkout.id == checkout_id) if checkout_id else query.where(
        Checkout.stripe_session_id == session_id)
    checkout = db.session.scalar(query) if (checkout_id or session_id) else None
    if checkout is None:
        abort(404)
    return checkout


@bp.route("/checkout/success")
@login_required
def success():
    """Where Stripe returns the buyer: polls until the webhook has created the order."""
    checkout = get_own_checkout_or_404(session_id=request.args.get("session_id"))
    order = membership = None
    if checkout.kind == "gig":
        order = db.session.scalar(select(Order).where(Order.checkout_id == checkout.id))
    else:
        membership = db.session.scalar(select(Membership).where(Membership.checkout_id == checkout.id))
    return render("buy/success.html", "status", checkout=checkout, order=order, membership=membership)


@bp.route("/checkout/<int:checkout_id>/resume")
@login_required
def resume(checkout_id):
    """Back to Stripe for an open checkout; refused once it has expired or completed."""
    checkout = get_own_checkout_or_404(checkout_id=checkout_id)
    if checkout.status != "open" or checkout.is_expired(now()):
        body, headers = render("buy/expired.html", checkout=checkout)
        return body, 410, headers
    return redirect(checkout.stripe_session_url, 303)


@bp.route("/gigs/<slug>/checkout/cancelled")
@login_required
def cancelled(slug):
    flash("Checkout cancelled — you haven't been charged.", "info")
    return redirect(url_for("browse.detail", slug=slug), 303)
