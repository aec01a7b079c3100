"""What the admin's pages read: companies with search, the audit log with filters, the count
of orders in dispute."""

from datetime import date, datetime, time, timedelta

from sqlalchemy import Select, func, or_, select

from app.clock import now
from app.extensions import db
from app.models import AuditEvent, Company, Order, User

UTC = now().tzinfo


def companies_query(q: str) -> Select[tuple[Company]]:
    """Seller companies whose name, slug or email contains `q` (any case), newest first."""
    query = select(Company).where(Company.kind == "seller").order_by(Company.id.desc())
    q = q.strip()[:100]
    if q:
        pattern = "%" + q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                func.lower(Company.title).like(pattern, escape="\\"),
                func.lower(Company.slug).like(pattern, escape="\\"),
                func.lower(Company.email).like(pattern, escape="\\"),
            )
        )
    return query


def audit_query(
    actor: str = "",
    action: str = "",
    company_id: int | None = None,
    since: date | None = None,
    until: date | None = None,
) -> Select[tuple[AuditEvent]]:
    """Audit rows, newest first, narrowed by the actor's email (contains), the action (exact, or
    a prefix ending in "."), the company and a date range (inclusive, UTC days)."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc())
    actor = actor.strip().lower()[:254]
    if actor:
        pattern = "%" + actor.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            AuditEvent.actor_user_id.in_(select(User.id).where(func.lower(User.email).like(pattern, escape="\\")))
        )
    action = action.strip()[:64]
    if action:
        query = query.where(
            AuditEvent.action.startswith(action, autoescape=True)
            if action.endswith(".")
            else AuditEvent.action == action
        )
    if company_id is not None:
        query = query.where(AuditEvent.company_id == company_id)
    if since is not None:
        query = query.where(AuditEvent.created_at >= datetime.combine(since, time(), UTC))
    if until is not None:
        query = query.where(AuditEvent.created_at < datetime.combine(until + timedelta(days=1), time(), UTC))
    return query


def audit_actions() -> list[str]:
    """The actions the log holds, for the filter's choices."""
    return list(db.session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)).all())


def open_dispute_count() -> int:
    """Orders in dispute (the admin navigation's count)."""
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Order)
            .where(Order.status == "disputed")
            .execution_options(skip_tenant_scope=True)
        )
        or 0
    )
