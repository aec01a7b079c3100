"""Periodic sweeps, registered with RQ's cron scheduler in app/tasks/schedule.py."""

from datetime import timedelta

from sqlalchemy import delete, or_

from app.clock import now
from app.extensions import db
from app.models import Notification, UserSession
from app.tasks import job_context

READ_NOTIFICATION_RETENTION = timedelta(days=90)
# Ended sessions stay listed for the audit trail this long, then go.
ENDED_SESSION_RETENTION = timedelta(days=30)


def prune_notifications() -> int:
    """Delete notifications read more than 90 days ago; safe to run any number of times."""
    with job_context():
        cutoff = now() - READ_NOTIFICATION_RETENTION
        result = db.session.execute(
            delete(Notification)
            .where(Notification.read_at.is_not(None), Notification.read_at < cutoff)
            # Read notifications change no unread count (app/identity_cache.py).
            .execution_options(generation_unaffected=True)
        )
        db.session.commit()
        return result.rowcount


def prune_user_sessions() -> int:
    """Delete sessions that ended (expired or signed out) more than 30 days ago; idempotent."""
    with job_context():
        cutoff = now() - ENDED_SESSION_RETENTION
        result = db.session.execute(
            delete(UserSession)
            .where(or_(UserSession.expires_at < cutoff, UserSession.revoked_at < cutoff))
            # Sessions that ended long ago sign nobody in: no cached identity changes.
            .execution_options(generation_unaffected=True)
        )
        db.session.commit()
        return result.rowcount
