"""Writing the audit log. Rows written while answering a request get the client's address
from the web layer (app.web.stamp_client_address)."""

from typing import Any

from app.extensions import db
from app.models import AuditEvent, Company, User


def record_audit_event(
    action: str, *, actor: User | None = None, company: Company | None = None, subject: Any = None, **data: Any
) -> AuditEvent:
    """Add one audit row for `action` (never pass secrets in `data`); flushed, not committed."""
    event = AuditEvent(
        action=action,
        actor_user_id=getattr(actor, "id", None),
        company_id=getattr(company, "id", None),
        subject_type=type(subject).__name__.lower() if subject is not None else None,
        subject_id=str(subject.id) if subject is not None else None,
        data=data,
    )
    db.session.add(event)
    db.session.flush()
    return event
