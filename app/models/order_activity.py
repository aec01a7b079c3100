"""What happens inside an order: its timeline, requirements, deliveries and files, messages,
disputes, the buyer's review, and the email outbox that carries notifications out.

Rows that belong to an order carry the seller's `company_id` (TenantOwned), so seller-side
queries see only their own; buyers reach them through the order they placed.
"""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import Model
from app.models.mixins import CreatedAt, user_reference
from app.models.types import UTCDateTime, between, string_enum
from app.tenancy import TenantOwned

ACTOR_ROLES = ("buyer", "seller", "admin", "system")
FILE_PURPOSES = ("requirements", "delivery")
DISPUTE_OPENERS = ("buyer", "seller", "system")
DISPUTE_STATUSES = ("open", "resolved")
DISPUTE_RESOLUTIONS = ("refund", "partial_refund", "release", "cancelled")
EMAIL_STATUSES = ("pending", "sent", "failed")


class OrderEvent(TenantOwned, CreatedAt, Model):
    """One line of an order's timeline: a status change (or a flag such as "late") and who did it."""

    __tablename__ = "order_events"
    __table_args__ = (Index("ix_order_events_order_id_id", "order_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str | None] = mapped_column(String(24))
    actor_role: Mapped[str] = mapped_column(string_enum(ACTOR_ROLES, "actor_role", 8))
    actor_user_id: Mapped[int | None] = user_reference()
    note: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict] = mapped_column(JSON, default=dict)

    actor = relationship("User")


class OrderAnswer(TenantOwned, Model):
    """The buyer's answer to one of the gig's questions, with the question as it was asked."""

    __tablename__ = "order_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[int | None] = mapped_column(ForeignKey("gig_questions.id", ondelete="SET NULL"))
    position: Mapped[int] = mapped_column(default=0)
    prompt: Mapped[str] = mapped_column(String(300))
    answer: Mapped[str] = mapped_column(Text, default="")


class OrderDelivery(TenantOwned, CreatedAt, Model):
    """Work the seller handed over: a message and files; the latest one is the one under review."""

    __tablename__ = "order_deliveries"
    __table_args__ = (UniqueConstraint("order_id", "number", name="uq_order_deliveries_order_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column()
    message: Mapped[str] = mapped_column(Text)
    created_by_user_id: Mapped[int | None] = user_reference()

    files = relationship("OrderFile", order_by="OrderFile.id", lazy="selectin")


class OrderFile(TenantOwned, CreatedAt, Model):
    """A file attached to the requirements or to a delivery; served to participants only."""

    __tablename__ = "order_files"
    __table_args__ = (CheckConstraint("size_bytes >= 0", name="size"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("order_deliveries.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(string_enum(FILE_PURPOSES, "purpose"))
    filename: Mapped[str] = mapped_column(String(200))
    storage_key: Mapped[str] = mapped_column(String(200))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    uploaded_by_user_id: Mapped[int | None] = user_reference()


class OrderMessage(TenantOwned, CreatedAt, Model):
    """A message in an order's conversation between buyer, seller (and admins)."""

    __tablename__ = "order_messages"
    __table_args__ = (Index("ix_order_messages_order_id_id", "order_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    sender_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    sender_role: Mapped[str] = mapped_column(String(8))
    body: Mapped[str] = mapped_column(Text)

    sender = relationship("User", lazy="joined")


class OrderDispute(TenantOwned, CreatedAt, Model):
    """A dispute opened by a party (or by the card holder's bank through Stripe) and its outcome."""

    __tablename__ = "order_disputes"
    __table_args__ = (CheckConstraint("refunded_cents >= 0", name="refunded"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    opened_by_role: Mapped[str] = mapped_column(string_enum(DISPUTE_OPENERS, "opened_by_role", 8))
    opened_by_user_id: Mapped[int | None] = user_reference()
    reason: Mapped[str] = mapped_column(Text)
    stripe_dispute_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(string_enum(DISPUTE_STATUSES, "status"), default="open")
    resolution: Mapped[str | None] = mapped_column(string_enum(DISPUTE_RESOLUTIONS, "resolution"))
    refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    resolved_by_user_id: Mapped[int | None] = user_reference()
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Review(TenantOwned, CreatedAt, Model):
    """A buyer's stars and words about a completed order (once), and the seller's one reply."""

    __tablename__ = "reviews"
    __table_args__ = (
        between("rating", 1, 5),
        Index("ix_reviews_gig_id_created_at", "gig_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), unique=True)
    gig_id: Mapped[int] = mapped_column(ForeignKey("gigs.id", ondelete="CASCADE"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    rating: Mapped[int] = mapped_column()
    body: Mapped[str] = mapped_column(Text)
    reply: Mapped[str | None] = mapped_column(Text)
    replied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    buyer = relationship("User", lazy="joined")


class OutgoingEmail(CreatedAt, Model):
    """An email waiting to be sent (or sent) by the delivery job; written in the caller's transaction."""

    __tablename__ = "email_outbox"
    __table_args__ = (Index("ix_email_outbox_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = user_reference()
    to_email: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    # The HTML alternative of `body` (multipart/alternative), and the template both came from.
    html_body: Mapped[str | None] = mapped_column(Text)
    template: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(string_enum(EMAIL_STATUSES, "status"), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Not before this moment (the retry schedule after a failed attempt); NULL: now.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A sender (job or sweep) holds the row until then while it talks to the SMTP server.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
