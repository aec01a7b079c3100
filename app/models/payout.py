"""Refunds to buyers and payouts to sellers: each mirrors a Stripe object and a ledger transaction."""

import secrets
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.clock import now
from app.extensions import Model
from app.models.mixins import CreatedAt
from app.models.order import NEVER_REUSE_IDS, idempotency_key_column
from app.models.types import UTCDateTime, string_enum
from app.tenancy import TenantOwned

PENDING = text("status = 'pending'")
REFUND_STATUSES = ("pending", "succeeded", "failed")
PAYOUT_STATUSES = ("pending", "paid", "failed")


def new_request_token():
    """A token naming one submission of the withdrawal form (the form carries it)."""
    return secrets.token_urlsafe(16)


class Refund(TenantOwned, CreatedAt, Model):
    """A refund to the buyer. Written `pending` (with its key) and committed before Stripe is
    asked; `succeeded` once Stripe's refund is recorded in the ledger. At most one is pending
    per payment: a retry finishes that one instead of starting another."""

    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount"),
        CheckConstraint("seller_share_cents + fee_returned_cents = amount_cents", name="split"),
        Index("uq_refunds_idempotency_key", "idempotency_key", unique=True),
        Index("uq_refunds_pending_payment", "payment_id", unique=True, sqlite_where=PENDING, postgresql_where=PENDING),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    seller_share_cents: Mapped[int] = mapped_column(BigInteger)
    fee_returned_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(300), default="")
    status: Mapped[str] = mapped_column(string_enum(REFUND_STATUSES, "status"), default="pending")
    stripe_refund_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    idempotency_key: Mapped[str] = idempotency_key_column()
    # The order action this refund is part of, and its note: what finishing it later must do.
    action: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Payout(TenantOwned, Model):
    """A withdrawal to the seller's Stripe account. Written `pending` (with its key) and
    committed before the transfer; `paid` once the transfer is recorded in the ledger. One
    withdrawal form submission (`request_token`) is one payout however often it arrives, and
    a company has at most one pending payout."""

    __tablename__ = "payouts"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount"),
        Index("uq_payouts_idempotency_key", "idempotency_key", unique=True),
        Index("uq_payouts_company_request_token", "company_id", "request_token", unique=True),
        Index("uq_payouts_pending_company", "company_id", unique=True, sqlite_where=PENDING, postgresql_where=PENDING),
        NEVER_REUSE_IDS,
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(string_enum(PAYOUT_STATUSES, "status"), default="pending")
    stripe_transfer_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    idempotency_key: Mapped[str] = idempotency_key_column()
    request_token: Mapped[str] = mapped_column(String(64), default=new_request_token)
    requested_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)
