"""Seller withdrawals: a Stripe transfer to the connected account, never more than is available."""
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from app.clock import now
from app.extensions import db
from app.models import Company, LedgerEntry, LedgerTransaction, Payout
from app.payments import get_gateway
from app.services.audit import record_audit_event
from app.services.outbound import record_event
from app.services.ledger import Entry, company_balances, post_ledger_transaction, sum_cents


class PayoutError(ValueError):
    def __init__(self, message):
        super().__init__(message)
        self.message = message


def withdraw_funds(company, amount_cents, actor):
    """Transfer `amount_cents` of the company's available balance to its Stripe account.

    The company row is locked first (FOR UPDATE on PostgreSQL; SQLite transactions are
    serial), so two withdrawals at once can never spend the same balance. Raises PayoutError
    and writes nothing when the amount is below the minimum or above what is available.
    """
    db.session.execute(select(Company.id).where(Company.id == company.id).with_for_update())
    minimum = company.payout_minimum(current_app.config["PAYOUT_MINIMUM_CENTS"])
    available = company_balances(company.id)["available"]
    if not company.payouts_enabled or not company.stripe_account_id:
        raise PayoutError("Finish identity verification with Stripe to receive payouts.")
    if amount_cents < minimum:
        raise PayoutError(f"The smallest withdrawal is {minimum / 100:,.2f}.")
    if amount_cents > available:
        raise PayoutError(f"You can withdraw at most {available / 100:,.2f} right now.")
    payout = Payout(company_id=company.id, amount_cents=amount_cents,
                    currency=current_app.config["CURRENCY"], requested_by_user_id=actor.id)
    db.session.add(payout)
    db.session.flush()
    post_ledger_transaction(
        f"payout:{payout.id}", "payout", [
            Entry("seller_available", amount_cents, company.id),
            Entry("platform_cash", -amount_cents),
        ], currency=payout.currency, description=f"Payout #{payout.id} to {company.title}")
    transfer = get_gateway().create_transfer(
        amount=amount_cents, currency=payout.currency, destination=company.stripe_account_id,
        transfer_group=f"payout:{payout.id}", idempotency_key=f"payout:{payout.id}",
        metadata={"payout_id": payout.id, "company_id": company.id})
    payout.stripe_transfer_id, payout.status = transfer.id, "paid"
    record_audit_event("payout.created", actor=actor, company=company, subject=payout,
                       amount_cents=amount_cents)
    record_event(company.id, "payout.created", {
        "payout_id": payout.id, "amount_cents": amount_cents, "currency": payout.currency,
        "status": payout.status, "transfer_id": payout.stripe_transfer_id})
    db.session.flush()
    return payout


def weekly_earnings(company_id, weeks=12):
    """[(week start date, cents released to the seller that week)] for the last `weeks` weeks."""
    today = now().date()
    start = today - timedelta(days=today.weekday(), weeks=weeks - 1)
    rows = db.session.execute(
        select(LedgerTransaction.created_at, LedgerEntry.amount_cents)
        .join(LedgerEntry)
        .where(LedgerTransaction.kind == "escrow_release", LedgerEntry.company_id == company_id,
               LedgerEntry.account == "seller_pending",
               LedgerTransaction.created_at >= now().replace(hour=0, minute=0, second=0, microsecond=0)
               - timedelta(days=(today - start).days))
    ).all()
    buckets = {start + timedelta(weeks=i): 0 for i in range(weeks)}
    for created_at, amount in rows:
        day = created_at.date()
        buckets[day - timedelta(days=day.weekday())] += -amount
    return sorted(buckets.items())


def payout_history(company_id, limit=50):
    return db.session.scalars(select(Payout).where(Payout.company_id == company_id)
                              .order_by(Payout.created_at.desc()).limit(limit)).all()


def lifetime_paid_out(company_id):
    return db.session.scalar(select(sum_cents(Payout.amount_cents))
                             .where(Payout.company_id == company_id, Payout.status == "paid"))
