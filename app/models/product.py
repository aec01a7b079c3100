"""Digital products (one-time or subscription) and the memberships buyers hold in them."""

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import Model
from app.models.mixins import Timestamps
from app.models.order import NEVER_REUSE_IDS
from app.models.types import UTCDateTime, string_enum
from app.tenancy import TenantOwned

BILLING = ("one_time", "month", "year")
MEMBERSHIP_STATUSES = ("trialing", "active", "past_due", "canceled", "expired")
ACCESS_STATUSES = ("trialing", "active", "past_due")
MEMBERSHIP_SOURCES = ("stripe", "whop")


class Product(TenantOwned, Timestamps, Model):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price_cents BETWEEN 100 AND 1000000", name="price"),
        CheckConstraint("trial_days BETWEEN 0 AND 90", name="trial_days"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(120))
    slug: Mapped[str] = mapped_column(String(140), unique=True)
    description_md: Mapped[str] = mapped_column(Text, default="")
    description_html: Mapped[str] = mapped_column(Text, default="")
    price_cents: Mapped[int] = mapped_column(BigInteger)
    billing: Mapped[str] = mapped_column(string_enum(BILLING, "billing"), default="one_time")
    trial_days: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)

    company = relationship("Company", lazy="joined")

    @property
    def is_subscription(self):
        return self.billing != "one_time"


class Membership(TenantOwned, Timestamps, Model):
    __tablename__ = "memberships"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(string_enum(MEMBERSHIP_STATUSES, "status"))
    source: Mapped[str] = mapped_column(string_enum(MEMBERSHIP_SOURCES, "source"), default="stripe")
    checkout_id: Mapped[int | None] = mapped_column(ForeignKey("checkouts.id"), unique=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    whop_membership_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    product = relationship("Product", lazy="joined")
    buyer = relationship("User")

    @property
    def grants_access(self):
        return self.status in ACCESS_STATUSES
