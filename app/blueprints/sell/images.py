"""Gig gallery images: public once the gig is published, before that only for the seller's
members and platform admins."""

from flask import Blueprint, abort, send_file
from flask_login import current_user
from sqlalchemy import select

from app.extensions import db
from app.models import GigImage
from app.services import storage

bp = Blueprint("images", __name__, url_prefix="/images")


@bp.route("/<path:key>")
def show(key):
    """A gallery image by storage key (404 for anyone who may not see it). Keys name the
    content, so a published image may be cached for a long time."""
    found = db.session.scalar(select(GigImage).where(GigImage.storage_key == key)) or abort(404)
    gig = found.gig
    public = gig.status == "published"
    allowed = public or (
        current_user.is_authenticated and (current_user.is_admin or gig.company.role_of(current_user) is not None)
    )
    if not allowed:
        abort(404)
    path = storage.path_for(found.storage_key)
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype=found.content_type, conditional=True, max_age=30 * 86400 if public else 0)
    response.cache_control.public = public
    response.cache_control.private = not public
    return response
