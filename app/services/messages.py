"""Messages between people: an order's conversation and notifications' read state (email is
app/services/mail.py).

Everything here flushes and never commits.
"""

from collections.abc import Iterable, Sequence
from typing import Protocol

from sqlalchemy import Select, func, select, update

from app.clock import now
from app.errors import ServiceError
from app.extensions import db, rows_matched
from app.models import Notification, Order, OrderMessage, User
from app.services.notifications import notify_user

MAX_MESSAGE_CHARS = 5000


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
    if actor.user is None:
        raise ValueError("only a signed-in buyer or seller posts to an order's conversation")
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
    title = f"{sender} sent a message on order #{order.id}"[:200]
    for user in recipients:
        notify_user(user, "order.message", title, body=body[:200], link=f"/orders/{order.id}")
    return message


def order_messages(order_id: int) -> Sequence[OrderMessage]:
    """The order's conversation, oldest first."""
    return db.session.scalars(
        select(OrderMessage).where(OrderMessage.order_id == order_id).order_by(OrderMessage.id)
    ).all()


# -- notifications ----------------------------------------------------------------------------------


def unread_count(user: User) -> int:
    """How many of the user's notifications are unread."""
    return db.session.execute(
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
    ).scalar_one()


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
    # Names the one user whose unread count this changes (app/identity_cache.py), sparing the
    # generation bookkeeping a query for them.
    changed = rows_matched(statement.values(read_at=now()).execution_options(generation_user_ids=(user.id,)))
    db.session.flush()
    return changed
