"""Admin review of gigs before they go live: the queue, approve, reject with a reason."""

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user

from app.access import admin_required
from app.extensions import db, is_htmx
from app.models import Gig
from app.services.gigs import recently_reviewed_gigs, review_queue, transition_gig
from app.web import error_page, paginate, refusal_page, render

bp = Blueprint("review", __name__, url_prefix="/admin/gigs")
GIGS_PER_PAGE = 50


def _page(row_errors=None, reasons=None, status=200):
    pagination = paginate(review_queue(), GIGS_PER_PAGE)
    return render(
        "review/queue.html",
        gigs=pagination.items,
        pagination=pagination,
        recent=recently_reviewed_gigs(),
        row_errors=row_errors or {},
        reasons=reasons or {},
        http_status=status,
    )


def _row(gig, error=None, reason="", status=200):
    return render(
        "review/queue.html",
        "gig_row",
        gig=gig,
        row_errors={gig.id: error} if error else {},
        reasons={gig.id: reason},
        http_status=status,
    )


def _decision_refused(exc, gig_id):
    """The gig's row (htmx) or the queue, with the reason as typed and why the decision failed;
    a decision this admin may not take is the 403 page."""
    if exc.status == 403:
        return error_page(403, exc.message)
    reason = request.form.get("reason", "")
    if is_htmx():
        return _row(db.session.get(Gig, gig_id), exc.message, reason, exc.status)
    return _page({gig_id: exc.message}, {gig_id: reason}, exc.status)


@bp.route("/")
@admin_required
def queue():
    return _page()


def _decide(gig_id, action):
    gig = db.session.get(Gig, gig_id) or abort(404)
    transition_gig(gig, action, current_user, reason=request.form.get("reason", ""))
    db.session.commit()
    if is_htmx():
        return _row(gig)
    flash(
        f"“{gig.title}” was {'approved and is live' if action == 'approve' else 'sent back to the seller'}.", "success"
    )
    return redirect(url_for("review.queue"), 303)


@bp.route("/<int:gig_id>/approve", methods=["POST"])
@admin_required
@refusal_page(_decision_refused)
def approve(gig_id):
    return _decide(gig_id, "approve")


@bp.route("/<int:gig_id>/reject", methods=["POST"])
@admin_required
@refusal_page(_decision_refused)
def reject(gig_id):
    return _decide(gig_id, "reject")
