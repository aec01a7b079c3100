"""Admin review of gigs: new gigs before they go live, and changes to live gigs (revisions)
before they replace the live version. Approve, or reject with a reason; each item shows the
previous rejection and a field-by-field diff against the live or previously rejected version.
A decision taken with htmx answers with the item and, out of band, the fresh counts (tabs,
header and the nav badge), so nothing on the page goes stale."""

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_login import current_user
from jinja2_fragments.flask import render_block

from app.access import admin_required
from app.extensions import db, is_htmx
from app.models import Gig, GigRevision
from app.services.gig_revisions import (
    approve_gig_revision,
    content_diff,
    last_rejection,
    pending_revisions,
    recent_revision_decisions,
    reject_gig_revision,
    review_counts,
)
from app.services.gigs import gig_content, recently_reviewed_gigs, review_queue, transition_gig
from app.web import error_page, paginate, refusal_page, render

bp = Blueprint("review", __name__, url_prefix="/admin/gigs")
GIGS_PER_PAGE = 50
TABS = ("gigs", "edits")


@bp.app_template_global()
def review_waiting_count():
    """For the nav badge: how many gigs and changes wait for an admin (0 for everyone else)."""
    if not (current_user.is_authenticated and current_user.is_admin):
        return 0
    return review_counts()["total"]


def gig_history(gig):
    """(previous rejection, diff against it) for a gig in review: a resubmission shows what
    was rejected and what changed since; a first submission shows (None, [])."""
    previous = last_rejection(gig)
    if previous is None:
        return None, []
    return previous, content_diff(previous.content, gig_content(gig))


def revision_history(revision):
    """(previous rejection of this gig's changes, diff of the revision against the live gig)."""
    return last_rejection(revision.gig, before=revision), content_diff(gig_content(revision.gig), revision.content)


def _context(row_errors=None, reasons=None):
    return {
        "row_errors": row_errors or {},
        "reasons": reasons or {},
        "counts": review_counts(),
        "gig_history": gig_history,
        "revision_history": revision_history,
    }


def _page(row_errors=None, reasons=None, status=200, tab=None, refusal=None):
    tab = tab or request.args.get("tab", "gigs")
    if tab not in TABS:
        tab = "gigs"
    query = review_queue() if tab == "gigs" else pending_revisions()
    pagination = paginate(query, GIGS_PER_PAGE)
    return render(
        "review/queue.html",
        tab=tab,
        items=pagination.items,
        pagination=pagination,
        recent=recently_reviewed_gigs() if tab == "gigs" else recent_revision_decisions(),
        refusal=refusal,
        http_status=status,
        **_context(row_errors, reasons),
    )


def _fragment(block, status=200, **context):
    """htmx: one queue item, then the counts swapped out of band."""
    context = {**_context(), **context}
    body = render_block("review/queue.html", block, **context) + render_block(
        "review/queue.html", "counts_oob", **context
    )
    return body, status, {"Vary": "HX-Request"}


def _refused(exc, item_id, kind):
    """The item (htmx) or the queue, with the reason as typed and why the decision failed;
    a decision this admin may not take is the 403 page."""
    if exc.status == 403:
        return error_page(403, exc.message)
    reason = request.form.get("reason", "")
    key = f"{kind}-{item_id}"
    if kind == "gigs":
        gig = db.session.get(Gig, item_id) or abort(404)
        block, item, waiting = "gig_row", {"gig": gig}, gig.status == "review"
    else:
        revision = db.session.get(GigRevision, item_id) or abort(404)
        block, item, waiting = "revision_row", {"revision": revision}, revision.status == "pending"
    if is_htmx():
        return _fragment(block, exc.status, tab=kind, row_errors={key: exc.message}, reasons={key: reason}, **item)
    # An item no longer waiting is not listed: its refusal goes above the queue.
    return _page({key: exc.message}, {key: reason}, exc.status, tab=kind, refusal=None if waiting else exc.message)


def _decision_refused(exc, gig_id):
    return _refused(exc, gig_id, "gigs")


@bp.route("/")
@admin_required
def queue():
    return _page()


def _gig_decision(action):
    """The POST view of `action` ("approve" or "reject") on a new gig."""

    def decide(gig_id):
        gig = db.session.get(Gig, gig_id) or abort(404)
        transition_gig(gig, action, current_user, reason=request.form.get("reason", ""))
        db.session.commit()
        if is_htmx():
            return _fragment("gig_row", tab="gigs", gig=gig)
        done = "approved and is live" if action == "approve" else "sent back to the seller"
        flash(f"“{gig.title}” was {done}.", "success")
        return redirect(url_for("review.queue"), 303)

    return decide


for _action in ("approve", "reject"):
    bp.add_url_rule(
        f"/<int:gig_id>/{_action}",
        _action,
        admin_required(refusal_page(_decision_refused)(_gig_decision(_action))),
        methods=["POST"],
    )


def _revision_decision(action):
    """The POST view of `action` ("approve" or "reject") on the changes to a live gig."""

    def decide(revision_id):
        revision = db.session.get(GigRevision, revision_id) or abort(404)
        if action == "approve":
            approve_gig_revision(revision, current_user)
        else:
            reject_gig_revision(revision, current_user, request.form.get("reason", ""))
        db.session.commit()
        if is_htmx():
            return _fragment("revision_row", tab="edits", revision=revision)
        done = "approved and are live" if action == "approve" else "sent back to the seller"
        flash(f"The changes to “{revision.gig.title}” were {done}.", "success")
        return redirect(url_for("review.queue", tab="edits"), 303)

    return decide


def _revision_refused(exc, revision_id):
    return _refused(exc, revision_id, "edits")


for _action in ("approve", "reject"):
    bp.add_url_rule(
        f"/revisions/<int:revision_id>/{_action}",
        f"{_action}_revision",
        admin_required(refusal_page(_revision_refused)(_revision_decision(_action))),
        methods=["POST"],
    )
