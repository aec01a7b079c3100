"""Money that follows an order: escrow release on completion, clearance, and refunds.

Gig payments sit in the seller's escrow account (services/checkout.py). Completion moves
what is left of it to pending; a sweep moves pending to available after the clearance period;
refunds go to Stripe with an idempotency key and reverse the ledger, returning the platform's
fee in proportion to the amount refunded.
"""
from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from app.clock import now
from app.extensions import db
from app.models import LedgerEntry, LedgerTransaction, Order, Payment, Refund
from app.payments import get_gateway
from app.services.audit import record_audit_event
from app.services.outbound import record_event
from app.services.ledger import Entry, company_balances, post_ledger_transaction, sum_cents


class RefundError(ValueError):
    """A refund that cannot be made; `message` says why."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


def escrow_remaining(order):
    """Cents of this order still held in the seller's escrow."""
    total = db.session.scalar(
        select(sum_cents(LedgerEntry.amount_cents))
        .join(LedgerTransaction)
        .where(LedgerTransaction.order_id == order.id, LedgerEntry.account == "seller_escrow"))
    return -total


def release_escrow(order):
    """Move what is left of the order's escrow to the seller's pending balance (once)."""
    amount = escrow_remaining(order)
    if amount <= 0:
        return None
    return post_ledger_transaction(
        f"order:{order.id}:release", "escrow_release", [
            Entry("seller_escrow", amount, order.company_id),
            Entry("seller_pending", -amount, order.company_id),
        ], currency=order.currency, description=f"Order #{order.id} completed", order_id=order.id)


def clear_pending_funds():
    """Sweep: completed orders past the clearance period → pending becomes available. Idempotent."""
    cutoff = now() - timedelta(days=current_app.config["CLEARANCE_DAYS"])
    orders = db.session.scalars(
        select(Order).where(Order.status == "completed", Order.completed_at <= cutoff,
                            Order.cleared_at.is_(None)).execution_options(skip_tenant_scope=True)
    ).all()
    for order in orders:
        pending = -db.session.scalar(
            select(sum_cents(LedgerEntry.amount_cents)).join(LedgerTransaction)
            .where(LedgerTransaction.order_id == order.id, LedgerEntry.account == "seller_pending"))
        if pending > 0:
            post_ledger_transaction(
                f"order:{order.id}:clear", "clearance", [
                    Entry("seller_pending", pending, order.company_id),
                    Entry("seller_available", -pending, order.company_id),
                ], currency=order.currency, description=f"Order #{order.id} cleared", order_id=order.id)
        order.cleared_at = now()
    db.session.flush()
    return len(orders)


def refundable_cents(payment):
    return payment.amount_cents - payment.refunded_cents


def split_refund(order, amount_cents):
    """(fee returned by the platform, part taken from the seller) of refunding `amount_cents`:
    the platform gives back its fee in proportion to the amount, rounded half up."""
    fee_returned = (order.fee_cents * amount_cents + order.total_cents // 2) // order.total_cents
    return fee_returned, amount_cents - fee_returned


def refund_order(order, amount_cents, *, reason, actor=None):
    """Refund `amount_cents` of an order's payment to the buyer, from escrow.

    The platform returns its fee on the refunded amount, pro rata; the rest comes out of the
    seller's escrow. Refused (RefundError, nothing written) if the amount is not positive,
    exceeds what is refundable, or the escrow no longer holds the seller's part.
    """
    payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id))
    if payment is None:
        raise RefundError("This order has no payment to refund.")
    if not isinstance(amount_cents, int) or amount_cents <= 0:
        raise RefundError("Refund a positive amount.")
    if amount_cents > refundable_cents(payment):
        raise RefundError(f"At most {refundable_cents(payment)} cents can still be refunded.")
    fee_returned, seller_share = split_refund(order, amount_cents)
    if seller_share > escrow_remaining(order):
        raise RefundError("The seller's share has already been released from escrow.")
    refund = Refund(company_id=order.company_id, payment_id=payment.id, order_id=order.id,
                    amount_cents=amount_cents, seller_share_cents=seller_share,
                    fee_returned_cents=fee_returned, currency=payment.currency, reason=reason,
                    created_by_user_id=getattr(actor, "id", None))
    db.session.add(refund)
    db.session.flush()
    stripe_refund = get_gateway().create_refund(
        idempotency_key=f"refund:{refund.id}", payment_intent=payment.stripe_payment_intent_id,
        amount=amount_cents, reason="requested_by_customer",
        metadata={"order_id": order.id, "refund_id": refund.id})
    refund.stripe_refund_id = stripe_refund.id
    refund.status = "succeeded" if stripe_refund.status == "succeeded" else "pending"
    payment.refunded_cents += amount_cents
    payment.status = "refunded" if payment.refunded_cents == payment.amount_cents else "partially_refunded"
    post_ledger_transaction(
        f"refund:{refund.id}", "refund", [
            Entry("seller_escrow", seller_share, order.company_id),
            Entry("platform_fee_revenue", fee_returned),
            Entry("platform_cash", -amount_cents),
        ], currency=payment.currency, description=f"Refund on order #{order.id}: {reason}"[:300],
        order_id=order.id, payment_id=payment.id)
    record_audit_event("order.refunded", actor=actor, company=order.company, subject=order,
                       amount_cents=amount_cents, refund_id=refund.id)
    _announce_refund(payment, refund)
    db.session.flush()
    return refund


def refund_remaining(order, *, reason, actor=None):
    """Refund everything still refundable on the order (cancellation, lost dispute)."""
    payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id))
    remaining = refundable_cents(payment) if payment else 0
    return refund_order(order, remaining, reason=reason, actor=actor) if remaining else None


def record_external_refund(order, refunded_total_cents):
    """Account for a refund made directly in Stripe, bringing the payment to `refunded_total_cents`.

    Same split as `refund_order` (fee returned pro rata), but nothing is sent to Stripe. The
    seller's part comes out of escrow first, then pending, then available (which may go
    negative: the seller then owes the platform). Idempotent per refunded total.
    """
    payment = db.session.scalar(select(Payment).where(Payment.order_id == order.id))
    amount = refunded_total_cents - payment.refunded_cents if payment else 0
    if amount <= 0:
        return None
    fee_returned, seller_share = split_refund(order, amount)
    refund = Refund(company_id=order.company_id, payment_id=payment.id, order_id=order.id,
                    amount_cents=amount, seller_share_cents=seller_share, fee_returned_cents=fee_returned,
                    currency=payment.currency, reason="Refunded directly in Stripe", status="succeeded")
    db.session.add(refund)
    db.session.flush()
    entries, left = [], seller_share
    for account, held in (("seller_escrow", escrow_remaining(order)),
                          ("seller_pending", company_balance(order.company_id, "pending")),
                          ("seller_available", None)):
        take = left if held is None else min(left, max(held, 0))
        if take:
            entries.append(Entry(account, take, order.company_id))
            left -= take
    payment.refunded_cents = refunded_total_cents
    payment.status = "refunded" if payment.refunded_cents >= payment.amount_cents else "partially_refunded"
    post_ledger_transaction(
        f"refund:{refund.id}", "external_refund",
        [*entries, Entry("platform_fee_revenue", fee_returned), Entry("platform_cash", -amount)],
        currency=payment.currency, description=f"Refund made in Stripe on order #{order.id}",
        order_id=order.id, payment_id=payment.id)
    _announce_refund(payment, refund)
    db.session.flush()
    return refund


def _announce_refund(payment, refund):
    record_event(payment.company_id, "payment.refunded", {
        "payment_id": payment.id, "refund_id": refund.id, "amount_refunded_cents": refund.amount_cents,
        "total_refunded_cents": payment.refunded_cents, "currency": payment.currency,
        "order_id": payment.order_id})


def company_balance(company_id, name):
    return company_balances(company_id)[name]
