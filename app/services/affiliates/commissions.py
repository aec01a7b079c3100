"""Commissions as money: one balanced ledger transaction per step, each with a stable
reference, so a replayed webhook, sweep or refund posts nothing twice.

- created (`commission:payment:<payment id>`): part of the seller's share moves to the
  affiliate's payout company, `affiliate_pending`. A gig order's commission comes out of the
  order's escrow (`seller_escrow`, the order's transaction, so the escrow released on
  completion is the seller's share less the commission). A product or subscription payment is
  a destination charge: the seller was paid by Stripe directly, so the commission is taken from
  the seller's platform balance (`seller_available`, which may go negative and nets against the
  seller's next earnings, exactly like a refund after payout).
- cleared (`commission:<id>:clear`): `affiliate_pending` → `affiliate_available`, together with
  the order's clearance (escrow.clear_pending_funds) or, for a product or subscription payment,
  CLEARANCE_DAYS after the payment (`clears_at`).
- reversed (`commission:<id>:reverse:<total reversed>`): a refund of R out of the payment's P
  claws back `ceil(amount × R_total / P)` in total — rounded UP, in the seller's favour, and
  exactly the whole commission on a full refund — from `affiliate_pending`, or from
  `affiliate_available` once cleared or paid (the affiliate's balance may go negative and
  nets against future commissions). The money returns to wherever the seller's share of the
  order is now: escrow, pending, or available.
- paid: a payout of the affiliate's payout company (services/payouts.py) debits
  `affiliate_available`; the commissions it covers, oldest first, are marked paid.

Commission rounding: `payment × bps // 10000` (down to the cent, the seller's favour), or the
fixed amount, capped at the seller's share of that payment (services/affiliates/programs.py).
An affiliate playing the seller's Legends game in a class with a commission bonus the seller
funds earns `C + C × bonus_bps // 10000` on such a commission C, still capped at the seller's
share and taken from the seller like the rest; a refund claws it back with the same ceil rule.
"""

import math
import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select

from app.clock import iso_z, now
from app.extensions import db
from app.models import (
    AffiliateAccount,
    AffiliateProgram,
    Commission,
    Company,
    CompanyMember,
    LedgerTransaction,
    Order,
    Payment,
    Payout,
    Referral,
    User,
)
from app.money import format_money
from app.services.affiliates.attribution import convert_referral, referral_of_checkout
from app.services.affiliates.programs import class_bonus_bps, commission_cents, is_banned, payment_earns
from app.services.companies import ensure_platform_company
from app.services.ledger import Entry, account_balance, post_ledger_transaction
from app.services.notifications import notify_user
from app.services.outbound.outbox import record_event
from app.tenancy import without_tenant

AFFILIATE_LINK = "/affiliate"


# -- the affiliate's payout company ---------------------------------------------------------------


def affiliate_company_for(user: User, create: bool = True) -> Company | None:
    """The company that owns `user`'s affiliate earnings in the ledger, created on first need
    (`create`): a company the user owns, titled "<name> (affiliate earnings)", onboarded with
    the same Stripe Connect Express flow as sellers to withdraw through the existing payouts.
    None when it does not exist and `create` is False. Flushed."""
    account = db.session.scalar(select(AffiliateAccount).where(AffiliateAccount.user_id == user.id))
    if account is not None:
        return account.company
    if not create:
        return None
    company = Company(
        kind="seller",
        parent_id=ensure_platform_company().id,
        title=f"{user.display_name} (affiliate earnings)"[:120],
        slug=f"affiliate-{secrets.token_hex(6)}",
        email=user.email,
    )
    db.session.add(company)
    db.session.flush()
    db.session.add(CompanyMember(company_id=company.id, user_id=user.id, role="owner"))
    db.session.add(AffiliateAccount(user_id=user.id, company_id=company.id))
    db.session.flush()
    db.session.refresh(company)
    return company


def is_affiliate_company(company_id: int) -> bool:
    """True when the company is a user's affiliate payout company."""
    return db.session.scalar(select(AffiliateAccount.id).where(AffiliateAccount.company_id == company_id)) is not None


def payout_account(company_id: int) -> str:
    """The ledger account a payout of this company draws on."""
    return "affiliate_available" if is_affiliate_company(company_id) else "seller_available"


def affiliate_balances(user: User) -> dict[str, int]:
    """The affiliate's money in cents: `pending` and `available` (ledger balances of their
    payout company; available may be negative after a clawback), `paid` (net commissions paid
    out) and `reversed` (clawed back in total)."""
    company = affiliate_company_for(user, create=False)
    balances = {"pending": 0, "available": 0, "paid": 0, "reversed": 0}
    if company is None:
        return balances
    balances["pending"] = account_balance("affiliate_pending", company.id)
    balances["available"] = account_balance("affiliate_available", company.id)
    paid, reversed_total = db.session.execute(
        select(
            func.coalesce(
                func.sum(Commission.amount_cents - Commission.reversed_cents).filter(Commission.status == "paid"), 0
            ),
            func.coalesce(func.sum(Commission.reversed_cents), 0),
        )
        .where(Commission.affiliate_user_id == user.id)
        .execution_options(skip_tenant_scope=True)
    ).one()
    balances["paid"], balances["reversed"] = int(paid), int(reversed_total)
    return balances


# -- created ----------------------------------------------------------------------------------------


def _event_data(commission: Commission, **extra: Any) -> dict[str, Any]:
    return {
        "commission_id": commission.id,
        "referral_id": commission.referral_id,
        "program_id": commission.program_id,
        "affiliate_user_id": commission.affiliate_user_id,
        "payment_id": commission.payment_id,
        "base_amount_cents": commission.base_amount_cents,
        "amount_cents": commission.amount_cents,
        "currency": commission.currency,
        "status": commission.status,
        "clears_at": iso_z(commission.clears_at) if commission.status == "pending" else None,
        **extra,
    }


def _notify_seller(company_id: int, kind: str, title: str) -> None:
    company = db.session.get_one(Company, company_id)
    for manager in company.managers():
        notify_user(manager, kind, title, link="/sell/affiliates")


def _payment_number(payment: Payment) -> int:
    """1 for the checkout's first payment, 2 for its first renewal, ..."""
    return int(
        db.session.scalar(
            select(func.count(Payment.id))
            .where(Payment.checkout_id == payment.checkout_id, Payment.id <= payment.id)
            .execution_options(skip_tenant_scope=True)
        )
        or 1
    )


def _announce_conversion(referral: Referral, payment: Payment) -> None:
    record_event(
        referral.company_id,
        "referral.converted",
        {
            "referral_id": referral.id,
            "program_id": referral.program_id,
            "affiliate_user_id": referral.affiliate_user_id,
            "buyer_id": referral.buyer_id,
            "listing_type": referral.listing_type,
            "listing_id": referral.listing_id,
            "payment_id": payment.id,
            "amount_cents": payment.amount_cents,
            "currency": payment.currency,
        },
    )
    affiliate = db.session.get_one(User, referral.affiliate_user_id)
    notify_user(affiliate, "referral.converted", "Someone you referred just bought", link=AFFILIATE_LINK)
    _notify_seller(referral.company_id, "referral.converted", "An affiliate referred a new customer")


def record_payment_commission(payment: Payment) -> Commission | None:
    """The commission of a webhook-confirmed payment (called where the payment is recorded:
    the gig order, the product sale, each paid subscription invoice), once per payment.

    The checkout's referral is converted on its first payment (`referral.converted`), then the
    earning (bound) affiliate gets a commission if the program is on, they are not banned, and
    the recurring rule lets this payment number earn. One balanced ledger transaction, the
    `commission.created` event to the seller, notifications to both. Returns the commission
    (the existing one on a replay) or None. The caller holds the checkout's row lock."""
    if payment.checkout_id is None:
        return None
    existing = db.session.scalar(
        select(Commission).where(Commission.payment_id == payment.id).execution_options(skip_tenant_scope=True)
    )
    if existing is not None:
        return existing
    referral = referral_of_checkout(payment.checkout_id)
    if referral is None:
        return None
    was_pending = referral.status == "pending"
    earning = convert_referral(referral, payment)
    if was_pending and referral.status == "completed":
        _announce_conversion(referral, payment)
    if earning is None or earning.program_id is None:
        return None
    program = db.session.get_one(AffiliateProgram, earning.program_id)
    number = _payment_number(payment)
    if not program.enabled or is_banned(program.id, earning.affiliate_user_id) or not payment_earns(program, number):
        return None
    bonus_bps = class_bonus_bps(payment.company_id, earning.affiliate_user_id)
    amount = commission_cents(program, payment.amount_cents, payment.amount_cents - payment.fee_cents, bonus_bps)
    if amount <= 0:
        return None
    affiliate = db.session.get_one(User, earning.affiliate_user_id)
    payee = affiliate_company_for(affiliate)
    assert payee is not None
    commission = Commission(
        company_id=payment.company_id,
        program_id=program.id,
        referral_id=earning.id,
        affiliate_user_id=affiliate.id,
        payee_company_id=payee.id,
        payment_id=payment.id,
        order_id=payment.order_id,
        membership_id=payment.membership_id,
        listing_type=referral.listing_type,
        listing_id=referral.listing_id,
        payment_number=number,
        base_amount_cents=payment.amount_cents,
        amount_cents=amount,
        currency=payment.currency,
        status="pending",
        clears_at=None if payment.order_id else now() + timedelta(days=current_app.config["CLEARANCE_DAYS"]),
    )
    db.session.add(commission)
    db.session.flush()
    source = "seller_escrow" if payment.order_id else "seller_available"
    post_ledger_transaction(
        f"commission:payment:{payment.id}",
        "commission",
        [Entry(source, amount, payment.company_id), Entry("affiliate_pending", -amount, payee.id)],
        currency=payment.currency,
        description=f"Affiliate commission on payment TP-{payment.id:06d}",
        order_id=payment.order_id,
        payment_id=payment.id,
    )
    record_event(payment.company_id, "commission.created", _event_data(commission))
    money = format_money(amount, payment.currency)
    notify_user(affiliate, "commission.created", f"You earned a {money} commission", link=AFFILIATE_LINK)
    _notify_seller(payment.company_id, "commission.created", f"An affiliate earned {money} on a referred sale")
    return commission


# -- cleared ----------------------------------------------------------------------------------------


def _clear(commission: Commission) -> None:
    net = commission.net_cents
    if net > 0:
        post_ledger_transaction(
            f"commission:{commission.id}:clear",
            "commission_clearance",
            [
                Entry("affiliate_pending", net, commission.payee_company_id),
                Entry("affiliate_available", -net, commission.payee_company_id),
            ],
            currency=commission.currency,
            description=f"Commission #{commission.id} cleared",
            order_id=commission.order_id,
            payment_id=commission.payment_id,
        )
    commission.status, commission.cleared_at = "available", now()
    db.session.flush()
    record_event(commission.company_id, "commission.cleared", _event_data(commission))
    affiliate = db.session.get_one(User, commission.affiliate_user_id)
    money = format_money(net, commission.currency)
    notify_user(affiliate, "commission.cleared", f"A {money} commission is ready to withdraw", link=AFFILIATE_LINK)


def _pending(*conditions: Any) -> Sequence[Commission]:
    return db.session.scalars(
        select(Commission)
        .where(Commission.status == "pending", *conditions)
        .order_by(Commission.id)
        .with_for_update()
        .execution_options(skip_tenant_scope=True, populate_existing=True)
    ).all()


def clear_order_commissions(order: Order) -> int:
    """The order's pending commissions become available (called when the order's own funds
    clear). Returns how many. Idempotent. Flushed."""
    found = _pending(Commission.order_id == order.id)
    for commission in found:
        _clear(commission)
    return len(found)


def clear_due_commissions() -> int:
    """Sweep: product and subscription commissions past `clears_at` become available.
    Returns how many. Idempotent. Flushed."""
    found = _pending(Commission.order_id.is_(None), Commission.clears_at <= now())
    for commission in found:
        _clear(commission)
    return len(found)


# -- reversed ---------------------------------------------------------------------------------------


def outstanding_for_order(order: Order) -> int:
    """Cents of the order's commissions taken from its escrow and not clawed back yet: what a
    refund before the escrow is released gets back into it (0 once released)."""
    if _released(order):
        return 0
    return int(
        db.session.scalar(
            select(func.coalesce(func.sum(Commission.amount_cents - Commission.reversed_cents), 0))
            .where(Commission.order_id == order.id)
            .execution_options(skip_tenant_scope=True)
        )
        or 0
    )


def _seller_account_now(commission: Commission) -> str:
    """Where the seller's share of the commission's payment sits now."""
    if commission.order_id is None:
        return "seller_available"
    order = db.session.get_one(Order, commission.order_id)
    if order.cleared_at is not None:
        return "seller_available"
    return "seller_pending" if _released(order) else "seller_escrow"


def _released(order: Order) -> bool:
    """True once the order's escrow was released to the seller (escrow.release_escrow)."""
    reference = f"order:{order.id}:release"
    return db.session.scalar(select(LedgerTransaction.id).where(LedgerTransaction.reference == reference)) is not None


def reverse_payment_commission(payment: Payment, refunded_total_cents: int, reason: str) -> Commission | None:
    """Claw back the payment's commission in proportion to `refunded_total_cents` (the
    payment's refunded total after this refund; `reason` one of refunded / dispute_lost /
    cancelled). Posts only the difference to what was already reversed, under a reference
    naming the new reversed total, so replays post nothing. Call BEFORE the refund's own
    ledger transaction: the money returns to the seller's account first. Flushed."""
    commission = db.session.scalar(
        select(Commission)
        .where(Commission.payment_id == payment.id)
        .with_for_update()
        .execution_options(skip_tenant_scope=True, populate_existing=True)
    )
    if commission is None or payment.amount_cents <= 0:
        return None
    refunded = max(0, min(refunded_total_cents, payment.amount_cents))
    target = math.ceil(commission.amount_cents * refunded / payment.amount_cents)
    delta = target - commission.reversed_cents
    if delta <= 0:
        return commission
    affiliate_account = "affiliate_pending" if commission.status == "pending" else "affiliate_available"
    post_ledger_transaction(
        f"commission:{commission.id}:reverse:{target}",
        "commission_reversal",
        [
            Entry(affiliate_account, delta, commission.payee_company_id),
            Entry(_seller_account_now(commission), -delta, commission.company_id),
        ],
        currency=commission.currency,
        description=f"Commission #{commission.id} clawed back ({reason})",
        order_id=commission.order_id,
        payment_id=commission.payment_id,
    )
    commission.reversed_cents = target
    if target >= commission.amount_cents:
        commission.status, commission.reversed_at = "reversed", now()
    commission.reversal_reason = reason
    db.session.flush()
    data = _event_data(commission, reason=reason)
    record_event(commission.company_id, "commission.reversed", {**data, "status": "reversed", "clears_at": None})
    affiliate = db.session.get_one(User, commission.affiliate_user_id)
    money = format_money(delta, commission.currency)
    notify_user(affiliate, "commission.reversed", f"A refund took back {money} of a commission", link=AFFILIATE_LINK)
    _notify_seller(commission.company_id, "commission.reversed", f"{money} of a commission came back to you")
    return commission


def reverse_for_charge(
    charge_id: str | None, payment_intent_id: str | None, refunded_total_cents: int, reason: str
) -> Commission | None:
    """A product or subscription payment's charge refunded (or lost to a chargeback) in Stripe:
    claw its commission back in proportion (gig orders claw back through their refund path,
    services/escrow.py). The payment is found by its charge or its payment intent (invoice
    payments know only the latter). None when it is no such payment or earned no commission."""
    keys = [
        column == value
        for column, value in (
            (Payment.stripe_charge_id, charge_id),
            (Payment.stripe_payment_intent_id, payment_intent_id),
        )
        if value
    ]
    if not keys or refunded_total_cents <= 0:
        return None
    payment = db.session.scalar(
        select(Payment).where(or_(*keys), Payment.order_id.is_(None)).limit(1).execution_options(skip_tenant_scope=True)
    )
    if payment is None:
        return None
    return reverse_payment_commission(payment, refunded_total_cents, reason)


# -- paid ---------------------------------------------------------------------------------------------


def mark_commissions_paid(payout: Payout) -> list[Commission]:
    """After a payout of an affiliate payout company: its available commissions, oldest first,
    whose net amounts fit in the payout are marked paid (`commission.paid` each). Flushed."""
    if not is_affiliate_company(payout.company_id):
        return []
    left, paid = payout.amount_cents, []
    # The payout runs in the payout company's tenant scope; the commissions belong to sellers.
    with without_tenant():
        for commission in db.session.scalars(
            select(Commission)
            .where(Commission.payee_company_id == payout.company_id, Commission.status == "available")
            .order_by(Commission.cleared_at, Commission.id)
        ):
            if 0 < commission.net_cents <= left:
                left -= commission.net_cents
                commission.status, commission.paid_at, commission.payout_id = "paid", now(), payout.id
                paid.append(commission)
        db.session.flush()
        for commission in paid:
            record_event(commission.company_id, "commission.paid", _event_data(commission, payout_id=payout.id))
    return paid


def reversal_reason(order: Order, refund_action: str | None) -> str:
    """Why a refund of `order` claws back its commission: `cancelled` for a cancellation,
    `dispute_lost` for a dispute resolved for the buyer or a chargeback, else `refunded`."""
    if refund_action in ("cancel", "accept_cancel"):
        return "cancelled"
    if (refund_action or "").startswith("resolve_") or order.status == "disputed":
        return "dispute_lost"
    return "refunded"
