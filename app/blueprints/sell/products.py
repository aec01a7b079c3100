"""The seller's digital products: the catalogue, new and edit (owners and admins).

A product's member content, license policy and Whop link have their own modules."""

from flask import Blueprint, abort, flash, g, redirect, request, url_for
from sqlalchemy import select

from app.access import manager_required, seller_required
from app.extensions import db
from app.inputs import body_limit
from app.models import Product
from app.money import format_amount, marketplace_currency
from app.services.gigs import MAX_IMAGE_BYTES
from app.services.products import save_product
from app.web import refusal_page, render

bp = Blueprint("products", __name__, url_prefix="/products")


def get_own_product_or_404(product_id):
    """The current tenant's product. A SELECT (not session.get, which can answer from the
    identity map without asking the database) so the tenant scope always applies."""
    return db.session.scalar(select(Product).where(Product.id == product_id)) or abort(404)


@bp.route("")
@seller_required
def index():
    products = db.session.scalars(select(Product).order_by(Product.created_at.desc())).all()
    return render("products/index.html", products=products)


# The product form may carry one picture (5 MB at most) besides its fields.
MAX_FORM_BYTES = MAX_IMAGE_BYTES + 256 * 1024


def _uploaded_image():
    """(filename, bytes) of the picture sent with the form, or None when none was chosen."""
    upload = request.files.get("image")
    if upload is None or not upload.filename:
        return None
    return upload.filename, upload.read(MAX_IMAGE_BYTES + 1)


def _form_page(product, form, errors=None, status=200):
    return render("products/form.html", product=product, form=form, errors=errors or {}, http_status=status)


def _form_refused(exc, product_id=None):
    """The form again as typed, each field's error next to it."""
    product = get_own_product_or_404(product_id) if product_id is not None else None
    return _form_page(product, request.form, exc.errors, exc.status)


@bp.route("/new", methods=["GET", "POST"])
@body_limit(MAX_FORM_BYTES)
@manager_required
@refusal_page(_form_refused)
def create():
    if request.method == "POST":
        product = save_product(g.company, request.form, image=_uploaded_image())
        db.session.commit()
        flash(f"“{product.title}” is saved.", "success")
        return redirect(url_for(".index"), 303)
    return _form_page(None, {"billing": "one_time", "active": "on"})


@bp.route("/<int:product_id>/edit", methods=["GET", "POST"])
@body_limit(MAX_FORM_BYTES)
@manager_required
@refusal_page(_form_refused)
def update(product_id):
    product = get_own_product_or_404(product_id)
    if request.method == "POST":
        save_product(
            g.company,
            request.form,
            product,
            image=_uploaded_image(),
            remove_image=request.form.get("remove_image") in ("on", "1", "true", "y"),
        )
        db.session.commit()
        flash(f"“{product.title}” is updated.", "success")
        return redirect(url_for(".index"), 303)
    form = {
        "title": product.title,
        "description": product.description_md,
        "price": format_amount(product.price_cents, marketplace_currency()),
        "billing": product.billing,
        "trial_days": product.trial_days,
        "active": "on" if product.active else "",
    }
    return _form_page(product, form)
