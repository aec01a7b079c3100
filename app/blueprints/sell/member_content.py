"""The seller's member-content editor (owners and admins): the posts and files that buyers of a
product see in its member area."""

from flask import Blueprint, abort, request
from flask_login import current_user

from app.access import company_required
from app.blueprints.sell.products import get_own_product_or_404
from app.inputs import body_limit
from app.services.member_areas import (
    MAX_FILE_BYTES,
    add_member_file,
    add_member_post,
    delete_member_file,
    delete_member_post,
    get_member_file,
    get_member_post,
    member_area,
)
from app.web import commit_and_redirect, company_form, refusal_page, render

bp = Blueprint("member_content", __name__, url_prefix="/products/<int:product_id>/content")


def _content_page(product, errors=None, form=None, status=200):
    posts, files = member_area(product)
    return render(
        "member/content.html",
        product=product,
        posts=posts,
        files=files,
        errors=errors or {},
        form=form or {},
        max_mb=MAX_FILE_BYTES // (1024 * 1024),
        http_status=status,
    )


def _content_refused(exc, product_id):
    """The editor again with the post as typed and the errors."""
    return _content_page(get_own_product_or_404(product_id), exc.errors, request.form, exc.status)


def _remove(product_id, get_item, delete_item, item_id, message):
    """Delete one of the product's member-area items (404 when it has no such item)."""
    product = get_own_product_or_404(product_id)
    delete_item(product, current_user, get_item(product, item_id) or abort(404))
    return commit_and_redirect(message, ".index", product_id=product_id)


@bp.route("")
@company_required("products")
def index(product_id):
    return _content_page(get_own_product_or_404(product_id))


@company_form(bp, "/posts", "products", _content_refused)
def add_post(product_id):
    add_member_post(get_own_product_or_404(product_id), current_user, request.form)
    return commit_and_redirect("Post published to your members.", ".index", product_id=product_id)


@bp.route("/posts/<int:post_id>/delete", methods=["POST"])
@company_required("products")
def remove_post(product_id, post_id):
    return _remove(product_id, get_member_post, delete_member_post, post_id, "Post removed.")


@bp.route("/files", methods=["POST"])
@body_limit(MAX_FILE_BYTES + 64 * 1024)
@company_required("products")
@refusal_page(_content_refused)
def add_file(product_id):
    add_member_file(get_own_product_or_404(product_id), current_user, request.files.get("file"), request.form)
    return commit_and_redirect("File added for your members.", ".index", product_id=product_id)


@bp.route("/files/<int:file_id>/delete", methods=["POST"])
@company_required("products")
def remove_file(product_id, file_id):
    return _remove(product_id, get_member_file, delete_member_file, file_id, "File removed.")
