"""Affiliate-link clicks: the job that writes the clicks the pages queued in Redis, registered
with RQ cron in app/tasks/schedule.py (every minute)."""

from app.extensions import db
from app.services.affiliates.clicks import flush_clicks
from app.tasks import job_context


def flush_referral_clicks() -> int:
    """Write the queued affiliate-link clicks that count; returns how many rows."""
    with job_context():
        written = flush_clicks()
        db.session.commit()
        return written
