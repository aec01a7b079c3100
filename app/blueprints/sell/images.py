"""Gig gallery images: public once the gig is published, before that only for the seller's
members and platform admins. Images of a change waiting for review (not yet in the gallery)
are shown to the same people only."""

import re

from flask import Blueprint, abort, send_file
from flask_login import current_user
from sqlalchemy import select

from app.extensions import db
from app.models import Gig, GigImage
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


@bp.route("/<path:key>")
def show(key):
    """A gallery image by storage key (404 for anyone who may not see it). Keys name the
    content, so a published image may be cached for a long time."""
    found = db.session.scalar(select(GigImage).where(GigImage.storage_key == key))
    if found is None:
        return _revision_image(key)
    gig = found.gig
    public = gig.status == "published"
    if not (public or _insider(gig)):
        abort(404)
    path = storage.path_for(found.storage_key)
    if not path.is_file():
        abort(404)
    response = send_file(path, mimetype=found.content_type, conditional=True, max_age=30 * 86400 if public else 0)
    response.cache_control.public = public
    response.cache_control.private = not public
    return response
