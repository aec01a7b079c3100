"""Gig gallery images and product pictures: public once the gig is published (the product on
sale), before that only for the seller's members and platform admins."""

from flask import Blueprint, abort, send_file
from flask_login import current_user
from sqlalchemy import select

from app.extensions import db
from app.models import GigImage, Product
from app.services import storage

bp = Blueprint("images", __name__, url_prefix="/images")


def _image_by_key(key):
    """(content type, company, public) of the gig image or product picture stored under `key`."""
    found = db.session.scalar(select(GigImage).where(GigImage.storage_key == key))
    if found is not None:
        return found.content_type, found.gig.company, found.gig.status == "published"
    product = db.session.scalar(
        select(Product).where(Product.image_key == key).execution_options(skip_tenant_scope=True)
    )
    if product is not None:
        return product.image_content_type, product.company, product.active
    abort(404)


@bp.route("/<path:key>")
def show(key):
    """An image by storage key (404 for anyone who may not see it). Keys name the content, so
    a public image may be cached for a long time."""
    content_type, company, public = _image_by_key(key)
    allowed = public or (
        current_user.is_authenticated and (current_user.is_admin or company.role_of(current_user) is not None)
    )
    if not allowed:
        abort(404)
    path = storage.path_for(key)
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype=content_type, conditional=True, max_age=30 * 86400 if public else 0)
    response.cache_control.public = public
    response.cache_control.private = not public
    return response
