"""Webhook events received from Stripe and Whop, stored once before processing."""

from datetime import datetime

from sqlalchemy import JSON, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import now
from app.extensions import Model
from app.models.types import UTCDateTime, string_enum

PROVIDERS = ("stripe", "whop")
INBOUND_STATUSES = ("received", "processing", "processed", "failed", "ignored")


class InboundEvent(Model):
    __tablename__ = "inbound_events"
    __table_args__ = (UniqueConstraint("provider", "event_id", name="uq_inbound_events_provider_event"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(string_enum(PROVIDERS, "provider"))
    event_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(100), index=True)
    payload: Mapped[dict] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(string_enum(INBOUND_STATUSES, "status"), default="received", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def data_object(self):
        """The object the event is about (Stripe's data.object, Whop's data)."""
        data = self.payload.get("data") or {}
        return data.get("object", data) if self.provider == "stripe" else data
