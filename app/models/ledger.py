"""The append-only double-entry ledger. Positive amounts are debits, negative are credits;
every transaction's entries sum to zero. A database trigger rejects UPDATE and DELETE."""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.clock import now
from app.extensions import Model
from app.models.types import UTCDateTime

# Platform-level accounts have company_id NULL; seller accounts carry their company.
ACCOUNTS = (
    "platform_cash",  # money held in the platform's Stripe balance
    "platform_fee_revenue",  # fees the platform earned (credit-normal)
    "seller_escrow",  # buyers' money held for a seller until the order completes
    "seller_pending",  # a completed order's share, clearing (default 14 days)
    "seller_available",  # cleared: the seller may withdraw it
    "affiliate_pending",  # commissions earned by an affiliate's payout company, clearing
    "affiliate_available",  # cleared commissions: the affiliate may withdraw them (may go negative)
)


class LedgerTransaction(Model):
    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    description: Mapped[str] = mapped_column(String(300), default="")
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=now, index=True)

    entries = relationship("LedgerEntry", back_populates="transaction", lazy="selectin")


class LedgerEntry(Model):
    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_account_company", "account", "company_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    transaction_id: Mapped[int] = mapped_column(ForeignKey("ledger_transactions.id"), index=True)
    account: Mapped[str] = mapped_column(String(40))
    company_id: Mapped[int | None] = mapped_column(ForeignKey("companies.id"))
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))

    transaction = relationship("LedgerTransaction", back_populates="entries")
