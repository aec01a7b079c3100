"""Admin review of gigs before they go live: the queue, approve, reject with a reason."""
from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from app.access import admin_required
from app.extensions import db, is_htmx
from app.models import Gig
from app.services.gigs import (GigForbidden, GigInputError, GigStateError, gigs_for_review,
                               recently_reviewed_gigs, transition_gig)
from app.web import render

bp = Blueprint("review", __name__, url_prefix="/admin/gigs")


def _page(row_errors=None, reasons=None, status=200):
    body, headers = render("review/queue.html", gigs=gigs_for_review(), recent=recently_reviewed_gigs(),
                           row_errors=row_errors or {}, reasons=reasons or {})
    return body, status, headers


def _row(gig, error=None, reason="", status=200):
    body, headers = render("review/queue.html", "gig_row", gig=gig, row_errors={gig.id: error} if error else {},
                           reasons={gig.id: reason})
    return body, status, headers


@bp.route("/")
@admin_required
def queue():
    return _page()


def _decide(gig_id, action):
    gig = db.session.get(Gig, gig_id) or abort(404)
    reason = request.form.get("reason", "")
    try:
        transition_gig(gig, action, current_user, reason=reason)
    except GigForbidden as exc:
        db.session.rollback()
        abort(403, str(exc))
    except (GigInputError, GigStateError) as exc:
        db.session.rollback()
        status = 422 if isinstance(exc, GigInputError) else 409
        message = "; ".join(exc.errors.values()) if isinstance(exc, GigInputError) else str(exc)
        gig = db.session.get(Gig, gig_id)
        if is_htmx():
            return _row(gig, message, reason, status)
        return _page({gig.id: message}, {gig.id: reason}, status)
    db.session.commit()
    if is_htmx():
        return _row(gig)
    flash(f"“{gig.title}” was {'approved and is live' if action == 'approve' else 'sent back to the seller'}.",
          "success")
    return redirect(url_for("review.queue"), 303)


@bp.route("/<int:gig_id>/approve", methods=["POST"])
@admin_required
def approve(gig_id):
    return _decide(gig_id, "approve")


@bp.route("/<int:gig_id>/reject", methods=["POST"])
@admin_required
def reject(gig_id):
    return _decide(gig_id, "reject")
