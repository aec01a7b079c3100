"""Digital products: the seller's catalogue (/sell/products) and public product pages."""
from flask import Blueprint, abort, flash, g, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select

from app.access import seller_required
from app.extensions import db
from app.models import Membership, Product
from app.money import format_amount, marketplace_currency
from app.services.products import ProductError, save_product
from app.web import render

bp = Blueprint("products", __name__)
MANAGERS = ("owner", "admin")


@bp.route("/sell/products")
@seller_required
def index():
    products = db.session.scalars(select(Product).order_by(Product.created_at.desc())).all()
    return render("products/index.html", products=products)


def _form_page(product, form, errors, status=200):
    body, headers = render("products/form.html", product=product, form=form, errors=errors)
    return body, status, headers


@bp.route("/sell/products/new", methods=["GET", "POST"])
@seller_required(roles=MANAGERS)
def create():
    if request.method == "POST":
        try:
            product = save_product(g.company, request.form)
        except ProductError as exc:
            db.session.rollback()
            return _form_page(None, request.form, exc.errors, 422)
        db.session.commit()
        flash(f"“{product.title}” is saved.", "success")
        return redirect(url_for("products.index"), 303)
    return _form_page(None, {"billing": "one_time", "active": "on"}, {})


def get_own_product_or_404(product_id):
    """The current tenant's product. A SELECT (not session.get, which can answer from the
    identity map without asking the database) so the tenant scope always applies."""
    return db.session.scalar(select(Product).where(Product.id == product_id)) or abort(404)


@bp.route("/sell/products/<int:product_id>/edit", methods=["GET", "POST"])
@seller_required(roles=MANAGERS)
def update(product_id):
    product = get_own_product_or_404(product_id)
    if request.method == "POST":
        try:
            save_product(g.company, request.form, product)
        except ProductError as exc:
            db.session.rollback()
            return _form_page(product, request.form, exc.errors, 422)
        db.session.commit()
        flash(f"“{product.title}” is updated.", "success")
        return redirect(url_for("products.index"), 303)
    form = {"title": product.title, "description": product.description_md,
            "price": format_amount(product.price_cents, marketplace_currency()), "billing": product.billing,
            "trial_days": product.trial_days, "active": "on" if product.active else ""}
    return _form_page(product, form, {})


@bp.route("/products/<slug>")
def detail(slug):
    product = db.session.scalar(select(Product).where(Product.slug == slug))
    if product is None or not product.active:
        abort(404)
    owned = None
    if current_user.is_authenticated:
        owned = db.session.scalar(select(Membership).where(
            Membership.product_id == product.id, Membership.buyer_id == current_user.id,
            Membership.status.in_(("trialing", "active", "past_due"))))
    return render("products/detail.html", product=product, owned=owned)
