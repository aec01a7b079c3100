"""The seller's member-content editor (owners and admins): the posts and files that buyers of a
product see in its member area."""

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from app.access import manager_required
from app.blueprints.sell.products import get_own_product_or_404
from app.extensions import db
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
from app.web import refusal_page, render

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


def _back_to_content(product_id, message):
    flash(message, "success")
    return redirect(url_for(".index", product_id=product_id), 303)


@bp.route("")
@manager_required
def index(product_id):
    return _content_page(get_own_product_or_404(product_id))


@bp.route("/posts", methods=["POST"])
@manager_required
@refusal_page(_content_refused)
def add_post(product_id):
    add_member_post(get_own_product_or_404(product_id), current_user, request.form)
    db.session.commit()
    return _back_to_content(product_id, "Post published to your members.")


@bp.route("/posts/<int:post_id>/delete", methods=["POST"])
@manager_required
def remove_post(product_id, post_id):
    product = get_own_product_or_404(product_id)
    delete_member_post(product, current_user, get_member_post(product, post_id) or abort(404))
    db.session.commit()
    return _back_to_content(product_id, "Post removed.")


@bp.route("/files", methods=["POST"])
@body_limit(MAX_FILE_BYTES + 64 * 1024)
@manager_required
@refusal_page(_content_refused)
def add_file(product_id):
    add_member_file(get_own_product_or_404(product_id), current_user, request.files.get("file"), request.form)
    db.session.commit()
    return _back_to_content(product_id, "File added for your members.")


@bp.route("/files/<int:file_id>/delete", methods=["POST"])
@manager_required
def remove_file(product_id, file_id):
    product = get_own_product_or_404(product_id)
    delete_member_file(product, current_user, get_member_file(product, file_id) or abort(404))
    db.session.commit()
    return _back_to_content(product_id, "File removed.")
