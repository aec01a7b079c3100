"""Money that follows an order: escrow release on completion, clearance, and refunds.

Gig payments sit in the seller's escrow account (services/checkout.py). Completion moves
what is left of it to pending; a sweep moves pending to available after the clearance period;
refunds go to Stripe with an idempotency key and reverse the ledger, returning the platform's
fee in proportion to the amount refunded.

A refund is two steps with a commit between: `prepare_refund` writes the pending Refund and
its random key; `refund_order` asks Stripe with that key and records the outcome. A retry
reuses the pending row and its key, so Stripe refunds once however often it is asked.
"""

from datetime import timedelta
from typing import Any

import stripe
from flask import current_app
from sqlalchemy import select

from app import metrics
from app.clock import now
from app.errors import ServiceError
from app.extensions import db
from app.models import Checkout, LedgerEntry, LedgerTransaction, Order, Payment, Refund, User
from app.money import format_money
from app.payments import get_gateway
from app.services.affiliates.commissions import (
    clear_due_commissions,
    clear_order_commissions,
    outstanding_for_order,
    reversal_reason,
    reverse_payment_commission,
)
from app.services.audit import record_audit_event
from app.services.ledger import Entry, company_balances, post_ledger_transaction, sum_cents
from app.services.mail import app_url, send_template
from app.services.outbound.outbox import record_event


class RefundError(ServiceError):
    """A refund that cannot be made; `message` says why (409)."""

    def __init__(self, message: str):
        super().__init__(409, "refund_refused", message)


def _order_balance(order: Order, account: str) -> int:
    """Cents of this order in one of the seller's (credit-normal) accounts."""
    total = db.session.execute(
        select(sum_cents(LedgerEntry.amount_cents))
        .join(LedgerTransaction)
        .where(LedgerTransaction.order_id == order.id, LedgerEntry.account == account)
    ).scalar_one()
    return -total


def _move_order_funds(
    order: Order, amount: int, source: str, target: str, step: str, kind: str, done: str
) -> LedgerTransaction | None:
    """Move `amount` of the order's money from the seller's `source` account to `target`, once
    per `step` of the order (the transaction's reference)."""
    return post_ledger_transaction(
        f"order:{order.id}:{step}",
        kind,
        [
            Entry(source, amount, order.company_id),
            Entry(target, -amount, order.company_id),
        ],
        currency=order.currency,
        description=f"Order #{order.id} {done}",
        order_id=order.id,
    )


def escrow_remaining(order: Order) -> int:
    """Cents of this order still held in the seller's escrow."""
    return _order_balance(order, "seller_escrow")


def release_escrow(order: Order) -> LedgerTransaction | None:
    """Move what is left of the order's escrow to the seller's pending balance (once)."""
    amount = escrow_remaining(order)
    if amount <= 0:
        return None
    return _move_order_funds(order, amount, "seller_escrow", "seller_pending", "release", "escrow_release", "completed")


def clear_pending_funds() -> int:
    """Sweep: completed orders past the clearance period → pending becomes available. Idempotent."""
    cutoff = now() - timedelta(days=current_app.config["CLEARANCE_DAYS"])
    orders = db.session.scalars(
        select(Order)
        .where(Order.status == "completed", Order.completed_at <= cutoff, Order.cleared_at.is_(None))
        .execution_options(skip_tenant_scope=True)
    ).all()
    for order in orders:
        pending = _order_balance(order, "seller_pending")
        if pending > 0:
            _move_order_funds(order, pending, "seller_pending", "seller_available", "clear", "clearance", "cleared")
        order.cleared_at = now()
        clear_order_commissions(order)
    clear_due_commissions()
    db.session.flush()
    return len(orders)


def refundable_cents(payment: Payment) -> int:
    """Cents of `payment` not refunded yet."""
    return payment.amount_cents - payment.refunded_cents


def split_refund(order: Order, amount_cents: int) -> tuple[int, int]:
    """(fee returned by the platform, part taken from the seller) of refunding `amount_cents`:
    the platform gives back its fee in proportion to the amount, rounded half up."""
    fee_returned = (order.fee_cents * amount_cents + order.total_cents // 2) // order.total_cents
    return fee_returned, amount_cents - fee_returned


def pending_refund(payment: Payment) -> Refund | None:
    """The payment's refund that was written but not yet confirmed by Stripe, if any (at most one)."""
    return db.session.scalar(
        select(Refund)
        .where(Refund.payment_id == payment.id, Refund.status == "pending")
        .execution_options(populate_existing=True)
    )


def _payment_of(order: Order) -> Payment | None:
    return db.session.execute(
        select(Payment).where(Payment.order_id == order.id).execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _payment_to_refund(order: Order) -> Payment:
    payment = _payment_of(order)
    if payment is None:
        raise RefundError("This order has no payment to refund.")
    return payment


def _check_refundable(order: Order, payment: Payment, amount_cents: int | None) -> tuple[int, int]:
    if not isinstance(amount_cents, int) or amount_cents <= 0:
        raise RefundError("Refund a positive amount.")
    if amount_cents > refundable_cents(payment):
        raise RefundError(f"At most {refundable_cents(payment)} cents can still be refunded.")
    fee_returned, seller_share = split_refund(order, amount_cents)
    # An affiliate's commission taken from the escrow comes back to it with the refund.
    if seller_share > escrow_remaining(order) + outstanding_for_order(order):
        raise RefundError("The seller's share has already been released from escrow.")
    return fee_returned, seller_share


def prepare_refund(
    order: Order,
    amount_cents: int,
    *,
    reason: str,
    action: str | None = None,
    note: str = "",
    actor: User | None = None,
) -> Refund:
    """Step one of a refund: the pending Refund row, with its random Stripe idempotency key.

    The caller commits it before `refund_order` asks Stripe, so every attempt of this refund
    (a retry after Stripe was unreachable, a second click) uses the same key and Stripe refunds
    at most once. A pending refund of the same amount for the same action is returned as is;
    a different one refuses (RefundError) until that one is finished. Refused (RefundError,
    nothing written) if the amount is not positive, exceeds what is refundable, or the escrow no
    longer holds the seller's part. The caller holds the order's lock. Flushed.
    """
    payment = _payment_to_refund(order)
    fee_returned, seller_share = _check_refundable(order, payment, amount_cents)
    pending = pending_refund(payment)
    if pending is not None:
        if (pending.amount_cents, pending.action) == (amount_cents, action):
            return pending
        raise RefundError(
            f"A refund of {format_money(pending.amount_cents, pending.currency)} is still "
            "waiting for Stripe on this order. Repeat it to finish it first."
        )
    return _add_refund(
        order,
        payment,
        (amount_cents, seller_share, fee_returned),
        reason=reason[:300],
        action=action,
        note=note,
        status="pending",
        created_by_user_id=getattr(actor, "id", None),
    )


def _add_refund(order: Order, payment: Payment, split: tuple[int, int, int], **fields: Any) -> Refund:
    """A new Refund row of the order's payment, added and flushed; `split` is (amount, seller's share, fee returned)."""
    amount_cents, seller_share, fee_returned = split
    refund = Refund(
        company_id=order.company_id,
        payment_id=payment.id,
        order_id=order.id,
        amount_cents=amount_cents,
        seller_share_cents=seller_share,
        fee_returned_cents=fee_returned,
        currency=payment.currency,
        **fields,
    )
    db.session.add(refund)
    db.session.flush()
    return refund


def refund_order(
    order: Order, amount_cents: int | None, *, reason: str, actor: User | None = None, made: stripe.Refund | None = None
) -> Refund:
    """Step two: make the order's prepared refund of `amount_cents` at Stripe and record it.

    Stripe is asked with the refund row's stored key (`made`, a Stripe refund already made for
    this row, skips the call). Then the payment, one balanced ledger transaction (the platform
    returns its fee pro rata, the rest comes out of the seller's escrow), the audit row and the
    outbound event. Raises PaymentsUnavailable when Stripe can't be reached (the row stays
    pending: retrying is safe), RefundError when there is no such prepared refund, the amount
    is no longer refundable, or Stripe reports the refund failed. The caller holds the order's
    lock. A refund Stripe accepts as `pending` (still reaching the bank) counts as made.
    """
    payment = _payment_to_refund(order)
    _check_refundable(order, payment, amount_cents)
    refund = pending_refund(payment)
    if refund is None or refund.amount_cents != amount_cents:
        raise RefundError("This refund was not prepared: prepare it and commit before asking Stripe.")
    if made is None:
        made = get_gateway().create_refund(
            idempotency_key=refund.idempotency_key,
            payment_intent=payment.stripe_payment_intent_id,
            amount=amount_cents,
            reason="requested_by_customer",
            metadata={"order_id": order.id, "refund_id": refund.id, "refund_key": refund.idempotency_key},
        )
    if made.status in ("failed", "canceled"):
        raise RefundError(f"Stripe could not make this refund ({made.status}).")
    return record_refund_made(order, refund, made, actor=actor)


def record_refund_made(order: Order, refund: Refund, made: stripe.Refund, *, actor: User | None = None) -> Refund:
    """Record the prepared `refund` as made by Stripe (`made`, the Stripe refund): the payment,
    the ledger (the seller's part from escrow, then pending, then available), audit and event.
    A refund Stripe reports failed or canceled is marked failed and moves nothing. Flushed."""
    payment = db.session.get_one(Payment, refund.payment_id)
    refund.stripe_refund_id = made.id
    if made.status in ("failed", "canceled"):
        refund.status = "failed"
        db.session.flush()
        return refund
    refund.status = "succeeded"
    payment.refunded_cents += refund.amount_cents
    payment.status = "refunded" if payment.refunded_cents >= payment.amount_cents else "partially_refunded"
    reverse_payment_commission(payment, payment.refunded_cents, reversal_reason(order, refund.action))
    post_ledger_transaction(
        f"refund:{refund.id}",
        "refund",
        [
            *_seller_share_entries(order, refund.seller_share_cents),
            Entry("platform_fee_revenue", refund.fee_returned_cents),
            Entry("platform_cash", -refund.amount_cents),
        ],
        currency=payment.currency,
        description=f"Refund on order #{order.id}: {refund.reason}"[:300],
        order_id=order.id,
        payment_id=payment.id,
    )
    record_audit_event(
        "order.refunded",
        actor=actor,
        company=order.company,
        subject=order,
        amount_cents=refund.amount_cents,
        refund_id=refund.id,
    )
    _announce_refund(payment, refund)
    db.session.flush()
    return refund


def _seller_share_entries(order: Order, seller_share: int) -> list[Entry]:
    """Ledger entries taking `seller_share` back from the seller: escrow first, then pending,
    then available (which may go negative: the seller then owes the platform)."""
    entries, left = [], seller_share
    for account, held in (
        ("seller_escrow", escrow_remaining(order)),
        ("seller_pending", company_balance(order.company_id, "pending")),
        ("seller_available", None),
    ):
        take = left if held is None else min(left, max(held, 0))
        if take:
            entries.append(Entry(account, take, order.company_id))
            left -= take
    return entries


def refund_remaining(
    order: Order, *, reason: str, actor: User | None = None, made: stripe.Refund | None = None
) -> Refund | None:
    """Make the order's prepared refund of everything still refundable (cancellation, lost dispute)."""
    payment = _payment_of(order)
    remaining = refundable_cents(payment) if payment else 0
    return refund_order(order, remaining, reason=reason, actor=actor, made=made) if remaining else None


def record_external_refund(order: Order, refunded_total_cents: int | None) -> Refund | None:
    """Account for a refund made directly in Stripe, bringing the payment to `refunded_total_cents`.

    Same split as `refund_order` (fee returned pro rata), but nothing is sent to Stripe. The
    seller's part comes out of escrow first, then pending, then available (which may go
    negative: the seller then owes the platform). Idempotent per refunded total.
    """
    payment = _payment_of(order)
    if payment is None or refunded_total_cents is None:
        return None
    amount = refunded_total_cents - payment.refunded_cents
    if amount <= 0:
        return None
    fee_returned, seller_share = split_refund(order, amount)
    refund = _add_refund(
        order, payment, (amount, seller_share, fee_returned), reason="Refunded directly in Stripe", status="succeeded"
    )
    payment.refunded_cents = refunded_total_cents
    payment.status = "refunded" if payment.refunded_cents >= payment.amount_cents else "partially_refunded"
    reverse_payment_commission(payment, payment.refunded_cents, reversal_reason(order, None))
    post_ledger_transaction(
        f"refund:{refund.id}",
        "external_refund",
        [
            *_seller_share_entries(order, seller_share),
            Entry("platform_fee_revenue", fee_returned),
            Entry("platform_cash", -amount),
        ],
        currency=payment.currency,
        description=f"Refund made in Stripe on order #{order.id}",
        order_id=order.id,
        payment_id=payment.id,
    )
    _announce_refund(payment, refund)
    db.session.flush()
    return refund


def _announce_refund(payment: Payment, refund: Refund) -> None:
    metrics.PAYMENTS.labels(kind=payment.kind, outcome="refunded").inc()
    record_event(
        payment.company_id,
        "payment.refunded",
        {
            "payment_id": payment.id,
            "refund_id": refund.id,
            "amount_refunded_cents": refund.amount_cents,
            "total_refunded_cents": payment.refunded_cents,
            "currency": payment.currency,
            "order_id": payment.order_id,
        },
    )
    buyer = db.session.get_one(User, payment.buyer_id)
    checkout = db.session.get(Checkout, payment.checkout_id) if payment.checkout_id else None
    send_template(
        buyer,
        "refund",
        amount=format_money(refund.amount_cents, payment.currency),
        item=checkout.title if checkout is not None else f"payment TP-{payment.id:06d}",
        link=app_url("orders.workspace", order_id=payment.order_id) if payment.order_id else app_url("account.home"),
    )


def company_balance(company_id: int, name: str) -> int:
    """One of the seller's balances in cents: "escrow", "pending" or "available"."""
    return company_balances(company_id)[name]
