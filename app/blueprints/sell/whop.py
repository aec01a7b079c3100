"""The seller's links to Whop (owners and admins): which Whop company is theirs (for the
dashboard view) and which products show as Whop experiences."""

from flask import Blueprint, g, request
from flask_login import current_user
from sqlalchemy import select

from app.blueprints.sell.products import get_own_product_or_404
from app.extensions import db
from app.models import Product
from app.services.whop_access import company_link_of, link_whop_company, link_whop_product, product_link_of
from app.web import commit_and_redirect, company_form, company_page, render

bp = Blueprint("whop", __name__, url_prefix="/whop")


def _page(errors=None, form=None, status=200):
    products = db.session.scalars(select(Product).order_by(Product.title)).all()
    links = {product.id: product_link_of(product) for product in products}
    return render(
        "whop/seller.html",
        company=g.company,
        company_link=company_link_of(g.company),
        products=products,
        links=links,
        errors=errors or {},
        form=form or {},
        http_status=status,
    )


def _link_refused(exc, product_id="company"):
    """The page again with the refused form (the company's, or one product's) as typed."""
    return _page({product_id: exc.errors}, {product_id: request.form}, exc.status)


company_page(bp, "settings", _page)


@company_form(bp, "/company", "settings", _link_refused)
def link_company():
    link = link_whop_company(g.company, current_user, request.form.get("whop_company_id"))
    return commit_and_redirect("Whop company linked." if link else "Whop company unlinked.", ".index")


@company_form(bp, "/products/<int:product_id>", "settings", _link_refused)
def link_product(product_id):
    product = get_own_product_or_404(product_id)
    link = link_whop_product(product, current_user, request.form)
    return commit_and_redirect(f"“{product.title}” is {'shown in' if link else 'no longer shown in'} Whop.", ".index")
