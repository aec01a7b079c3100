"""Email jobs: send one email (queued after the commit that wrote it), and the minutely sweep
that sends what a lost job left behind. See app/services/mail.py.

Both are safe to run twice and at once: an email is claimed (a counted attempt and a lease)
by a conditional UPDATE, committed, before anything is sent.
"""

from app.extensions import db
from app.queue import get_queue
from app.services.mail import SEND_JOB, claim_email, due_email_ids, send_one
from app.services.outbound.queueing import scheduler_time
from app.tasks import job_context


def _send(email_id: int) -> str:
    email = claim_email(email_id)
    db.session.commit()
    if email is None:
        return "not due"
    retry_at = send_one(email)
    db.session.commit()
    if retry_at is not None:
        get_queue("default").enqueue_at(scheduler_time(retry_at), SEND_JOB, email_id)
        return "retry"
    return email.status


def send_email(email_id: int) -> str:
    """Send one email if it is due and nobody else holds it; queue the retry when it fails.
    Returns "sent", "failed" (for good), "retry" or "not due"."""
    with job_context():
        return _send(email_id)


def deliver_emails() -> int:
    """Send every due email whose job was lost (the safety net). Returns how many were sent."""
    with job_context():
        return sum(_send(email_id) == "sent" for email_id in due_email_ids())
