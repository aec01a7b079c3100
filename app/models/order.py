"""Checkouts (a buyer's priced selection), orders (a gig purchase) and payments."""

from datetime import datetime

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import Model
from app.models.mixins import Bought, CreatedAt, Timestamps
from app.models.types import UTCDateTime, between, string_enum
from app.payments.gateway import new_idempotency_key
from app.tenancy import TenantOwned

ORDER_STATUSES = (
    "awaiting_requirements",
    "in_progress",
    "delivered",
    "revision_requested",
    "completed",
    "cancel_requested",
    "cancelled",
    "disputed",
    "refunded",
)
# Orders still under way (not completed, cancelled or refunded): money or work is outstanding.
UNDER_WAY_STATUSES = tuple(status for status in ORDER_STATUSES if status not in ("completed", "cancelled", "refunded"))
CHECKOUT_KINDS = ("gig", "product")
CHECKOUT_STATUSES = ("open", "completed", "expired", "cancelled")
PAYMENT_KINDS = ("gig", "product", "subscription")
PAYMENT_STATUSES = ("succeeded", "partially_refunded", "refunded", "disputed")
# Ids of money rows appear in URLs, audit rows, ledger references and Stripe metadata: never
# hand one out twice, not even after rows are deleted (SQLite reuses rowids without this).
# Stripe idempotency keys are NOT built from ids (ids repeat after a database reset, or on a
# second deployment sharing a Stripe account): each money row keeps a random `idempotency_key`.
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}
IDEMPOTENCY_KEY_LENGTH = 64


def idempotency_key_column():
    """A random Stripe idempotency key, set when the row is created (unique: see the table's index)."""
    return mapped_column(String(IDEMPOTENCY_KEY_LENGTH), default=new_idempotency_key, nullable=False)


class Checkout(Bought, CreatedAt, Model):
    """The price snapshot a buyer agreed to; the webhook turns it into an order or membership."""

    __tablename__ = "checkouts"
    __table_args__ = (
        between("quantity", 1, 10),
        CheckConstraint("total_cents = subtotal_cents + extras_cents", name="total"),
        CheckConstraint("fee_cents >= 0 AND fee_cents <= total_cents", name="fee"),
        Index("uq_checkouts_idempotency_key", "idempotency_key", unique=True),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(string_enum(CHECKOUT_KINDS, "kind"))
    company_id: Mapped[int] = mapped_column(ForeignKey("companies.id"), index=True)
    gig_id: Mapped[int | None] = mapped_column(ForeignKey("gigs.id"))
    package_id: Mapped[int | None] = mapped_column(ForeignKey("gig_packages.id"))
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("plans.id"))
    # The free trial this checkout offers (0 for a returning subscriber of the product).
    trial_days: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(default=1)
    extras: Mapped[list] = mapped_column(JSON, default=list)
    unit_price_cents: Mapped[int] = mapped_column(BigInteger)
    subtotal_cents: Mapped[int] = mapped_column(BigInteger)
    extras_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    total_cents: Mapped[int] = mapped_column(BigInteger)
    fee_bps: Mapped[int] = mapped_column()
    fee_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    delivery_days: Mapped[int | None] = mapped_column()
    # The package's revisions when the buyer agreed (None = unlimited): the order gets these
    # even if the seller's change to the gig is approved before the payment arrives.
    package_revisions: Mapped[int | None] = mapped_column()
    status: Mapped[str] = mapped_column(string_enum(CHECKOUT_STATUSES, "status"), default="open")
    stripe_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_session_url: Mapped[str | None] = mapped_column(Text)
    # Committed before the session is created, so a retry asks Stripe for the same session.
    idempotency_key: Mapped[str] = idempotency_key_column()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    gig = relationship("Gig")
    package = relationship("GigPackage")
    product = relationship("Product")
    plan = relationship("Plan")

    def is_expired(self, moment):
        return self.status == "open" and moment >= self.expires_at


class Order(Bought, TenantOwned, Timestamps, Model):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("seller_amount_cents + fee_cents = total_cents", name="split"),
        Index("ix_orders_company_status", "company_id", "status"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    gig_id: Mapped[int] = mapped_column(ForeignKey("gigs.id"), index=True)
    package_id: Mapped[int] = mapped_column(ForeignKey("gig_packages.id"))
    checkout_id: Mapped[int] = mapped_column(ForeignKey("checkouts.id"), unique=True)
    status: Mapped[str] = mapped_column(string_enum(ORDER_STATUSES, "status", 24), default="awaiting_requirements")
    previous_status: Mapped[str | None] = mapped_column(String(24))
    title: Mapped[str] = mapped_column(String(200))
    package_tier: Mapped[str] = mapped_column(String(16))
    quantity: Mapped[int] = mapped_column(default=1)
    extras: Mapped[list] = mapped_column(JSON, default=list)
    total_cents: Mapped[int] = mapped_column(BigInteger)
    fee_cents: Mapped[int] = mapped_column(BigInteger)
    seller_amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    delivery_days: Mapped[int] = mapped_column()
    revisions_allowed: Mapped[int | None] = mapped_column()  # None = unlimited
    revisions_used: Mapped[int] = mapped_column(default=0)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    is_late: Mapped[bool] = mapped_column(default=False)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    gig = relationship("Gig")
    company = relationship("Company")


class Payment(TenantOwned, CreatedAt, Model):
    """Money a buyer paid: one per checkout (gig or product) or subscription invoice."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("refunded_cents >= 0 AND refunded_cents <= amount_cents", name="refunded"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(string_enum(PAYMENT_KINDS, "kind"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    checkout_id: Mapped[int | None] = mapped_column(ForeignKey("checkouts.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), unique=True)
    membership_id: Mapped[int | None] = mapped_column(ForeignKey("memberships.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    fee_cents: Mapped[int] = mapped_column(BigInteger)
    refunded_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(string_enum(PAYMENT_STATUSES, "status", 24), default="succeeded")
    stripe_payment_intent_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    stripe_charge_id: Mapped[str | None] = mapped_column(String(64), index=True)
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(64), unique=True)
