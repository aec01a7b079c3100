"""Email: the outbox, the templates and the SMTP transport (Flask-Mailman).

A workflow calls `send_template(to, "name", **context)` (or `queue_email` for a plain text
message) inside its own transaction: the email is a row in `email_outbox` that exists only if
that transaction commits. After the commit the session's hook queues one RQ job per email
(`app.tasks.mail.send_email`); the job claims the row, sends it over SMTP as multipart text +
HTML and records the outcome. A failed attempt is retried on RETRY_SCHEDULE (the job queues
itself with RQ's scheduler), then the email is marked failed. Redis is not the source of
truth: an email whose job was lost (Redis down, a crash) is sent by the minutely sweep
(`app.tasks.orders.deliver_emails`) once it is due.

Templates: `templates/email/<name>.txt` and `<name>.html`, extending `email/base.txt` and
`email/base.html`; the text template's `subject` block is the subject. They are rendered with
an app context only (jobs and webhooks have no request): links are absolute, built with
`app_url`.

Delivery is at least once: a worker that dies after the SMTP server took the message but
before the row was marked sent leaves a lease that expires, and the message goes again.
"""

import logging
from datetime import datetime, timedelta

from flask import current_app, render_template
from flask_mailman import EmailMultiAlternatives
from sqlalchemy import or_, select, update

from app.clock import now
from app.extensions import db, mail
from app.models import OutgoingEmail, User
from app.services.after_commit import AfterCommit

log = logging.getLogger(__name__)

EMAIL_BATCH = 200
# Waits after each failed attempt; one attempt more than waits, then the email is failed.
RETRY_SCHEDULE = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=30), timedelta(hours=2))
EMAIL_MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
# How long a sender holds an email while it talks to the SMTP server.
SEND_LEASE = timedelta(minutes=2)
SEND_JOB = "app.tasks.mail.send_email"

# The templates under templates/email/ (each a .txt and an .html) and who is told what.
TEMPLATES = (
    "verify_email",
    "password_reset",
    "email_change",
    "email_changed",
    "order_placed",
    "order_delivered",
    "order_completed",
    "order_update",
    "payment_receipt",
    "refund",
    "payout_sent",
    "subscription_renewing",
    "subscription_payment_failed",
    "subscription_ended",
    "team_invitation",
)


def app_url(endpoint: str, **values: object) -> str:
    """The absolute URL of `endpoint` under APP_BASE_URL; works without a request (jobs)."""
    adapter = current_app.url_map.bind("localhost", script_name="/")
    return current_app.config["APP_BASE_URL"].rstrip("/") + adapter.build(endpoint, values)


def render_email(template_name: str, **context: object) -> tuple[str, str, str]:
    """(subject, text, html) of the email `template_name` with `context`."""
    if template_name not in TEMPLATES:
        raise ValueError(f"unknown email template {template_name!r}")
    context.setdefault("base_url", current_app.config["APP_BASE_URL"].rstrip("/"))
    environment = current_app.jinja_env
    text_template = environment.get_template(f"email/{template_name}.txt")
    subject = "".join(text_template.blocks["subject"](text_template.new_context(dict(context)))).strip()
    text = render_template(f"email/{template_name}.txt", subject=subject, **context)
    html = render_template(f"email/{template_name}.html", subject=subject, **context)
    return " ".join(subject.split())[:200], text.strip() + "\n", html


def send_template(to: User | str, template_name: str, *, user: User | None = None, **context: object) -> OutgoingEmail:
    """Queue the email `template_name` to `to` (a User, or an address: a new address being
    confirmed, an invitee with no account yet) in the caller's transaction; flushed, never
    committed.

    It goes out once the caller commits (see the module docstring); a rollback sends nothing.
    The template sees `user` (`to` when it is a User, else the `user` given, or None),
    `to_email` (the address) and `context`. Raises ValueError for an unknown template.
    """
    if isinstance(to, User):
        user, address = to, to.email
    else:
        address = str(to)
    subject, text, html = render_email(template_name, user=user, to_email=address, **context)
    return _queue(
        OutgoingEmail(
            user_id=user.id if user is not None else None,
            to_email=address,
            subject=subject,
            body=text,
            html_body=html,
            template=template_name,
        )
    )


def queue_email(user: User, subject: str, body: str) -> OutgoingEmail:
    """Queue a plain-text email to `user` in the caller's transaction; flushed, not committed."""
    return _queue(OutgoingEmail(user_id=user.id, to_email=user.email, subject=subject[:200], body=body))


def _queue(email: OutgoingEmail) -> OutgoingEmail:
    db.session.add(email)
    db.session.flush()
    _SEND_AFTER_COMMIT.remember(email.id)
    return email


def _enqueue_send(email_id: int) -> None:
    from app.queue import enqueue

    enqueue(SEND_JOB, email_id)


# Each queued email goes to the send job once its transaction commits (else the sweep sends it).
_SEND_AFTER_COMMIT = AfterCommit("mail_pending_email_ids", _enqueue_send, log, "could not queue email %s")


# -- sending ------------------------------------------------------------------------------------------


def claim_email(email_id: int) -> OutgoingEmail | None:
    """Take the email for one attempt if it is pending, due and not held by another sender:
    counts the attempt and holds it for SEND_LEASE. None otherwise. Flushed; commit before
    sending, so another sender sees the hold."""
    moment = now()
    claimed = db.session.scalar(
        update(OutgoingEmail)
        .where(
            OutgoingEmail.id == email_id,
            OutgoingEmail.status == "pending",
            or_(OutgoingEmail.next_attempt_at.is_(None), OutgoingEmail.next_attempt_at <= moment),
            or_(OutgoingEmail.locked_until.is_(None), OutgoingEmail.locked_until <= moment),
        )
        .values(attempts=OutgoingEmail.attempts + 1, locked_until=moment + SEND_LEASE)
        .returning(OutgoingEmail.id)
        .execution_options(synchronize_session=False)
    )
    if claimed is None:
        return None
    return db.session.get(OutgoingEmail, email_id, populate_existing=True)


def transmit(email: OutgoingEmail) -> None:
    """Hand `email` to the SMTP server named by the MAIL_* settings; raises when it refuses
    or cannot be reached."""
    log.info("email to %s: %s", email.to_email, email.subject)
    current_app.logger.info("email #%s to %s: %s", email.id, email.to_email, email.subject)
    message = EmailMultiAlternatives(
        subject=email.subject,
        body=email.body,
        from_email=current_app.config["MAIL_DEFAULT_SENDER"],
        to=[email.to_email],
        connection=mail.get_connection(fail_silently=False),
    )
    if email.html_body:
        message.attach_alternative(email.html_body, "text/html")
    message.send(fail_silently=False)


def record_send_outcome(email: OutgoingEmail, error: Exception | None) -> datetime | None:
    """Write how the attempt went: sent, or the error and when to try again (None when it
    was the last attempt and the email is now failed, or when it was sent). Flushed."""
    email.locked_until = None
    if error is None:
        email.status, email.sent_at, email.last_error, email.next_attempt_at = "sent", now(), None, None
        db.session.flush()
        return None
    email.last_error = f"{type(error).__name__}: {error}"[:2000]
    if email.attempts >= EMAIL_MAX_ATTEMPTS:
        email.status, email.next_attempt_at = "failed", None
        log.warning("email %s to %s failed for good: %s", email.id, email.to_email, email.last_error)
    else:
        email.next_attempt_at = now() + RETRY_SCHEDULE[email.attempts - 1]
    db.session.flush()
    return email.next_attempt_at


def send_one(email: OutgoingEmail) -> datetime | None:
    """Send a claimed email once and record the outcome; returns when to retry, or None."""
    try:
        transmit(email)
    except Exception as exc:  # an unreachable server or a refused address: retried on schedule
        return record_send_outcome(email, exc)
    return record_send_outcome(email, None)


def due_email_ids(limit: int = EMAIL_BATCH) -> list[int]:
    """Pending emails that are due and held by nobody, oldest first (the sweep's work)."""
    moment = now()
    return list(
        db.session.scalars(
            select(OutgoingEmail.id)
            .where(
                OutgoingEmail.status == "pending",
                or_(OutgoingEmail.next_attempt_at.is_(None), OutgoingEmail.next_attempt_at <= moment),
                or_(OutgoingEmail.locked_until.is_(None), OutgoingEmail.locked_until <= moment),
            )
            .order_by(OutgoingEmail.id)
            .limit(limit)
        ).all()
    )


def send_team_invitation(
    to_email: str, *, company_name: str, inviter_name: str, role: str, accept_url: str, valid_for: str | None = None
) -> OutgoingEmail:
    """Queue the invitation to join `company_name` as `role` (an address: the invitee may have
    no account yet), with the absolute `accept_url` (build it with `app_url`) and how long it
    works (`valid_for`, e.g. "7 days"). Flushed; goes out when the caller commits."""
    return send_template(
        to_email,
        "team_invitation",
        company_name=company_name,
        inviter_name=inviter_name,
        role=role,
        link=accept_url,
        valid_for=valid_for,
    )
