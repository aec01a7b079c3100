"""Platform money figures for admins, computed from payments and the ledger."""

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from app.clock import now
from app.extensions import db
from app.models import LedgerEntry, LedgerTransaction, Payment, Payout
from app.services.ledger import account_balance, sum_cents

PERIODS = {"7d": 7, "30d": 30, "90d": 90, "365d": 365}


def platform_money(period: str = "30d") -> dict[str, Any]:
    """GMV and fees in the period, per day, plus balances held right now (all in cents)."""
    days = PERIODS.get(period, 30)
    since = now() - timedelta(days=days)
    day = func.date(Payment.created_at)
    daily = db.session.execute(
        select(day, sum_cents(Payment.amount_cents), sum_cents(Payment.refunded_cents), func.count())
        .where(Payment.created_at >= since)
        .group_by(day)
        .order_by(day.desc())
    ).all()
    fees = db.session.execute(
        select(sum_cents(LedgerEntry.amount_cents))
        .join(LedgerTransaction)
        .where(LedgerEntry.account == "platform_fee_revenue", LedgerTransaction.created_at >= since)
    ).scalar_one()
    return {
        "period": period if period in PERIODS else "30d",
        "gmv_cents": sum(row[1] for row in daily),
        "refunded_cents": sum(row[2] for row in daily),
        "payments": sum(row[3] for row in daily),
        "fees_cents": -fees,
        "daily": [
            {"day": str(row[0]), "gmv_cents": row[1], "refunded_cents": row[2], "payments": row[3]} for row in daily
        ],
        "escrow_cents": account_balance("seller_escrow"),
        "payable_cents": account_balance("seller_pending") + account_balance("seller_available"),
        "fees_total_cents": account_balance("platform_fee_revenue"),
        "paid_out_cents": db.session.scalar(select(sum_cents(Payout.amount_cents)).where(Payout.status == "paid")),
    }
