"""Gig gallery images and product pictures: public once the gig is published (the product on
sale), before that only for the seller's members and platform admins. Images of a gig change
waiting for review (not yet in the gallery) are shown to the same people only."""

import re

from flask import Blueprint, abort, send_file
from flask_login import current_user
from sqlalchemy import select

from app.extensions import db
from app.models import Gig, GigImage, Product
from app.services import storage
from app.services.gigs import IMAGE_FORMATS

bp = Blueprint("images", __name__, url_prefix="/images")
# Keys made by storage.content_key for a gig: gigs/<gig id>/<digest>.<extension>.
_GIG_KEY = re.compile(r"gigs/([0-9]{1,12})/[0-9a-f]{16,128}\.(jpg|png|webp)", re.ASCII)
_TYPES = {extension: content_type for content_type, extension in IMAGE_FORMATS.values()}


def _insider(gig):
    return current_user.is_authenticated and (current_user.is_admin or gig.company.role_of(current_user) is not None)


def _revision_image(key):
    """An uploaded image of a revision in review: for the gig's members and admins, else 404."""
    match = _GIG_KEY.fullmatch(key) or abort(404)
    gig = db.session.scalar(select(Gig).where(Gig.id == int(match.group(1)))) or abort(404)
    path = storage.path_for(key)
    if not _insider(gig) or not path.is_file():
        abort(404)
    response = send_file(path, mimetype=_TYPES[match.group(2)], conditional=True, max_age=0)
    response.cache_control.private = True
    return response


def _image_by_key(key):
    """(content type, company, public) of the gig image or product picture stored under `key`,
    or None."""
    found = db.session.scalar(select(GigImage).where(GigImage.storage_key == key))
    if found is not None:
        return found.content_type, found.gig.company, found.gig.status == "published"
    product = db.session.scalar(
        select(Product).where(Product.image_key == key).execution_options(skip_tenant_scope=True)
    )
    if product is not None:
        return product.image_content_type, product.company, product.active
    return None  # perhaps an image of a gig change in review


@bp.route("/<path:key>")
def show(key):
    """An image by storage key (404 for anyone who may not see it). Keys name the content, so
    a public image may be cached for a long time."""
    found = _image_by_key(key)
    if found is None:
        return _revision_image(key)
    content_type, company, public = found
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
