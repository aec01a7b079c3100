"""Digital products (one-time or subscription) and the memberships buyers hold in them."""

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import now
from app.extensions import Model
from app.models.mixins import Bought, CreatedAt, Timestamps
from app.models.order import NEVER_REUSE_IDS
from app.models.types import UTCDateTime, between, string_enum
from app.tenancy import TenantOwned

BILLING = ("one_time", "month", "year")
BILLING_LABELS = {"one_time": "one-time", "month": "monthly", "year": "yearly"}
MAX_TIER_RANK = 100
MEMBERSHIP_STATUSES = ("trialing", "active", "past_due", "canceled", "expired")
ACCESS_STATUSES = ("trialing", "active", "past_due")
MEMBERSHIP_SOURCES = ("stripe", "whop")


class Product(TenantOwned, Timestamps, Model):
    __tablename__ = "products"
    __table_args__ = (
        between("price_cents", 100, 1000000, name="price"),
        between("trial_days", 0, 90),
        # A unique index, not a constraint: added to SQLite without rebuilding the table.
        Index("uq_products_image_key", "image_key", unique=True),
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
    # The product's picture, stored like gig images (services/storage.py, key
    # products/<id>/<content digest>.<ext>) and served by sell.images.show.
    image_key: Mapped[str | None] = mapped_column(String(200))
    image_content_type: Mapped[str | None] = mapped_column(String(32))
    image_width: Mapped[int | None] = mapped_column()
    image_height: Mapped[int | None] = mapped_column()

    company = relationship("Company", lazy="joined")
    plans = relationship("Plan", back_populates="product", order_by="Plan.id", viewonly=True)

    @property
    def is_subscription(self):
        return self.billing != "one_time"

    @property
    def enabled_plans(self):
        """The plans a buyer can choose, cheapest tier first."""
        return sorted(
            (plan for plan in self.plans if plan.enabled), key=lambda p: (p.tier_rank or 0, p.price_cents, p.id)
        )


class Plan(TenantOwned, Timestamps, Model):
    """One way to buy a product: one-time or a monthly/yearly subscription, with its price,
    free trial and optional tier rank (higher ranks open more member content). A product has
    one or more; disabled plans stay for their members but can't be bought."""

    __tablename__ = "plans"
    __table_args__ = (
        between("price_cents", 100, 1000000, name="price"),
        between("trial_days", 0, 90),
        CheckConstraint("billing <> 'one_time' OR trial_days = 0", name="one_time_trial"),
        between("tier_rank", 1, MAX_TIER_RANK, nullable=True),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    billing: Mapped[str] = mapped_column(string_enum(BILLING, "billing"), default="one_time")
    price_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    trial_days: Mapped[int] = mapped_column(default=0)
    tier_rank: Mapped[int | None] = mapped_column()
    enabled: Mapped[bool] = mapped_column(default=True)

    product = relationship("Product", back_populates="plans")

    @property
    def is_subscription(self):
        return self.billing != "one_time"

    @property
    def billing_label(self):
        return BILLING_LABELS[self.billing]


class Membership(Bought, TenantOwned, Timestamps, Model):
    __tablename__ = "memberships"
    __table_args__ = (NEVER_REUSE_IDS,)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    status: Mapped[str] = mapped_column(string_enum(MEMBERSHIP_STATUSES, "status"))
    source: Mapped[str] = mapped_column(string_enum(MEMBERSHIP_SOURCES, "source"), default="stripe")
    checkout_id: Mapped[int | None] = mapped_column(ForeignKey("checkouts.id"), unique=True)
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"))
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    whop_membership_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    # Stripe's current period end: the renewal date (or, when cancel_at_period_end, the end).
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The end of the last period actually paid for (or of the free trial): access never
    # reaches past it, except for the grace period after a failed renewal.
    paid_through: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # past_due only: access ends here unless the renewal is paid (SUBSCRIPTION_GRACE_DAYS).
    grace_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When access ends (None: never), kept by services/subscriptions.py from the above.
    access_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancel_at_period_end: Mapped[bool] = mapped_column(default=False)
    canceled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the member set in Stripe's customer portal (services/billing_portal.py).
    stripe_customer_id: Mapped[str | None] = mapped_column(String(64), index=True)
    stripe_price_id: Mapped[str | None] = mapped_column(String(64))
    cancel_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    card_brand: Mapped[str | None] = mapped_column(String(20))
    card_last4: Mapped[str | None] = mapped_column(String(4))

    product = relationship("Product", lazy="joined")
    plan = relationship("Plan", lazy="joined")

    @property
    def grants_access(self):
        """True while the status allows access and its end has not come."""
        return self.status in ACCESS_STATUSES and (self.access_ends_at is None or now() < self.access_ends_at)

    @property
    def tier_rank(self):
        return (self.plan.tier_rank if self.plan is not None else None) or 0

    @property
    def is_manageable(self):
        """A Stripe subscription still running: its member can open the billing portal."""
        return self.source == "stripe" and bool(self.stripe_subscription_id) and self.grants_access


class ProductReview(TenantOwned, CreatedAt, Model):
    """A buyer's stars and words about a product they paid for: one per buyer and product."""

    __tablename__ = "product_reviews"
    __table_args__ = (
        between("rating", 1, 5),
        UniqueConstraint("product_id", "buyer_id", name="uq_product_reviews_product_buyer"),
        Index("ix_product_reviews_product_id_created_at", "product_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    rating: Mapped[int] = mapped_column()
    body: Mapped[str] = mapped_column(Text)

    buyer = relationship("User", lazy="joined")
