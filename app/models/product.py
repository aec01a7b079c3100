"""Digital products (one-time or subscription) and the memberships buyers hold in them."""

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.mixins import CreatedAt, Timestamps
from app.models.order import NEVER_REUSE_IDS
from app.models.types import UTCDateTime, string_enum
from app.tenancy import TenantOwned

BILLING = ("one_time", "month", "year")
MEMBERSHIP_STATUSES = ("trialing", "active", "past_due", "canceled", "expired")
ACCESS_STATUSES = ("trialing", "active", "past_due")
MEMBERSHIP_SOURCES = ("stripe", "whop")


class Product(TenantOwned, Timestamps, db.Model):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price_cents BETWEEN 100 AND 1000000", name="price"),
        CheckConstraint("trial_days BETWEEN 0 AND 90", name="trial_days"),
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

    @property
    def is_subscription(self):
        return self.billing != "one_time"


class Membership(TenantOwned, Timestamps, db.Model):
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


class ProductReview(TenantOwned, CreatedAt, db.Model):
    """A buyer's stars and words about a product they paid for: one per buyer and product."""

    __tablename__ = "product_reviews"
    __table_args__ = (
        CheckConstraint("rating BETWEEN 1 AND 5", name="rating"),
        UniqueConstraint("product_id", "buyer_id", name="uq_product_reviews_product_buyer"),
        Index("ix_product_reviews_product_id_created_at", "product_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    rating: Mapped[int] = mapped_column()
    body: Mapped[str] = mapped_column(Text)

    buyer = relationship("User", lazy="joined")
