"""The seller's digital products: the catalogue, new and edit (owners and admins).

A product's member content, license policy and Whop link have their own modules."""

from flask import Blueprint, abort, flash, g, redirect, request, url_for
from sqlalchemy import select

from app.access import company_required
from app.extensions import db
from app.inputs import body_limit
from app.models import Plan, Product
from app.money import format_amount, marketplace_currency
from app.services.gigs import MAX_IMAGE_BYTES
from app.services.plans import PlanError, get_product_plan, save_plan, set_plan_enabled
from app.services.products import save_product
from app.web import refusal_page, render

bp = Blueprint("products", __name__, url_prefix="/products")


def get_own_product_or_404(product_id):
    """The current tenant's product. A SELECT (not session.get, which can answer from the
    identity map without asking the database) so the tenant scope always applies."""
    return db.session.scalar(select(Product).where(Product.id == product_id)) or abort(404)


@bp.route("")
@company_required("products")
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


def _form_page(product, form, errors=None, status=200, plan_form=None, plan_errors=None):
    return render(
        "products/form.html",
        product=product,
        form=form,
        errors=errors or {},
        plans=_plans_of(product),
        plan_form=plan_form or {"billing": "month"},
        plan_errors=plan_errors or {},
        http_status=status,
    )


def _plans_of(product):
    if product is None:
        return []
    return db.session.scalars(select(Plan).where(Plan.product_id == product.id).order_by(Plan.id)).all()


def _product_form(product):
    return {
        "title": product.title,
        "description": product.description_md,
        "price": format_amount(product.price_cents, marketplace_currency()),
        "billing": product.billing,
        "trial_days": product.trial_days,
        "active": "on" if product.active else "",
    }


def _form_refused(exc, product_id=None):
    """The form again as typed, each field's error next to it."""
    product = get_own_product_or_404(product_id) if product_id is not None else None
    return _form_page(product, request.form, exc.errors, exc.status)


@bp.route("/new", methods=["GET", "POST"])
@body_limit(MAX_FORM_BYTES)
@company_required("products")
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
@company_required("products")
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
    return _form_page(product, _product_form(product))


# -- plans: on the product's own page ------------------------------------------------------


def get_own_plan_or_404(product, plan_id):
    return get_product_plan(product, plan_id) or abort(404)


def _plan_refused(exc, product_id, plan_id=None):
    """The product page again with the new plan as typed and each field's error."""
    product = get_own_product_or_404(product_id)
    if plan_id is not None:
        return _plan_page(product, get_own_plan_or_404(product, plan_id), request.form, exc.errors, exc.status)
    return _form_page(product, _product_form(product), None, exc.status, request.form, exc.errors)


def _plan_page(product, plan, form, errors=None, status=200):
    return render("products/plan.html", product=product, plan=plan, form=form, errors=errors or {}, http_status=status)


@bp.route("/<int:product_id>/plans", methods=["POST"])
@company_required("products")
@refusal_page(_plan_refused)
def add_plan(product_id):
    product = get_own_product_or_404(product_id)
    plan = save_plan(product, request.form)
    db.session.commit()
    flash(f"Plan “{plan.name}” added.", "success")
    return redirect(url_for(".update", product_id=product.id, _anchor="plans"), 303)


@bp.route("/<int:product_id>/plans/<int:plan_id>/edit", methods=["GET", "POST"])
@company_required("products")
@refusal_page(_plan_refused)
def update_plan(product_id, plan_id):
    product = get_own_product_or_404(product_id)
    plan = get_own_plan_or_404(product, plan_id)
    if request.method == "POST":
        save_plan(product, request.form, plan)
        db.session.commit()
        flash(f"Plan “{plan.name}” updated. Members keep the price they signed up at.", "success")
        return redirect(url_for(".update", product_id=product.id, _anchor="plans"), 303)
    form = {
        "name": plan.name,
        "billing": plan.billing,
        "price": format_amount(plan.price_cents, plan.currency),
        "trial_days": plan.trial_days,
        "tier_rank": plan.tier_rank or "",
    }
    return _plan_page(product, plan, form)


@bp.route("/<int:product_id>/plans/<int:plan_id>/status", methods=["POST"])
@company_required("products")
@refusal_page(_plan_refused)
def plan_status(product_id, plan_id):
    """Take a plan off sale (`enabled=off`) or put it on sale again (`enabled=on`)."""
    product = get_own_product_or_404(product_id)
    plan = get_own_plan_or_404(product, plan_id)
    choice = request.form.get("enabled")
    if choice not in ("on", "off"):
        raise PlanError({"enabled": "Choose on or off."})
    set_plan_enabled(product, plan, choice == "on")
    db.session.commit()
    flash(f"Plan “{plan.name}” is {'on sale' if plan.enabled else 'off sale; its members keep access'}.", "success")
    return redirect(url_for(".update", product_id=product.id, _anchor="plans"), 303)
