"""A buyer's member areas: the posts and files of a product, while their membership grants access.

Whop members see the same content in the iframe views of experiences.py; sellers edit it in
sell/member_content.py."""

from flask import Blueprint, abort, send_file
from flask_login import current_user, login_required

from app.extensions import db
from app.models import Product
from app.services.apps import experience_apps
from app.services.member_areas import get_member_file, member_area, member_file_path, member_tier
from app.services.whop_access import can_open_member_area, is_seller_of
from app.web import render

bp = Blueprint("member_areas", __name__, url_prefix="/account/products")


def send_member_file(product, file_id, tier_rank=None):
    """A member file of `product` as a private download (404 when it is not there; 403 when
    it asks for a higher tier than `tier_rank`, None = any)."""
    member_file = get_member_file(product, file_id) or abort(404)
    if tier_rank is not None and (member_file.min_tier_rank or 0) > tier_rank:
        abort(403)
    path = member_file_path(member_file)
    if not path.is_file():
        abort(404)
    response = send_file(
        path, mimetype=member_file.content_type, as_attachment=True, download_name=member_file.filename, max_age=0
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _product_or_404(product_id):
    return db.session.get(Product, product_id) or abort(404)


@bp.route("/<int:product_id>")
@login_required
def home(product_id):
    product = _product_or_404(product_id)
    if not can_open_member_area(current_user, product):
        return render("member/get_access.html", product=product, http_status=403)
    posts, files = member_area(product, viewer_tier(product))
    return render(
        "member/area.html", product=product, posts=posts, files=files, apps=experience_apps(product.company_id)
    )


def viewer_tier(product):
    """The signed-in user's tier in `product` (None: the seller's team, who see everything)."""
    return None if is_seller_of(current_user, product) else member_tier(current_user, product)


@bp.route("/<int:product_id>/files/<int:file_id>")
@login_required
def file(product_id, file_id):
    product = _product_or_404(product_id)
    if not can_open_member_area(current_user, product):
        abort(403)
    return send_member_file(product, file_id, viewer_tier(product))
