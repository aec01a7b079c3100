"""Messages between people: an order's conversation, notifications' read state, the email outbox.

Everything here flushes and never commits. Emails are rows in `email_outbox` written in the
caller's transaction (so a rolled-back change sends nothing); `deliver_pending_emails` sends
them from a job.
"""

import logging
from collections.abc import Iterable, Sequence
from typing import Protocol

from flask import current_app
from sqlalchemy import Select, func, select, update

from app.clock import now
from app.errors import ServiceError
from app.extensions import db
from app.models import Notification, Order, OrderMessage, OutgoingEmail, User
from app.services.notifications import notify_user

log = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 5000
EMAIL_BATCH = 200
EMAIL_MAX_ATTEMPTS = 5


class MessageError(ServiceError):
    """A message that can't be sent; `field` names the input at fault (422)."""

    def __init__(self, field: str, message: str):
        super().__init__(422, "message_refused", message, field=field)


# -- order conversation ---------------------------------------------------------------------------


class Sender(Protocol):
    """Who posts to an order's conversation (an `app.services.orders.Actor`)."""

    @property
    def role(self) -> str: ...

    @property
    def user(self) -> User | None: ...


def post_order_message(order: Order, actor: Sender, body: str | None, recipients: Iterable[User]) -> OrderMessage:
    """Add `body` to the order's conversation from `actor` and notify `recipients` in-app.

    Raises MessageError (nothing written) for an empty or over-long message.
    """
    body = (body or "").strip()
    if not body:
        raise MessageError("body", "Write a message first.")
    if len(body) > MAX_MESSAGE_CHARS:
        raise MessageError(
            "body",
            f"Message is too long: {len(body):,} characters, and a message can have at most "
            f"{MAX_MESSAGE_CHARS:,}. Nothing was sent — shorten it or split it in two.",
        )
    message = OrderMessage(
        company_id=order.company_id, order_id=order.id, sender_id=actor.user.id, sender_role=actor.role, body=body
    )
    db.session.add(message)
    db.session.flush()
    sender = order.company.title if actor.role == "seller" else actor.user.display_name if actor.user else "Tradepost"
    for user in recipients:
        notify_user(
            user,
            "order.message",
            f"{sender} sent a message on order #{order.id}"[:200],
            body=body[:200],
            link=f"/orders/{order.id}",
        )
    return message


def order_messages(order_id: int) -> Sequence[OrderMessage]:
    """The order's conversation, oldest first."""
    return db.session.scalars(
        select(OrderMessage).where(OrderMessage.order_id == order_id).order_by(OrderMessage.id)
    ).all()


# -- notifications ----------------------------------------------------------------------------------


def unread_count(user: User) -> int:
    """How many of the user's notifications are unread."""
    return db.session.scalar(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
    )


def notifications_of(user: User) -> Select[tuple[Notification]]:
    """The SELECT of `user`'s notifications, newest first (the list pages through it)."""
    return select(Notification).where(Notification.user_id == user.id).order_by(Notification.id.desc())


def user_notification(user: User, notification_id: int) -> Notification | None:
    """One of the user's own notifications, or None (also for other users' ids)."""
    return db.session.scalar(
        select(Notification).where(Notification.id == notification_id, Notification.user_id == user.id)
    )


def mark_notifications_read(
    user: User, notification_id: int | None = None, *, ids: Iterable[int] | None = None, link: str | None = None
) -> int:
    """Mark the user's unread notifications read — one (`notification_id`), those in `ids`,
    those pointing at `link` (the page the user just opened), or all of them; returns how many
    changed. Another user's notifications are never touched.
    """
    statement = update(Notification).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    if notification_id is not None:
        statement = statement.where(Notification.id == notification_id)
    if ids is not None:
        statement = statement.where(Notification.id.in_(list(ids)))
    if link is not None:
        statement = statement.where(Notification.link == link)
    changed = db.session.execute(statement.values(read_at=now())).rowcount
    db.session.flush()
    return changed


# -- email outbox -------------------------------------------------------------------------------------


def queue_email(user: User, subject: str, body: str) -> OutgoingEmail:
    """Write an email to `user` into the outbox; it goes out only if the caller commits."""
    email = OutgoingEmail(user_id=user.id, to_email=user.email, subject=subject[:200], body=body)
    db.session.add(email)
    db.session.flush()
    return email


def send_email(email: OutgoingEmail) -> None:
    """The transport: the log (development and tests); a mail relay plugs in here."""
    log.info("email to %s: %s\n%s", email.to_email, email.subject, email.body)
    current_app.logger.info("email #%s to %s: %s", email.id, email.to_email, email.subject)


def deliver_pending_emails(limit: int = EMAIL_BATCH) -> int:
    """Send pending emails (oldest first) and mark them sent; a failure is retried next run
    until EMAIL_MAX_ATTEMPTS, then marked failed. Returns how many were sent."""
    emails = db.session.scalars(
        select(OutgoingEmail)
        .where(OutgoingEmail.status == "pending")
        .order_by(OutgoingEmail.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    sent = 0
    for email in emails:
        email.attempts += 1
        try:
            send_email(email)
        except Exception as exc:  # one bad address must not stop the batch
            email.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if email.attempts >= EMAIL_MAX_ATTEMPTS:
                email.status = "failed"
            continue
        email.status, email.sent_at, email.last_error = "sent", now(), None
        sent += 1
    db.session.flush()
    return sent
