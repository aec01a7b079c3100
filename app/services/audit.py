"""Writing the audit log. Rows written while answering a request get the client's address
from the web layer (app.web.stamp_client_address)."""

import logging
from typing import Any

from app.extensions import db
from app.models import AuditEvent, Company, User

audit_log = logging.getLogger("app.audit")
# Audit data kept out of log lines (personal data; the audit row has it).
UNLOGGED_DATA = frozenset({"email", "ip", "user_agent"})


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
    audit_log.info(
        "%s",
        action,
        extra={
            "event": action,
            "actor_user_id": event.actor_user_id,
            "subject": f"{event.subject_type}:{event.subject_id}" if subject is not None else None,
            **{f"data_{k}": v for k, v in data.items() if k not in UNLOGGED_DATA},
        },
    )
    return event
