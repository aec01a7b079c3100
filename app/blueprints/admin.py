"""Admin pages: inbound events, the platform's money and operations (gig review lives in review.py)."""

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from redis.exceptions import RedisError
from sqlalchemy import select

from app import metrics
from app.access import admin_required
from app.extensions import db
from app.models import InboundEvent
from app.models.inbound import INBOUND_STATUSES
from app.services.audit import record_audit_event
from app.services.inbound import enqueue_inbound_event, reset_inbound_event
from app.services.operations import operations_figures
from app.services.reports import PERIODS, platform_money
from app.web import filter_by_status, paginate, render

bp = Blueprint("admin", __name__, url_prefix="/admin")
EVENTS_PER_PAGE = 50


@bp.route("/events")
@admin_required
def events():
    query, status = filter_by_status(
        select(InboundEvent).order_by(InboundEvent.id.desc()), InboundEvent.status, INBOUND_STATUSES
    )
    pagination = paginate(query, EVENTS_PER_PAGE)
    return render(
        "admin/events.html",
        "event_rows",
        events=pagination.items,
        pagination=pagination,
        status=status,
        statuses=INBOUND_STATUSES,
    )


@bp.route("/events/<int:event_id>/reprocess", methods=["POST"])
@admin_required
def reprocess_event(event_id):
    event = db.session.get(InboundEvent, event_id) or abort(404)
    reset_inbound_event(event)
    record_audit_event("admin.inbound_event_reprocessed", subject=event, event_id=event.event_id)
    stored_id, event_id = event.id, event.event_id
    db.session.commit()
    try:
        enqueue_inbound_event(stored_id)
    except RedisError:
        # Committed as "received": the stale-event sweep queues it once Redis is back.
        current_app.logger.warning("inbound event %s not queued: Redis unavailable", stored_id)
        flash(
            f"Event {event_id} will be processed as soon as our job queue is back (it is unavailable right now).",
            "warning",
        )
    else:
        flash(f"Event {event_id} queued for processing.", "success")
    return redirect(url_for("admin.events", status=request.args.get("status")), 303)


@bp.route("/money")
@admin_required
def money():
    figures = platform_money(request.args.get("period", "30d"))
    return render("admin/money.html", figures=figures, periods=PERIODS)


@bp.route("/operations")
@admin_required
def operations():
    """The alert targets over the last hour and day (database) and the live metrics."""
    text = metrics.exposition(current_app.extensions.get("metrics_live")).decode()
    return render("admin/operations.html", figures=operations_figures(list(metrics.sample_values(text))))
