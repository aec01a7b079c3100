"""Admin pages: inbound events, the platform's money and operations, companies (search, fee, suspension)
and the audit log (gig review lives in review.py, disputes in orders.py)."""

from datetime import date

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from redis.exceptions import RedisError
from sqlalchemy import select

from app import metrics
from app.access import admin_required
from app.extensions import db
from app.inputs import parse_id
from app.models import Company, InboundEvent, User
from app.models.inbound import INBOUND_STATUSES
from app.services.admin_views import audit_actions, audit_query, companies_query, open_dispute_count
from app.services.audit import record_audit_event
from app.services.company_settings import reinstate_company, set_platform_fee, suspend_company
from app.services.inbound import enqueue_inbound_event, reset_inbound_event
from app.services.operations import operations_figures
from app.services.reports import PERIODS, platform_money
from app.services.teams import team_members
from app.web import commit_and_redirect, filter_by_status, paginate, refusal_page, render

bp = Blueprint("admin", __name__, url_prefix="/admin")
EVENTS_PER_PAGE = 50
COMPANIES_PER_PAGE = 50
AUDIT_PER_PAGE = 100


@bp.app_context_processor
def admin_navigation():
    """`dispute_count()` for the admin navigation (counted only when an admin's page renders)."""
    return {"dispute_count": open_dispute_count}


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


# -- companies ------------------------------------------------------------------------------------


@bp.route("/companies")
@admin_required
def companies():
    q = request.args.get("q", "")
    pagination = paginate(companies_query(q), COMPANIES_PER_PAGE)
    return render("admin/companies.html", "company_rows", companies=pagination.items, pagination=pagination, q=q)


def _company_or_404(company_id):
    company = db.session.get(Company, company_id)
    if company is None or company.kind != "seller":
        abort(404)
    return company


def _company_page(company, errors=None, form=None, status=200, message=None):
    return render(
        "admin/company.html",
        company=company,
        members=team_members(company),
        default_fee_bps=current_app.config["PLATFORM_FEE_BPS"],
        errors=errors or {},
        form=form or {},
        message=message,
        http_status=status,
    )


def _company_refused(exc, company_id):
    return _company_page(_company_or_404(company_id), exc.errors, request.form, exc.status, exc.message)


@bp.route("/companies/<int:company_id>")
@admin_required
def company(company_id):
    return _company_page(_company_or_404(company_id))


def _company_action(change, message, field=None):
    """The POST view of one admin action on a company: `change(company, admin)` (with the form's
    `field` when it takes one), then the company page again with `message` about the company."""

    @refusal_page(_company_refused)
    def act(company_id):
        company = change(_company_or_404(company_id), current_user, *([request.form.get(field)] if field else []))
        return commit_and_redirect(message.format(company=company), ".company", company_id=company_id)

    return act


# The actions on a company's page: (its POST /companies/<id>/<rule>, endpoint, view).
for _rule, _endpoint, _view in (
    ("fee", "set_fee", _company_action(set_platform_fee, "Platform fee for {company.title} saved.", "fee_bps")),
    ("suspend", "suspend", _company_action(suspend_company, "{company.title} is suspended.", "reason")),
    ("reinstate", "reinstate", _company_action(reinstate_company, "{company.title} is reinstated.")),
):
    bp.add_url_rule(f"/companies/<int:company_id>/{_rule}", _endpoint, admin_required(_view), methods=["POST"])


# -- audit log -------------------------------------------------------------------------------------


def _date_arg(name):
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text[:10]) if len(text) == 10 else None
    except ValueError:
        return None


@bp.route("/audit")
@admin_required
def audit():
    args = request.args
    company_id = parse_id(args.get("company", ""))
    since, until = _date_arg("since"), _date_arg("until")
    query = audit_query(args.get("actor", ""), args.get("action", ""), company_id, since, until)
    pagination = paginate(query, AUDIT_PER_PAGE)
    rows = pagination.items
    users = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_({r.actor_user_id for r in rows})))}
    companies = {
        c.id: c for c in db.session.scalars(select(Company).where(Company.id.in_({r.company_id for r in rows})))
    }
    return render(
        "admin/audit.html",
        "audit_rows",
        rows=rows,
        users=users,
        companies=companies,
        pagination=pagination,
        actions=audit_actions(),
        filters={
            "actor": args.get("actor", ""),
            "action": args.get("action", ""),
            "company": company_id or "",
            "since": since.isoformat() if since else "",
            "until": until.isoformat() if until else "",
        },
    )
