"""Outbound webhooks: sellers' endpoints, the event outbox, one message per endpoint, attempts."""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import now
from app.extensions import Model
from app.models.mixins import CreatedAt, Timestamps
from app.models.types import UTCDateTime, string_enum
from app.tenancy import TenantOwned

MESSAGE_STATUSES = ("pending", "delivered", "failed")


class WebhookEndpoint(TenantOwned, Timestamps, Model):
    """A seller's HTTPS receiver. Secrets are stored Fernet-encrypted (see services/outbound)."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(String(200), default="")
    event_types: Mapped[list] = mapped_column(JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(200))
    secret_encrypted: Mapped[str] = mapped_column(Text)
    previous_secret_encrypted: Mapped[str | None] = mapped_column(Text)
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set on the hidden endpoint an app installation owns (services/app_webhooks.py); such an
    # endpoint is never listed, shown or changed among the seller's own.
    app_installation_id: Mapped[int | None] = mapped_column(
        ForeignKey("app_installations.id", ondelete="CASCADE"), unique=True, index=True
    )

    def receives(self, event_type):
        """True when this endpoint subscribes to `event_type` (an empty filter means all)."""
        return not self.event_types or event_type in self.event_types


class OutboxEvent(TenantOwned, CreatedAt, Model):
    """One business event, written in the transaction that caused it; fanned out after commit."""

    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_undispatched", "dispatched_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(64))
    data: Mapped[dict] = mapped_column(JSON)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookMessage(TenantOwned, CreatedAt, Model):
    """One event for one endpoint; its public id is the stable `webhook-id` header."""

    __tablename__ = "webhook_messages"
    __table_args__ = (
        UniqueConstraint("event_id", "endpoint_id", name="uq_webhook_messages_event_endpoint"),
        Index("ix_webhook_messages_due", "status", "next_attempt_at"),
        Index("ix_webhook_messages_endpoint_created", "endpoint_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(40), unique=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id", ondelete="CASCADE"))
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_type: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(string_enum(MESSAGE_STATUSES, "status"), default="pending")
    attempt_count: Mapped[int] = mapped_column(default=0)
    retry_index: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status_code: Mapped[int | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    event = relationship("OutboxEvent", lazy="joined")
    endpoint = relationship("WebhookEndpoint", lazy="joined")
    attempts = relationship(
        "WebhookAttempt",
        back_populates="message",
        order_by="WebhookAttempt.id",
        cascade="all, delete-orphan",
        passive_deletes=True,
    )


class WebhookAttempt(TenantOwned, Model):
    """One HTTP attempt (or a refusal before sending); the delivery log's rows."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("webhook_messages.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    succeeded: Mapped[bool] = mapped_column(default=False)
    status_code: Mapped[int | None] = mapped_column()
    duration_ms: Mapped[int] = mapped_column(default=0)
    response_excerpt: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(String(500))

    message = relationship("WebhookMessage", back_populates="attempts")
